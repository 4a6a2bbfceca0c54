"""The proxy's published IdP metadata: signed (xmlsec1 and pysaml2 agree), static for a given
configuration and keys, and saying what the Swedish eID profile, Sambi and Fedkom expect."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
from importlib.resources import files
from pathlib import Path

import pytest
import saml2.data.schemas
from helpers.aggregate import build_aggregate
from helpers.certs import write_expired_certificate
from lxml import etree
from saml2.attribute_converter import ac_factory
from saml2.mdstore import MetaDataFile
from saml2.sigver import CryptoBackendXmlSec1, SecurityContext, get_xmlsec_binary
from saml2.xml.schema import _create_xml_schema_validator

from satosa_efos.cli import main
from satosa_efos.keys import ensure_keypair
from satosa_efos.metadata import published_metadata_response, working_directory

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
NS = {
    "md": MD,
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "mdui": "urn:oasis:names:tc:SAML:metadata:ui",
    "mdattr": "urn:oasis:names:tc:SAML:metadata:attribute",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
}
ENTITY_ID = "https://login.vgregion.se/metadata/idp.xml"
FRONTEND = "plugins/frontends/saml_idp.yaml"


def publish(conf: Path, out: Path, capsys=None) -> Path:
    assert main(["metadata", "publish", str(conf), str(out)]) == 0
    return out / "idp.xml"


def xmlsec1_verify(path: Path, cert: Path) -> int:
    return subprocess.run(
        ["xmlsec1", "--verify", "--enabled-key-data", "raw-x509-cert", "--pubkey-cert-pem",
         str(cert), "--id-attr:ID", f"{MD}:EntityDescriptor", str(path)],
        capture_output=True,
    ).returncode  # fmt: skip


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_two_generations_are_byte_identical_and_the_checksum_is_printed(prod_conf, capsys):
    first = publish(prod_conf, prod_conf.parent / "one").read_bytes()
    printed = capsys.readouterr().out
    second = publish(prod_conf, prod_conf.parent / "two").read_bytes()
    assert first == second
    digest = hashlib.sha256(first).hexdigest()
    assert " ".join(digest[i : i + 4] for i in range(0, 64, 4)) in printed
    assert b"IssueInstant" not in first and b"validUntil" not in first


def test_signature_verifies_with_xmlsec1_and_pysaml2(prod_conf):
    path = publish(prod_conf, prod_conf.parent / "out")
    cert = prod_conf / "keys" / "frontend.crt"
    assert xmlsec1_verify(path, cert) == 0
    assert xmlsec1_verify(path, prod_conf / "keys" / "backend.crt") != 0
    security = SecurityContext(CryptoBackendXmlSec1(get_xmlsec_binary()))
    source = MetaDataFile(ac_factory(), str(path), cert=str(cert), security=security)
    assert source.load() is True
    assert list(source.keys()) == [ENTITY_ID]
    tampered = path.parent / "tampered.xml"
    tampered.write_bytes(path.read_bytes().replace(b"/orgidp/sso/post", b"/evil/sso/post"))
    assert xmlsec1_verify(tampered, cert) != 0


def test_is_valid_saml_metadata(prod_conf):
    path = publish(prod_conf, prod_conf.parent / "out")
    schema = files(saml2.data.schemas).joinpath("saml-schema-metadata-2.0.xsd")
    _create_xml_schema_validator(str(schema)).validate(str(path))


def test_says_what_the_profiles_require(prod_conf):
    root = etree.parse(str(publish(prod_conf, prod_conf.parent / "out"))).getroot()
    assert root.get("entityID") == ENTITY_ID
    assert root.get("cacheDuration") == "PT6H"
    assert root.get("ID").startswith("_") and len(root.get("ID")) == 41

    def values(name: str) -> list[str]:
        return root.xpath(f"md:Extensions/mdattr:EntityAttributes/saml:Attribute[@Name='{name}']"
                          "/saml:AttributeValue/text()", namespaces=NS)  # fmt: skip

    assert values("http://macedir.org/entity-category") == [
        "http://id.swedenconnect.se/ec/1.0/loa3-hsaid",
        "http://id.elegnamnden.se/ec/1.0/loa3-pnr",
    ]
    assert values("urn:oasis:names:tc:SAML:attribute:assurance-certification") == [
        "http://id.sambi.se/loa/loa3"
    ]
    assert values("https://id.openfed.se/entityattributes/opt-in") == [
        "https://id.openfed.se/entityattributes/opt-in/yes"
    ]
    idp = root.find("md:IDPSSODescriptor", NS)
    ui = idp.find("md:Extensions/mdui:UIInfo", NS)
    lang = "{http://www.w3.org/XML/1998/namespace}lang"
    for tag in ("DisplayName", "Description", "InformationURL"):
        assert sorted(e.get(lang) for e in ui.findall(f"mdui:{tag}", NS)) == ["en", "sv"], tag
    assert ui.find("mdui:Logo", NS).get("width") == "200"
    assert [k.get("use") for k in idp.findall("md:KeyDescriptor", NS)] == ["signing", "encryption"]
    sso = {e.get("Binding").rpartition(":")[2]: e.get("Location")
           for e in idp.findall("md:SingleSignOnService", NS)}  # fmt: skip
    assert sso == {
        "HTTP-POST": "https://login.vgregion.se/orgidp/sso/post",
        "HTTP-Redirect": "https://login.vgregion.se/orgidp/sso/redirect",
    }
    assert [e.text for e in idp.findall("md:NameIDFormat", NS)] == [
        "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
        "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
    ]
    contacts = {c.get("contactType"): c.find("md:EmailAddress", NS).text
                for c in root.findall("md:ContactPerson", NS)}  # fmt: skip
    assert set(contacts) == {"technical", "support"}
    assert all(address.startswith("mailto:") for address in contacts.values())
    names = root.findall("md:Organization/md:OrganizationName", NS)
    assert [(n.get(lang), n.text) for n in names][0] == ("sv", "Västra Götalandsregionen")


def test_a_separate_metadata_signing_key_signs_the_document_only(prod_conf):
    ensure_keypair(prod_conf / "keys", "metadata-signing", "metadata signing")
    edit(prod_conf / FRONTEND, "    cache_duration: PT6H\n",
         "    cache_duration: PT6H\n    signing_key_file: keys/metadata-signing.key\n"
         "    signing_cert_file: keys/metadata-signing.crt\n")  # fmt: skip
    path = publish(prod_conf, prod_conf.parent / "out")
    assert xmlsec1_verify(path, prod_conf / "keys" / "metadata-signing.crt") == 0
    assert xmlsec1_verify(path, prod_conf / "keys" / "frontend.crt") != 0
    frontend_cert = "".join((prod_conf / "keys" / "frontend.crt").read_text().splitlines()[1:-1])
    signing = etree.parse(str(path)).find(".//md:KeyDescriptor[@use='signing']//ds:X509Certificate",
                                          NS)  # fmt: skip
    assert "".join(signing.text.split()) == frontend_cert


def test_a_changed_setting_gives_another_id_and_checksum(prod_conf):
    before = publish(prod_conf, prod_conf.parent / "one").read_bytes()
    edit(prod_conf / FRONTEND, "en: Västra Götaland login service\n",
         "en: Västra Götaland sign-in service\n")  # fmt: skip
    after = publish(prod_conf, prod_conf.parent / "two").read_bytes()
    id_of = lambda data: etree.fromstring(data).get("ID")  # noqa: E731
    assert before != after and id_of(before) != id_of(after)


def test_the_proxy_serves_the_same_bytes_as_the_file(prod_conf):
    """What the frontend's metadata endpoint answers (published_metadata_response)."""
    from satosa.plugin_loader import load_frontends
    from satosa.satosa_config import SATOSAConfig

    from satosa_efos.config.proxy import require_proxy_config

    published = publish(prod_conf, prod_conf.parent / "out").read_bytes()
    config = require_proxy_config(prod_conf)
    with working_directory(prod_conf):
        satosa_config = SATOSAConfig(config.data)
        frontends = load_frontends(satosa_config, None, satosa_config["INTERNAL_ATTRIBUTES"])
        (frontend,) = [f for f in frontends if f.name == "idp"]
        frontend.register_endpoints(["orgidp"])
        response = published_metadata_response(frontend)
    assert response.message == published
    headers = dict(response.headers)
    assert headers["Content-Type"] == "application/samlmetadata+xml"
    assert headers["ETag"] == f'"{hashlib.sha256(published).hexdigest()}"'


