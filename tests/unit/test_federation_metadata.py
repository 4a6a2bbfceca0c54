"""A signed federation aggregate is used only when its signature, scope and validity hold."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib

import pytest
from helpers.aggregate import DS, MD, build_aggregate
from lxml import etree

from satosa_efos.keys import ensure_keypair
from satosa_efos.simulators import demo_idp
from satosa_efos.xmlsec.metadata import (
    MetadataRejected,
    verified_aggregate,
    verify_aggregate,
    verify_aggregate_file,
)


@pytest.fixture
def parts(tmp_path):
    signer_key, signer_cert = ensure_keypair(tmp_path, "federation-signer", "Test federation")
    entities = []
    for name in ("one", "two"):
        key, cert = ensure_keypair(tmp_path, name, name)
        entities.append(demo_idp.write_metadata(f"https://{name}.example.se", key, cert,
                                                tmp_path / f"{name}.xml"))  # fmt: skip
    return tmp_path, signer_key, signer_cert, entities


def test_accepts_aggregate_signed_by_the_pinned_certificate(parts):
    tmp, key, cert, entities = parts
    text = verified_aggregate(build_aggregate(entities, key, tmp / "agg.xml"), cert)
    assert "https://one.example.se/idp" in text and "https://two.example.se/idp" in text


def test_refuses_unsigned_aggregate(parts):
    tmp, key, cert, entities = parts
    with pytest.raises(MetadataRejected, match="is not signed"):
        verified_aggregate(build_aggregate(entities, key, tmp / "agg.xml", sign=False), cert)


def test_refuses_aggregate_signed_by_another_key(parts):
    tmp, _, cert, entities = parts
    other_key, _ = ensure_keypair(tmp, "intruder", "intruder")
    with pytest.raises(MetadataRejected, match="does not verify"):
        verified_aggregate(build_aggregate(entities, other_key, tmp / "agg.xml"), cert)


def test_refuses_aggregate_changed_after_signing(parts):
    tmp, key, cert, entities = parts
    path = build_aggregate(entities, key, tmp / "agg.xml")
    path.write_text(path.read_text().replace("https://two.example.se/idp/sso/redirect",
                                             "https://evil.example.org/sso"))  # fmt: skip
    with pytest.raises(MetadataRejected, match="does not verify"):
        verified_aggregate(path, cert)


def test_refuses_expired_aggregate(parts):
    tmp, key, cert, entities = parts
    path = build_aggregate(entities, key, tmp / "agg.xml", valid_for=dt.timedelta(hours=-1))
    with pytest.raises(MetadataRejected, match="expired"):
        verified_aggregate(path, cert)


def test_refuses_sha1_signature(parts):
    tmp, key, cert, entities = parts
    path = build_aggregate(entities, key, tmp / "agg.xml",
                           algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1",
                           digest="http://www.w3.org/2000/09/xmldsig#sha1")  # fmt: skip
    with pytest.raises(MetadataRejected, match="rsa-sha1"):
        verified_aggregate(path, cert)


def test_refuses_signature_that_covers_only_one_entity(parts):
    """Signature wrapping: a signed entity inside an unsigned aggregate proves nothing."""
    tmp, key, cert, entities = parts
    path = build_aggregate(entities, key, tmp / "agg.xml")
    text = path.read_text().replace('URI="#_aggregate"', 'URI="#_other"')
    path.write_text(text)
    with pytest.raises(MetadataRejected, match="does not cover"):
        verified_aggregate(path, cert)


def test_refuses_aggregate_with_a_dtd(parts):
    tmp, key, cert, entities = parts
    path = build_aggregate(entities, key, tmp / "agg.xml")
    text = path.read_text()
    path.write_text(text.replace("?>", '?>\n<!DOCTYPE x [<!ENTITY e "boom">]>', 1))
    with pytest.raises(MetadataRejected, match="DTD"):
        verified_aggregate(path, cert)


def test_ignores_a_key_the_signature_carries_itself(parts):
    """A signer's own <ds:KeyValue> would otherwise satisfy xmlsec1 whatever key is pinned."""
    tmp, _, cert, entities = parts
    intruder_key, _ = ensure_keypair(tmp, "intruder", "intruder")
    path = build_aggregate(entities, intruder_key, tmp / "agg.xml",
                           key_info="<ds:KeyInfo><ds:KeyValue/></ds:KeyInfo>")  # fmt: skip
    assert b"Modulus" in path.read_bytes()
    with pytest.raises(MetadataRejected, match="does not verify"):
        verified_aggregate(path, cert)


def test_accepts_a_signature_that_carries_the_pinned_certificate(parts):
    tmp, key, cert, entities = parts
    path = build_aggregate(entities, key, tmp / "agg.xml", cert=cert,
                           key_info="<ds:KeyInfo><ds:X509Data/></ds:KeyInfo>")  # fmt: skip
    assert b"X509Certificate" in path.read_bytes()
    assert verify_aggregate_file(path, cert).entity_ids == (
        "https://one.example.se/idp",
        "https://two.example.se/idp",
    )


