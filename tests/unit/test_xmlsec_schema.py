"""The SAML schema check of signed messages, by libxml2: it takes and refuses what pysaml2's own
``xmlschema`` validator takes and refuses, and it is what pysaml2 calls once installed."""

from __future__ import annotations

import pytest
import saml2.sigver
from helpers import saml_peers
from saml2 import samlp
from saml2.sigver import SignatureError
from saml2.xml.schema import XMLSchemaError
from saml2.xml.schema import validate as pysaml2_validate

from satosa_efos.xmlsec import schema

P = "urn:oasis:names:tc:SAML:2.0:protocol"


@pytest.fixture(scope="module")
def messages(tmp_path_factory):
    files = saml_peers.make_files(tmp_path_factory.mktemp("peers"))
    sp = saml_peers.make_sp(files, [files.idp_metadata], "inprocess")
    idp = saml_peers.make_idp(files, [files.sp_metadata], "inprocess")
    _, request = saml_peers.request(sp, f"{files.idp_entity_id}/sso/post")
    response = saml_peers.answer(idp, request, encrypt=False)
    encrypted = saml_peers.answer(idp, request, encrypt=True)
    assertion = str(samlp.response_from_string(response).assertion[0])
    return {"request": request, "response": response, "encrypted": encrypted,
            "assertion": assertion}  # fmt: skip


def _verdict(validator, doc) -> str:
    try:
        validator(doc)
    except XMLSchemaError:
        return "refused"
    return "valid"


@pytest.mark.parametrize("name", ["request", "response", "encrypted", "assertion"])
def test_valid_messages_are_valid_for_both(messages, name):
    assert _verdict(pysaml2_validate, messages[name]) == "valid"
    assert _verdict(schema.validate, messages[name]) == "valid"


MUTATIONS = {
    "unknown attribute": ("response", 'Version="2.0"', 'Version="2.0" Unknown="1"'),
    "bad dateTime": ("response", 'IssueInstant="', 'IssueInstant="yesterday'),
    "missing Version": ("request", 'Version="2.0" ', ""),
    "unknown element in Subject": ("assertion", "<ns0:NameID", "<ns0:Junk/><ns0:NameID"),
    "Issuer after Signature": ("assertion", "<ns0:Issuer", "<ns0:Conditions/><ns0:Issuer"),
    "element of another namespace at the root": ("response", f'"{P}"', '"urn:x:not-saml"'),
    "two Status elements": (
        "response",
        "<ns0:Status>",
        f'<ns0:Status><ns0:StatusCode Value="{P}:status:Success"/></ns0:Status><ns0:Status>',
    ),  # fmt: skip
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_invalid_messages_are_refused_by_both(messages, mutation):
    name, old, new = MUTATIONS[mutation]
    assert old in messages[name], f"the test's anchor {old!r} is not in the {name}"
    bad = messages[name].replace(old, new, 1)
    assert _verdict(pysaml2_validate, bad) == "refused"
    assert _verdict(schema.validate, bad) == "refused"


@pytest.mark.parametrize("doc", ["not xml", "<a/>", "", b"<\xff/>"])
def test_what_is_not_saml_is_refused(doc):
    assert _verdict(schema.validate, doc) == "refused"


def test_a_doctype_is_refused(messages):
    """Stricter than pysaml2's validator, which would take an internal subset."""
    doc = '<!DOCTYPE x [<!ENTITY e "x">]>' + messages["request"]
    assert _verdict(schema.validate, doc) == "refused"


def test_installed_it_is_what_pysaml2_calls(monkeypatch, messages):
    monkeypatch.setattr(saml2.sigver, "validate_doc_with_schema", pysaml2_validate)
    schema.install()
    assert saml2.sigver.validate_doc_with_schema is schema.validate


def test_a_schema_invalid_signed_response_is_refused_by_the_sp(tmp_path):
    """End to end through pysaml2: an IdP-signed Response that is not schema-valid."""
    files = saml_peers.make_files(tmp_path)
    sp = saml_peers.make_sp(files, [files.idp_metadata], "inprocess")
    idp = saml_peers.make_idp(files, [files.sp_metadata], "inprocess")
    assert saml2.sigver.validate_doc_with_schema is schema.validate
    request_id, request = saml_peers.request(sp, f"{files.idp_entity_id}/sso/post")
    response = saml_peers.answer(idp, request, encrypt=False, sign_response=True)
    assert saml_peers.consume(sp, response, request_id).ava
    bad = response.replace('Version="2.0"', 'Version="2.0" Unknown="1"', 1)
    with pytest.raises(SignatureError, match="Invalid document format"):
        saml_peers.consume(sp, bad, request_id)