# -- check-config --------------------------------------------------------------------------


def check(conf: Path, capsys) -> tuple[int, list[str]]:
    status = main(["check-config", str(conf)])
    err = capsys.readouterr().err
    return status, [line for line in err.splitlines() if ": " in line and "problem(s)" not in line]


def line_of(path: Path, needle: str, after: str = "") -> int:
    """The line of the first ``needle`` below the first ``after``."""
    seen = not after
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        seen = seen or after in line
        if seen and needle in line and not line.lstrip().startswith("#"):
            return number
    raise AssertionError(needle)


@pytest.mark.parametrize(
    "old, new, needle, message",
    [
        ("        sv: Inloggningstjänsten för Västra Götaland\n", "", "en: Västra Götaland login",
         "needs a Swedish ('sv') display name"),
        ("    cache_duration: PT6H\n", "    cache_duration: six hours\n", "cache_duration",
         "not an xs:duration"),
        ("    cache_duration: PT6H\n", "    cache_duraton: PT6H\n", "cache_duraton",
         "unknown key 'cache_duraton'"),
        ("    cache_duration: PT6H\n", "    cache_duration: PT6H\n    valid_until: 2001-01-01\n",
         "valid_until", "has passed"),
        ("      - http://id.sambi.se/loa/loa3\n", "      - loa3\n", "- loa3",
         "'loa3' is not a URI"),
        ("    cache_duration: PT6H\n",
         "    cache_duration: PT6H\n    signing_key_file: keys/missing.key\n",
         "signing_key_file", "does not exist"),
    ],
)  # fmt: skip
def test_check_config_reports_a_broken_published_metadata_setting(
    prod_conf, capsys, old, new, needle, message
):
    path = prod_conf / FRONTEND
    edit(path, old, new)
    status, lines = check(prod_conf, capsys)
    assert status == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}:{line_of(path, needle, 'published_metadata:')}: ")
    assert message in lines[0]


