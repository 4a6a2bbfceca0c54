"""Internal attributes and LoA from the user's Efos certificate (DOMAIN.md §2, §4–6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from satosa_efos.efos.attributes import (
    EFOS_MOBILE_METHOD,
    IssuerMapping,
    certificate_attributes,
    loa_for_policy,
)
from satosa_efos.efos.errors import CertificateRefused

_KEY = ec.generate_private_key(ec.SECP256R1())
_FIELDS = {
    "serialNumber": NameOID.SERIAL_NUMBER,
    "givenName": NameOID.GIVEN_NAME,
    "surname": NameOID.SURNAME,
    "CN": NameOID.COMMON_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "organizationIdentifier": NameOID.ORGANIZATION_IDENTIFIER,
}
EVA = {
    "serialNumber": "191212121212",
    "givenName": "Eva",
    "surname": "Sjöberg",
    "CN": "Eva Sjöberg",
    "O": "Västra Götalandsregionen",
    "organizationIdentifier": "NTRSE-2321000131",
}


def certificate(**subject: str) -> x509.Certificate:
    """A certificate whose subject holds exactly ``subject``; only the subject matters here."""
    name = x509.Name([x509.NameAttribute(_FIELDS[k], v) for k, v in subject.items()])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Efos CA")]))
        .public_key(_KEY.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(_KEY, hashes.SHA256())
    )


def refusal(cert: x509.Certificate, mapping: IssuerMapping) -> CertificateRefused:
    with pytest.raises(CertificateRefused) as caught:
        certificate_attributes(cert, mapping)
    return caught.value


def test_maps_person_certificate_with_default_mapping() -> None:
    assert certificate_attributes(certificate(**EVA), IssuerMapping()) == {
        "personalIdentityNumber": ["191212121212"],
        "givenName": ["Eva"],
        "surname": ["Sjöberg"],
        "displayName": ["Eva Sjöberg"],
        "organizationName": ["Västra Götalandsregionen"],
        "organizationIdentifier": ["NTRSE-2321000131"],
        "authnMethod": [EFOS_MOBILE_METHOD],
    }


def test_maps_samordningsnummer() -> None:
    cert = certificate(**{**EVA, "serialNumber": "197010632391"})
    attributes = certificate_attributes(cert, IssuerMapping())
    assert attributes["personalIdentityNumber"] == ["197010632391"]


def test_normalises_personnummer_with_hyphen() -> None:
    cert = certificate(**{**EVA, "serialNumber": "19121212-1212"})
    attributes = certificate_attributes(cert, IssuerMapping())
    assert attributes["personalIdentityNumber"] == ["191212121212"]


@pytest.mark.parametrize("serial", ["191212121213", "1212121212", "SE2321000131-E000000000001", ""])
def test_refuses_invalid_personnummer_without_logging_it(serial: str) -> None:
    subject = {**EVA, "serialNumber": serial} if serial else {"CN": "Eva Sjöberg"}
    error = refusal(certificate(**subject), IssuerMapping())
    assert error.code == "efos.subject"
    assert not serial or serial not in error.detail


def test_maps_hsa_id_certificate() -> None:
    cert = certificate(serialNumber="se2321000131-E000000000001", CN="Eva Sjöberg")
    attributes = certificate_attributes(cert, IssuerMapping(serial_number_as="employeeHsaId"))
    assert attributes["employeeHsaId"] == ["SE2321000131-E000000000001"]
    assert "personalIdentityNumber" not in attributes


def test_refuses_personnummer_where_hsa_id_is_configured() -> None:
    error = refusal(certificate(**EVA), IssuerMapping(serial_number_as="employeeHsaId"))
    assert error.code == "efos.subject"
    assert "hsa.format" in error.detail


def test_mapping_can_rename_and_leave_out_fields() -> None:
    mapping = IssuerMapping(
        given_name="firstName",
        surname=None,
        organisation=None,
        organisation_identifier=None,
        display_name_from="givenName surname",
        authn_method="urn:example:method",
    )
    assert certificate_attributes(certificate(**EVA), mapping) == {
        "personalIdentityNumber": ["191212121212"],
        "firstName": ["Eva"],
        "displayName": ["Eva Sjöberg"],
        "authnMethod": ["urn:example:method"],
    }


def test_absent_subject_fields_are_left_out() -> None:
    cert = certificate(serialNumber="191212121212")
    assert certificate_attributes(cert, IssuerMapping()) == {
        "personalIdentityNumber": ["191212121212"],
        "authnMethod": [EFOS_MOBILE_METHOD],
    }


def test_mapping_refuses_unknown_keys_and_targets() -> None:
    with pytest.raises(ValidationError):
        IssuerMapping.model_validate({"givenname": "givenName"})
    with pytest.raises(ValidationError):
        IssuerMapping.model_validate({"serial_number_as": "mail"})


@pytest.mark.parametrize(
    "oid", ["1.2.752.146.200.3", "1.2.752.146.200.3.1.0.0", "1.2.752.146.200.3.2.1"]
)
def test_efos_arc_is_loa3_by_default(oid: str) -> None:
    assert loa_for_policy(oid) == "loa3"
    assert loa_for_policy(oid, {"1.2.752.146.200.3": "loa3"}) == "loa3"


def test_most_specific_policy_entry_wins() -> None:
    table = {"1.2.752.146.200.3": "loa3", "1.2.752.146.200.3.9": "loa2"}
    assert loa_for_policy("1.2.752.146.200.3.9.1", table) == "loa2"
    assert loa_for_policy("1.2.752.146.200.3.2", table) == "loa3"


@pytest.mark.parametrize("oid", ["1.2.752.146.200.30", "1.2.752.29.4.1"])
def test_refuses_policy_without_configured_loa(oid: str) -> None:
    with pytest.raises(CertificateRefused) as caught:
        loa_for_policy(oid)
    assert caught.value.code == "efos.policy"


def test_mapping_is_chosen_by_the_certificate_issuer() -> None:
    from satosa_efos.efos.attributes import mapping_for_issuer

    cert = certificate(serialNumber="SE2321000131-E000000000001")
    siths = IssuerMapping(serial_number_as="employeeHsaId")
    by_issuer = {cert.issuer.rfc4514_string(): siths}
    assert mapping_for_issuer(cert, by_issuer, IssuerMapping()) is siths
    assert mapping_for_issuer(cert, {"CN=Other CA": siths}, IssuerMapping()) == IssuerMapping()
    attributes = certificate_attributes(cert, mapping_for_issuer(cert, by_issuer, IssuerMapping()))
    assert attributes["employeeHsaId"] == ["SE2321000131-E000000000001"]
