"""An SP and an IdP as pysaml2 objects in this process (no HTTP): for the crypto backend tests
and the SAML benchmark, which drive them directly.

Each peer is configured like the demo peers (SHA-256 everywhere, the SP offers an encryption
key) and gets the crypto backend it is asked for; ``"stock"`` leaves pysaml2's own.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from saml2 import BINDING_HTTP_POST
from saml2.client import Saml2Client
from saml2.config import IdPConfig, SPConfig
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server

from satosa_efos.keys import ensure_keypair
from satosa_efos.simulators import demo_idp, demo_sp
from satosa_efos.xmlsec.backend import CryptoSettings, install

STOCK = "stock"
IDENTITY = {
    "givenName": ["Eva"],
    "sn": ["Sjöberg"],
    "mail": ["eva.sjoberg@goteborg.se"],
}


@dataclass(frozen=True)
class PeerFiles:
    directory: Path
    sp_url: str
    idp_url: str
    sp_key: Path
    sp_cert: Path
    idp_key: Path
    idp_cert: Path
    sp_metadata: Path
    idp_metadata: Path

    @property
    def sp_entity_id(self) -> str:
        return f"{self.sp_url}/sp"

    @property
    def idp_entity_id(self) -> str:
        return f"{self.idp_url}/idp"


def make_files(
    directory: Path,
    sp_url: str = "http://sp.example",
    idp_url: str = "http://idp.example",
) -> PeerFiles:
    """Keys and metadata of one SP and one IdP (metadata written for the given base URLs)."""
    directory = Path(directory)
    keys = directory / "keys"
    sp_key, sp_cert = ensure_keypair(keys, "sp", "test SP")
    idp_key, idp_cert = ensure_keypair(keys, "idp", "test IdP")
    sp_metadata = demo_sp.write_metadata(sp_url, sp_key, sp_cert, directory / "md" / "sp.xml")
    idp_metadata = demo_idp.write_metadata(idp_url, idp_key, idp_cert, directory / "md" / "idp.xml")
    return PeerFiles(
        directory, sp_url, idp_url, sp_key, sp_cert, idp_key, idp_cert, sp_metadata, idp_metadata
    )


def _with_backend(entity, backend: str):
    if backend != STOCK:
        install(entity, CryptoSettings(backend))
    return entity


def make_sp(files: PeerFiles, idp_metadata: list[Path], backend: str) -> Saml2Client:
    config = demo_sp.sp_config(files.sp_url, files.sp_key, files.sp_cert, idp_metadata)
    return _with_backend(Saml2Client(config=SPConfig().load(config)), backend)


def make_idp(
    files: PeerFiles,
    sp_metadata: list[Path],
    backend: str,
    key: Path | None = None,
    cert: Path | None = None,
) -> Server:
    """The IdP; ``key``/``cert`` sign instead of its own (an attacker claiming its entityID)."""
    config = demo_idp.idp_config(
        files.idp_url, key or files.idp_key, cert or files.idp_cert, sp_metadata
    )
    return _with_backend(Server(config=IdPConfig().load(config)), backend)


def encode(xml: str | bytes) -> str:
    return base64.b64encode(xml.encode() if isinstance(xml, str) else xml).decode()


def answer(
    idp: Server,
    request_xml: str,
    *,
    sign_response: bool = True,
    sign_assertion: bool = True,
    encrypt: bool = True,
    identity: dict | None = None,
    **kwargs,
) -> str:
    """The IdP's Response to a (signed, HTTP-POST) AuthnRequest, as XML text."""
    parsed = idp.parse_authn_request(encode(request_xml), BINDING_HTTP_POST)
    args = idp.response_args(parsed.message)
    name_id = NameID(format=NAMEID_FORMAT_PERSISTENT, text="eva-persistent-id")
    response = idp.create_authn_response(
        identity or IDENTITY,
        name_id=name_id,
        authn={"class_ref": demo_idp.DEFAULT_LOA},
        sign_response=sign_response,
        sign_assertion=sign_assertion,
        encrypt_assertion=encrypt,
        **{**args, **kwargs},
    )
    return str(response)


def request(sp: Saml2Client, destination: str) -> tuple[str, str]:
    """A signed AuthnRequest for HTTP-POST: (request id, XML text)."""
    request_id, xml = sp.create_authn_request(destination, binding=BINDING_HTTP_POST, sign=True)
    return request_id, str(xml)


def consume(sp: Saml2Client, response_xml: str, request_id: str):
    """What the SP makes of a Response (pysaml2's AuthnResponse), or its exception."""
    return sp.parse_authn_request_response(
        encode(response_xml), BINDING_HTTP_POST, outstanding={request_id: "/"}
    )