def _federation(conf: Path, source: str) -> Path:
    path = conf / "plugins" / "backends" / "organisation_idps.yaml"
    edit(path, "  sp_config:\n", f"  federation:\n{source}  sp_config:\n")
    return path


@pytest.fixture
def aggregate(prod_conf):
    from satosa_efos.simulators import demo_idp

    fed = prod_conf.parent / "metadata" / "federation"
    key, _ = ensure_keypair(fed, "signer", "Federation")
    idp_key, idp_cert = ensure_keypair(fed, "idp", "idp")
    entity = demo_idp.write_metadata("https://idp.ale.se", idp_key, idp_cert, fed / "ale.xml")

    def build(**kwargs) -> Path:
        return build_aggregate([entity], key, fed / "aggregate.xml", **kwargs)

    return build


def test_check_config_reports_a_broken_federation_source_at_its_line(prod_conf, capsys, aggregate):
    import datetime as dt

    aggregate()
    path = _federation(prod_conf, "    - file: ../metadata/federation/aggregate.xml\n"
                                  "      signer_cert: ../metadata/federation/signer.crt\n"
                                  "      check_interval: -5\n")  # fmt: skip
    status, lines = check(prod_conf, capsys)
    assert status == 1 and len(lines) == 1
    assert lines[0].startswith(f"{path}:{line_of(path, 'check_interval')}: ")

    edit(path, "      check_interval: -5\n", "      signer_cert_fle: x\n")
    status, lines = check(prod_conf, capsys)
    assert status == 1 and lines[0].startswith(f"{path}:{line_of(path, 'signer_cert_fle')}: ")

    # Expired is not a configuration error: it must stop its own entities, not the proxy.
    edit(path, "      signer_cert_fle: x\n", "")
    aggregate(valid_for=dt.timedelta(hours=-1))
    assert check(prod_conf, capsys) == (0, [])


