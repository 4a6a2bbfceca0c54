"""A signed federation aggregate is used only when its signature, scope and validity hold."""

from __future__ import annotations

import datetime as dt

import pytest
from helpers.aggregate import build_aggregate

from satosa_efos.keys import ensure_keypair
from satosa_efos.simulators import demo_idp
from satosa_efos.xmlsec.metadata import MetadataRejected, verified_aggregate


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
