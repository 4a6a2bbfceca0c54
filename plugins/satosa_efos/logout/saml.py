"""SAML 2.0 single logout messages: LogoutRequest and LogoutResponse (SAML core §3.7).

Built here with lxml, like the proxy's assertions (:mod:`satosa_efos.saml.response`), and signed
with the key of the proxy's side that sends them (the SAML frontend's towards applications, the
organisation IdP backend's towards the IdPs): HTTP-Redirect messages by a signature over the
query string (bindings §3.4.4.1, RSA-SHA256), HTTP-POST messages by an enveloped XML signature
made by the sender's pysaml2 crypto backend (the in-process one or xmlsec1). Received messages
are decoded with the AuthnRequest's limits (size, inflation, no DTD) and must be signed: a logout
that arrives through the browser is only believed when its sender's key from the sender's
metadata verifies it (SAML profiles §4.4.3.1, §4.4.3.3-4: "MUST be signed" for the front-channel
bindings), else nothing is logged out.

Pure Python apart from the crypto backend object it is given; no SATOSA import.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlencode, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from satosa_efos.saml.request import message_bytes
from satosa_efos.saml.response import (
    ENTITY,
    ResponseBuilder,
    instant,
    new_id,
    signature_template,
)
from satosa_efos.saml.signature import (
    BadSignature,
    redirect_signature,
    verify_post,
    verify_redirect,
)
from satosa_efos.saml.sp_metadata import MD
from satosa_efos.xmlsec import policy as xml

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
HTTP_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
HTTP_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
LOGOUT_REQUEST = "LogoutRequest"
LOGOUT_RESPONSE = "LogoutResponse"
#: SAML core §3.7.3: the user chose to log out.
REASON_USER = "urn:oasis:names:tc:SAML:2.0:logout:user"
STATUS = "urn:oasis:names:tc:SAML:2.0:status:"
SUCCESS = STATUS + "Success"
#: SAML core §3.2.2.2: logout could not be propagated to every session participant.
PARTIAL_LOGOUT = STATUS + "PartialLogout"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)

logger = logging.getLogger(__name__)


class BadLogoutMessage(ValueError):
    """A logout message that cannot be believed (undecodable, unsigned, wrongly signed)."""


# -- metadata ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SloEndpoint:
    binding: str
    location: str
    response_location: str | None = None

    @property
    def response_url(self) -> str:
        """Where a LogoutResponse goes (SAML metadata §2.2.2: ResponseLocation, else Location)."""
        return self.response_location or self.location


def slo_endpoints(metadata: bytes, entity_id: str, role: str = "SPSSODescriptor"):
    """The HTTP-Redirect and HTTP-POST SingleLogoutServices of ``entity_id`` in a metadata
    document, in the metadata's order; () when it has none (or is not readable)."""
    try:
        root = etree.fromstring(metadata, _PARSER)
    except etree.XMLSyntaxError:
        return ()
    entities = [root] if root.tag == f"{{{MD}}}EntityDescriptor" else []
    entities += root.findall(f".//{{{MD}}}EntityDescriptor")
    entity = next((e for e in entities if e.get("entityID") == entity_id), None)
    descriptor = entity.find(f"{{{MD}}}{role}") if entity is not None else None
    if descriptor is None:
        return ()
    return tuple(
        SloEndpoint(e.get("Binding", ""), e.get("Location", ""), e.get("ResponseLocation"))
        for e in descriptor.findall(f"{{{MD}}}SingleLogoutService")
        if e.get("Binding") in (HTTP_REDIRECT, HTTP_POST) and e.get("Location")
    )


def preferred(endpoints: Sequence[SloEndpoint]) -> SloEndpoint | None:
    """HTTP-Redirect first: a top-level or framed GET carries the application's own cookies,
    which a cross-site POST would not (SameSite); else HTTP-POST."""
    for binding in (HTTP_REDIRECT, HTTP_POST):
        for endpoint in endpoints:
            if endpoint.binding == binding:
                return endpoint
    return None


# -- outgoing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class QualifiedNameId:
    """A NameID as its issuer gave it (SAML core §2.2.3): a LogoutRequest names it again exactly
    so (§3.7.1), with the same Format and qualifiers."""

    value: str
    format: str | None = None
    name_qualifier: str | None = None
    sp_name_qualifier: str | None = None


@dataclass(frozen=True)
class Outgoing:
    """A signed message ready for the browser: a URL to redirect to, or a form to post."""

    binding: str
    url: str
    fields: dict[str, str]


def _el(parent, tag: str, text: str | None = None, ns: str = SAML, **attrs) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ns}}}{tag}", **attrs)
    if text is not None:
        element.text = text
    return element