def test_without_a_published_metadata_section_the_document_is_still_signed(prod_conf):
    path = prod_conf / FRONTEND
    text = path.read_text()
    path.write_text(text[: text.index("  # The published IdP metadata")])
    published = publish(prod_conf, prod_conf.parent / "out")
    assert xmlsec1_verify(published, prod_conf / "keys" / "frontend.crt") == 0
    root = etree.parse(str(published)).getroot()
    assert root.find("md:Extensions/mdattr:EntityAttributes", NS) is None
    names = root.findall(".//mdui:UIInfo/mdui:DisplayName", NS)
    assert [n.text for n in names][0] == "Inloggningstjänsten för Västra Götaland"


# -- signing key rollover: the next certificate published ahead (docs/operations.md) ------------

NEXT_CERT = "keys/frontend-next.crt"


def with_next_signing_cert(conf: Path, cert: str = NEXT_CERT) -> Path:
    """The frontend's configuration with ``next_signing_cert_file`` (a new key pair if needed)."""
    ensure_keypair(conf / "keys", "frontend-next", "next frontend signing key")
    edit(conf / FRONTEND, "  registry_dir: .\n",
         f"  registry_dir: .\n  next_signing_cert_file: {cert}\n")  # fmt: skip
    return conf / NEXT_CERT


def pem_body(path: Path) -> str:
    return "".join(path.read_text().strip().splitlines()[1:-1])


def loaded_frontend(conf: Path):
    """The SAML frontend as the proxy builds it (endpoints registered, signing set up)."""
    from satosa.plugin_loader import load_frontends
    from satosa.satosa_config import SATOSAConfig

    from satosa_efos.config.proxy import require_proxy_config

    config = require_proxy_config(conf)
    with working_directory(conf):
        satosa_config = SATOSAConfig(config.data)
        frontends = load_frontends(satosa_config, None, satosa_config["INTERNAL_ATTRIBUTES"])
        (frontend,) = [f for f in frontends if f.name == "idp"]
        frontend.register_endpoints(["orgidp"])
    return frontend


def test_the_next_signing_certificate_is_published_beside_the_current_one(prod_conf, capsys):
    next_cert = with_next_signing_cert(prod_conf)
    current = prod_conf / "keys" / "frontend.crt"

    path = publish(prod_conf, prod_conf.parent / "out")

    idp = etree.parse(str(path)).getroot().find("md:IDPSSODescriptor", NS)
    uses = [k.get("use") for k in idp.findall("md:KeyDescriptor", NS)]
    assert uses == ["signing", "signing", "encryption"]
    signing = idp.findall("md:KeyDescriptor[@use='signing']//ds:X509Certificate", NS)
    assert ["".join(c.text.split()) for c in signing] == [pem_body(current), pem_body(next_cert)]
    # The document itself is signed with the current key only.
    assert xmlsec1_verify(path, current) == 0
    assert xmlsec1_verify(path, next_cert) != 0
    printed = capsys.readouterr().out
    assert "signing certificate, current (until" in printed
    assert "signing certificate, next (until" in printed
    # SATOSA's own metadata (no published_metadata section) carries both as well.
    frontend = loaded_frontend(prod_conf)
    assert frontend.idp.config.additional_cert_files == [NEXT_CERT]