def _inject_entity(path, entity_file, where: str = "end") -> None:
    root = etree.parse(str(path)).getroot()
    extra = etree.parse(str(entity_file)).getroot()
    if where == "end":
        root.append(extra)
    else:  # right after the signature, where a careless reader looks first
        root.insert(1, extra)
    path.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


@pytest.mark.parametrize("where", ["end", "after-signature"])
def test_refuses_an_entity_added_after_signing(parts, where):
    tmp, key, cert, entities = parts
    path = build_aggregate(entities, key, tmp / "agg.xml")
    intruder_key, intruder_cert = ensure_keypair(tmp, "intruder", "intruder")
    evil = demo_idp.write_metadata("https://evil.example.org", intruder_key, intruder_cert,
                                   tmp / "evil.xml")  # fmt: skip
    _inject_entity(path, evil, where)
    with pytest.raises(MetadataRejected, match="does not verify"):
        verified_aggregate(path, cert)


def test_refuses_a_signed_aggregate_wrapped_in_an_unsigned_one(parts):
    """Signature wrapping: the genuine signed aggregate becomes a child of an attacker's root."""
    tmp, key, cert, entities = parts
    path = build_aggregate(entities, key, tmp / "agg.xml")
    signed = etree.parse(str(path)).getroot()
    wrapper = etree.Element(f"{{{MD}}}EntitiesDescriptor", nsmap={"md": MD}, ID="_evil",
                            validUntil=signed.get("validUntil"))  # fmt: skip
    intruder_key, intruder_cert = ensure_keypair(tmp, "intruder", "intruder")
    evil = demo_idp.write_metadata("https://evil.example.org", intruder_key, intruder_cert,
                                   tmp / "evil.xml")  # fmt: skip
    wrapper.append(etree.parse(str(evil)).getroot())
    wrapper.append(signed)
    path.write_bytes(etree.tostring(wrapper, xml_declaration=True, encoding="UTF-8"))
    with pytest.raises(MetadataRejected, match="is not signed"):
        verified_aggregate(path, cert)


def test_refuses_a_copied_signature_over_a_nested_aggregate_with_the_same_id(parts):
    """Signature wrapping: the attacker's root borrows the signature and the signed ID, the
    genuine aggregate (same ID) hides inside; a verifier resolving the ID to the inner element
    would accept the outer, unsigned content."""
    tmp, key, cert, entities = parts
    path = build_aggregate(entities, key, tmp / "agg.xml")
    signed = etree.parse(str(path)).getroot()
    signature = copy.deepcopy(signed.find(f"{{{DS}}}Signature"))
    wrapper = etree.Element(f"{{{MD}}}EntitiesDescriptor", nsmap={"md": MD}, ID="_aggregate",
                            validUntil=signed.get("validUntil"))  # fmt: skip
    wrapper.append(signature)
    wrapper.append(signed)
    path.write_bytes(etree.tostring(wrapper, xml_declaration=True, encoding="UTF-8"))
    with pytest.raises(MetadataRejected, match="2 elements with the signed ID"):
        verified_aggregate(path, cert)


def test_refuses_a_sha1_digest_under_a_sha256_signature(parts):
    tmp, key, cert, entities = parts
    path = build_aggregate(entities, key, tmp / "agg.xml",
                           digest="http://www.w3.org/2000/09/xmldsig#sha1")  # fmt: skip
    with pytest.raises(MetadataRejected, match="digest"):
        verified_aggregate(path, cert)


def test_refuses_an_aggregate_larger_than_the_limit(parts):
    tmp, key, cert, entities = parts
    data = build_aggregate(entities, key, tmp / "agg.xml").read_bytes()
    with pytest.raises(MetadataRejected, match="larger than"):
        verify_aggregate(data, cert, max_bytes=len(data) - 1)


def test_reports_what_an_operator_reads_out(parts):
    tmp, key, cert, entities = parts
    path = build_aggregate(entities, key, tmp / "agg.xml", valid_for=dt.timedelta(days=2))
    aggregate = verify_aggregate_file(path, cert)
    assert len(aggregate.entity_ids) == 2
    assert aggregate.signer == "C=SE,O=satosa-efos development,CN=Test federation"
    assert aggregate.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert dt.timedelta(days=1) < aggregate.valid_until - dt.datetime.now(dt.UTC)


def test_an_entity_with_an_earlier_valid_until_expires_on_its_own(parts):
    tmp, key, cert, entities = parts
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = entities[1].read_text().replace('entityID="', f'validUntil="{soon}" entityID="', 1)
    entities[1].write_text(text)
    aggregate = verify_aggregate_file(build_aggregate(entities, key, tmp / "agg.xml"), cert)
    assert list(aggregate.entity_expiry) == ["https://two.example.se/idp"]