class LogoutMessages:
    """Makes the proxy's signed LogoutRequests and LogoutResponses, with the issuer, key,
    certificate, algorithms and crypto backend of a
    :class:`~satosa_efos.saml.response.ResponseBuilder`: the SAML frontend's (the proxy as IdP,
    towards applications) or one with the organisation IdP backend's SP key and entityID
    (towards the IdPs). A query-string signature is RSA-SHA256 whatever the XML algorithm."""

    def __init__(self, builder: ResponseBuilder) -> None:
        self.security = builder.security
        self.issuer = builder.issuer
        self.key_file = builder.key_file
        self.certificate = builder.certificate
        self.signature_algorithm = builder.signature_algorithm
        self.digest_algorithm = builder.digest_algorithm

    @cached_property
    def _key(self) -> rsa.RSAPrivateKey:
        key = serialization.load_pem_private_key(Path(self.key_file).read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{self.key_file}: single logout is signed with an RSA key")
        return key

    def _root(self, tag: str, message_id: str, destination: str, now: dt.datetime, **attrs):
        root = etree.Element(
            f"{{{SAMLP}}}{tag}",
            nsmap={"samlp": SAMLP, "saml": SAML},
            ID=message_id,
            Version="2.0",
            IssueInstant=instant(now),
            Destination=destination,
            **attrs,
        )
        _el(root, "Issuer", self.issuer, Format=ENTITY)
        return root

    def logout_request(
        self,
        message_id: str,
        endpoint: SloEndpoint,
        name_id: QualifiedNameId,
        session_index: str | None,
        relay_state: str,
        now: dt.datetime,
        lifetime: dt.timedelta = dt.timedelta(minutes=5),
    ) -> Outgoing:
        """SAML core §3.7.1: the NameID exactly as the recipient issued or received it (towards
        an application: the proxy's NameQualifier and the application's SPNameQualifier), and
        the SessionIndex of that login."""
        root = self._root(
            LOGOUT_REQUEST,
            message_id,
            endpoint.location,
            now,
            NotOnOrAfter=instant(now + lifetime),
            Reason=REASON_USER,
        )
        attrs = {
            name: value
            for name, value in (
                ("NameQualifier", name_id.name_qualifier),
                ("SPNameQualifier", name_id.sp_name_qualifier),
                ("Format", name_id.format),
            )
            if value
        }
        _el(root, "NameID", name_id.value, **attrs)
        if session_index:
            _el(root, "SessionIndex", session_index, ns=SAMLP)
        return self._encode(root, "SAMLRequest", endpoint.binding, endpoint.location, relay_state)

    def logout_response(
        self,
        message_id: str,
        endpoint: SloEndpoint,
        in_response_to: str,
        relay_state: str | None,
        now: dt.datetime,
        partial: bool = False,
    ) -> Outgoing:
        """SAML core §3.7.2: Success, with PartialLogout as second level when an application of
        the session did not confirm its logout (§3.2.2.2)."""
        url = endpoint.response_url
        root = self._root(LOGOUT_RESPONSE, message_id, url, now, InResponseTo=in_response_to)
        code = _el(_el(root, "Status", ns=SAMLP), "StatusCode", ns=SAMLP, Value=SUCCESS)
        if partial:
            _el(code, "StatusCode", ns=SAMLP, Value=PARTIAL_LOGOUT)
        return self._encode(root, "SAMLResponse", endpoint.binding, url, relay_state)

    def answer(
        self,
        endpoints: Sequence[SloEndpoint],
        request_id: str,
        relay_state: str | None,
        now: dt.datetime,
        partial: bool = False,
    ) -> Outgoing | None:
        """The signed LogoutResponse to the party whose LogoutRequest started a logout, at its
        preferred SingleLogoutService; None when its metadata has none."""
        endpoint = preferred(endpoints)
        if endpoint is None:
            return None
        return self.logout_response(
            new_id(), endpoint, request_id, relay_state, now, partial=partial
        )

    def _encode(self, root, field: str, binding: str, url: str, relay_state: str | None):
        if binding == HTTP_REDIRECT:
            deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
            data = deflater.compress(etree.tostring(root)) + deflater.flush()
            params = [(field, base64.b64encode(data).decode())]
            if relay_state:
                params.append(("RelayState", relay_state))
            params.append(("SigAlg", xml.RSA_SHA256))
            octets = urlencode(params, quote_via=quote_plus)
            signature = self._key.sign(octets.encode(), padding.PKCS1v15(), hashes.SHA256())
            query = f"{octets}&Signature={quote_plus(base64.b64encode(signature).decode())}"
            separator = "&" if urlsplit(url).query else "?"
            return Outgoing(binding, f"{url}{separator}{query}", {})
        # HTTP-POST: an enveloped signature right after the Issuer (SAML core §5.4.1).
        root.insert(
            1,
            signature_template(
                root.get("ID"), self.certificate, self.signature_algorithm, self.digest_algorithm
            ),
        )
        document = etree.tostring(root, encoding="unicode")
        node = f"{SAMLP}:{etree.QName(root).localname}"
        try:
            signed = self.security.crypto.sign_statement(
                document, node, self.key_file, root.get("ID")
            )
        except Exception as exc:  # every backend has its own error types for one fact
            raise BadLogoutMessage(f"cannot sign the {node}: {exc}") from exc
        signed = signed.decode() if isinstance(signed, bytes) else signed
        fields = {field: base64.b64encode(signed.encode()).decode()}
        if relay_state:
            fields["RelayState"] = relay_state
        return Outgoing(binding, url, fields)


# -- incoming ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """A decoded logout message and how it came (not yet verified)."""

    root: etree._Element
    xml: bytes
    binding: str
    field: str  # SAMLRequest or SAMLResponse
    relay_state: str | None
    values: dict[str, str]
    raw_query: str | None

    @property
    def kind(self) -> str:
        return etree.QName(self.root).localname

    @property
    def id(self) -> str:
        return self.root.get("ID", "")

    def text(self, tag: str, ns: str = SAML) -> str | None:
        element = self.root.find(f"{{{ns}}}{tag}")
        value = (element.text or "").strip() if element is not None else ""
        return value or None

    @property
    def issuer(self) -> str | None:
        return self.text("Issuer")

    @property
    def session_indexes(self) -> list[str]:
        """The SessionIndex values of a LogoutRequest (SAML core §3.7.1: none, one or more)."""
        found = self.root.findall(f"{{{SAMLP}}}SessionIndex")
        return [(e.text or "").strip() for e in found if (e.text or "").strip()]

    @property
    def status(self) -> tuple[str | None, str | None]:
        """(top-level, second-level) StatusCode of a LogoutResponse."""
        code = self.root.find(f"{{{SAMLP}}}Status/{{{SAMLP}}}StatusCode")
        if code is None:
            return None, None
        inner = code.find(f"{{{SAMLP}}}StatusCode")
        return code.get("Value"), inner.get("Value") if inner is not None else None


def decode(binding: str, values: dict[str, str], raw_query: str | None) -> Received:
    """The LogoutRequest or LogoutResponse of an HTTP-Redirect or HTTP-POST message."""
    field = "SAMLRequest" if "SAMLRequest" in values else "SAMLResponse"
    data = message_bytes(binding, values, field, BadLogoutMessage)
    try:
        root = xml.parse(data)
    except xml.SignatureRefused as exc:
        raise BadLogoutMessage(f"refused: {exc.detail}") from None
    expected = LOGOUT_REQUEST if field == "SAMLRequest" else LOGOUT_RESPONSE
    if root.tag != f"{{{SAMLP}}}{expected}" or not root.get("ID"):
        raise BadLogoutMessage(f"{root.tag} is not a {expected} with an ID")
    if root.get("Version") != "2.0":
        raise BadLogoutMessage(f"SAML version {root.get('Version')!r}")
    relay_state = values.get("RelayState") or None
    return Received(root, data, binding, field, relay_state, dict(values), raw_query)


def receive(binding: str, request: Any, request_uri: str | None) -> Received:
    """:func:`decode` of an HTTP request as SATOSA hands it over: its parameters, and its URI
    for the query string exactly as sent (the redirect signature is over it, bindings
    §3.4.4.1)."""
    items = request.items() if isinstance(request, dict) else ()
    values = {k: v for k, v in items if isinstance(v, str)}
    uri = request_uri or ""
    raw_query = uri.split("?", 1)[1].split("#", 1)[0] if "?" in uri else None
    return decode(binding, values, raw_query)


def verify(received: Received, certificates: Sequence[x509.Certificate], crypto) -> None:
    """BadLogoutMessage unless the message is signed and one metadata certificate verifies it
    (RSA or ECDSA with SHA-2; the message's own KeyInfo is never used)."""
    try:
        if received.binding == HTTP_REDIRECT:
            signed = redirect_signature(received.raw_query, received.values, received.field)
            if signed is None:
                raise BadSignature(f"the {received.kind} is not signed")
            verify_redirect(signed, certificates)
        else:
            if received.root.find(f"{{{xml.DS}}}Signature") is None:
                raise BadSignature(f"the {received.kind} is not signed")
            verify_post(received.xml, received.id, certificates, crypto, f"{SAMLP}:{received.kind}")
    except BadSignature as exc:
        raise BadLogoutMessage(str(exc)) from None


def check_destination(received: Received, endpoint_url: str) -> None:
    """Bindings §3.4.5.2 / §3.5.5.2: a signed message names where it was sent; it must be here."""
    destination = received.root.get("Destination")
    if destination != endpoint_url:
        raise BadLogoutMessage(f"Destination {destination!r} is not {endpoint_url!r}")


def check_time(received: Received, now: dt.datetime, max_age: int, skew: int) -> None:
    """IssueInstant neither in the future nor older than ``max_age``; NotOnOrAfter not past."""
    try:
        issued = _moment(received.root.get("IssueInstant"))
        until = received.root.get("NotOnOrAfter")
        expiry = _moment(until) if until else None
    except ValueError:
        raise BadLogoutMessage("IssueInstant or NotOnOrAfter is not a time") from None
    margin = dt.timedelta(seconds=skew)
    if issued > now + margin or issued < now - dt.timedelta(seconds=max_age) - margin:
        raise BadLogoutMessage("the message is too old or from the future")
    if expiry is not None and expiry <= now - margin:
        raise BadLogoutMessage("the LogoutRequest has expired (NotOnOrAfter)")


def _moment(value: str | None) -> dt.datetime:
    moment = dt.datetime.fromisoformat((value or "").replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