def test_a_response_is_signed_with_the_current_key_and_verifies_with_both_published(
    prod_conf, tmp_path
):
    """During the overlap an application trusts the metadata with both certificates: the
    proxy's answers verify with it, and are signed by the current key (not the next one)."""
    import datetime as dt

    from helpers.saml_sp import SAMBI_GIVEN_NAME, sp_client
    from saml2 import BINDING_HTTP_POST

    from satosa_efos.saml.response import Authentication, NameId, Recipient, WireAttribute
    from satosa_efos.saml.subject import PERSISTENT

    next_cert = with_next_signing_cert(prod_conf)
    published = publish(prod_conf, prod_conf.parent / "out")
    frontend = loaded_frontend(prod_conf)
    sp, acs = "https://app.example.se/sp", "https://app.example.se/acs"
    now = dt.datetime.now(dt.UTC)
    with working_directory(prod_conf):  # as the proxy runs: keys/ relative to conf/
        document = frontend.builder.success(
            Recipient(sp, acs, "_req1"), NameId("abc", PERSISTENT),
            Authentication("http://id.sambi.se/loa/loa3", now, ("https://idp.boras.se",)),
            [WireAttribute(SAMBI_GIVEN_NAME, "givenName", ("Eva",))], None,
            now=now, lifetime=dt.timedelta(minutes=5), encrypt_to=None,
        )  # fmt: skip
    response = tmp_path / "response.xml"
    response.write_text(document)

    def verifies(cert: Path, node: str) -> bool:
        return subprocess.run(
            ["xmlsec1", "--verify", "--enabled-key-data", "raw-x509-cert", "--pubkey-cert-pem",
             str(cert), "--id-attr:ID", node, str(response)], capture_output=True,
        ).returncode == 0  # fmt: skip

    response_node = "urn:oasis:names:tc:SAML:2.0:protocol:Response"
    assert verifies(prod_conf / "keys" / "frontend.crt", response_node)
    assert not verifies(next_cert, response_node)
    sp_key, sp_cert = ensure_keypair(tmp_path, "sp", "Test SP")
    client = sp_client(sp, acs, sp_key, sp_cert, [published])
    parsed = client.parse_authn_request_response(
        base64.b64encode(document.encode()).decode(), BINDING_HTTP_POST, {"_req1": "/"}
    )
    assert parsed is not None and parsed.ava["givenName"] == ["Eva"]


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda conf: None, "next signing certificate file {conf}/keys/missing.crt does not exist"),
        (lambda conf: (conf / "keys" / "missing.crt").write_text("not a certificate\n"),
         "is not a PEM certificate"),
        (lambda conf: write_expired_certificate(conf / "keys" / "missing.crt"),
         "next signing certificate {conf}/keys/missing.crt expired on"),
        (lambda conf: shutil.copy(conf / "keys" / "frontend.crt", conf / "keys" / "missing.crt"),
         "is the current signing certificate"),
    ],
    ids=["missing", "not PEM", "expired", "the current one"],
)  # fmt: skip
def test_check_config_refuses_a_bad_next_signing_certificate(prod_conf, capsys, setup, message):
    path = prod_conf / FRONTEND
    with_next_signing_cert(prod_conf, "keys/missing.crt")
    setup(prod_conf)

    status, lines = check(prod_conf, capsys)

    assert status == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}:{line_of(path, 'next_signing_cert_file')}: ")
    assert message.format(conf=prod_conf) in lines[0]


def test_check_config_accepts_a_next_signing_certificate_not_yet_valid(prod_conf, capsys):
    """It signs nothing until the switch (when check-config requires it valid as cert_file)."""
    import datetime as dt

    from satosa_efos.keys import generate_self_signed

    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=7)
    _, pem = generate_self_signed("later", not_before=later)
    with_next_signing_cert(prod_conf, "keys/later.crt")
    (prod_conf / "keys" / "later.crt").write_bytes(pem)

    assert check(prod_conf, capsys) == (0, [])
