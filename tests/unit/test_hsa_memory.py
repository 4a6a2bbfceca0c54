"""Tests for satosa_efos.hsa.memory against the demo directory (simulators/hsa_directory.ldif)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from satosa_efos.hsa import (
    DEMO_LDIF,
    HsaDataError,
    InMemoryDirectory,
    Person,
    commission_attributes,
    person_attributes,
)
from satosa_efos.identity import IdentifierError, hsa_id_organisation_number

DEMO_USERS = Path(DEMO_LDIF).parent / "demo_users.yaml"

ANNA = "SE2321000131-E000000001001"
BERTIL = "SE2321000131-E000000001002"
HELENA = "SE2321000131-E000000001003"
KARIN = "SE2321000131-E000000001004"
TESTA = "SE2321000131-E000000009001"
EVA = "SE2120001355-E000000000101"
CECILIA = "SE2120001561-E000000000201"
DAVID = "SE2120001439-E000000000301"


@pytest.fixture(scope="module")
def directory() -> InMemoryDirectory:
    return InMemoryDirectory.from_ldif(DEMO_LDIF)


def found(directory: InMemoryDirectory, **key: str) -> Person:
    person = directory.find_person(**key)
    assert person is not None, key
    return person


# ------------------------------------------------------------------------- look-ups


@pytest.mark.parametrize(
    "key",
    [
        {"hsa_id": ANNA},
        {"hsa_id": "se2321000131-E000000001001"},
        {"personal_identity_number": "195006262546"},
        {"personal_identity_number": "19500626-2546"},
        {"personal_identity_number": " 195006262546 "},
        {"mail": "anna.lindqvist@vgregion.se"},
        {"mail": "Anna.Lindqvist@VGREGION.se"},
    ],
)
def test_find_anna_by_each_identifier(directory: InMemoryDirectory, key: dict[str, str]) -> None:
    assert found(directory, **key).hsa_id == ANNA


def test_samordningsnummer_lookup(directory: InMemoryDirectory) -> None:
    assert found(directory, personal_identity_number="19701063-2391").hsa_id == DAVID


def test_unknown_people_are_none(directory: InMemoryDirectory) -> None:
    assert directory.find_person(hsa_id="SE2321000131-E999") is None
    assert directory.find_person(mail="nobody@vgregion.se") is None
    assert directory.find_person(personal_identity_number="197309069289") is not None


def test_lookup_requires_exactly_one_identifier(directory: InMemoryDirectory) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        directory.find_person()
    with pytest.raises(ValueError, match="exactly one"):
        directory.find_person(hsa_id=ANNA, personal_identity_number="195006262546")
    with pytest.raises(IdentifierError):
        directory.find_person(personal_identity_number="500626-2546")  # 10 digits: ambiguous
    with pytest.raises(IdentifierError):
        directory.find_person(hsa_id="not-an-hsa-id")


def test_duplicate_identifiers_are_refused() -> None:
    anna = Person(ANNA, "195006262546", "Anna", "Lindqvist", mail="a@vgregion.se")
    twin = Person(BERTIL, None, "Bertil", "Ek", mail="A@VGREGION.se")
    with pytest.raises(HsaDataError, match="same mail"):
        InMemoryDirectory([anna, twin])


# --------------------------------------------------------------------- demo data cases


def test_demo_users_match_demo_idp_data(directory: InMemoryDirectory) -> None:
    users = yaml.safe_load(DEMO_USERS.read_text(encoding="utf-8"))["users"]
    with_pnr = [u for u in users if "personalIdentityNumber" in u["attributes"]]
    assert {u["username"] for u in with_pnr} == {"anna", "bertil", "cecilia", "david", "eva"}
    for user in with_pnr:
        attrs = user["attributes"]
        person = found(directory, personal_identity_number=attrs["personalIdentityNumber"][0])
        assert person.given_name == attrs["givenName"][0]
        assert person.surname == attrs["sn"][0]
        assert person.full_name == attrs["displayName"][0]
        assert person.mail == attrs["mail"][0]
        if "employeeHsaId" in attrs:
            assert person.hsa_id == attrs["employeeHsaId"][0]


def test_several_commissions_of_different_purposes(directory: InMemoryDirectory) -> None:
    attributes, commissions = person_attributes(found(directory, hsa_id=ANNA))
    assert [c.purpose for c in commissions] == [
        "Vård och behandling",
        "Administration",
        "Uppföljning",
    ]
    assert attributes["personalIdentityNumber"] == ["195006262546"]
    assert attributes["systemRole"] == ["SE2321000131-S000000000011;Verksamhetschef"]


def test_feigned_and_archived_commissions_are_dropped(directory: InMemoryDirectory) -> None:
    anna = found(directory, hsa_id=ANNA)
    raw = {c.hsa_id: c for c in anna.commissions}
    assert raw["SE2321000131-C000000000004"].archived
    assert raw["SE2321000131-C000000000005"].feigned
    _, commissions = person_attributes(anna)
    kept = {c.hsa_id for c in commissions}
    assert kept.isdisjoint({"SE2321000131-C000000000004", "SE2321000131-C000000000005"})
    assert len(kept) == 3


def test_purpose_filter(directory: InMemoryDirectory) -> None:
    anna = found(directory, hsa_id=ANNA)
    _, commissions = person_attributes(anna, purpose_filter=["Vård och behandling"])
    assert [c.hsa_id for c in commissions] == ["SE2321000131-C000000000001"]
    _, commissions = person_attributes(anna, purpose_filter=["Uppföljning", "Administration"])
    assert [c.purpose for c in commissions] == ["Administration", "Uppföljning"]


def test_one_commission(directory: InMemoryDirectory) -> None:
    _, commissions = person_attributes(found(directory, hsa_id=BERTIL))
    (only,) = commissions
    assert commission_attributes(only) == {
        "commissionHsaId": ["SE2321000131-C000000000006"],
        "commissionName": ["Sjuksköterska Medicinmottagningen Hisingen"],
        "commissionPurpose": ["Vård och behandling"],
        "commissionRight": ["Läsa;alla;SJF", "Skriva;alla;VE"],
        "healthCareUnitHsaId": ["SE2321000131-U000000000103"],
        "healthCareUnitName": ["Medicinmottagningen Hisingen"],
        "healthCareProviderHsaId": ["SE2321000131-F000000000001"],
        "healthCareProviderName": ["Västra Götalandsregionen"],
    }


def test_no_commissions(directory: InMemoryDirectory) -> None:
    attributes, commissions = person_attributes(found(directory, mail="helena.strand@vgregion.se"))
    assert commissions == []
    assert attributes["employeeHsaId"] == [HELENA]
    assert attributes["displayName"] == ["Helena Strand"]  # built from given name + surname
    assert "personalIdentityNumber" not in attributes


def test_protected_person_has_no_personnummer_or_mail(directory: InMemoryDirectory) -> None:
    karin = found(directory, mail="karin.dahl@vgregion.se")
    assert karin.protected and karin.mail  # the directory has it ...
    attributes, commissions = person_attributes(karin)
    assert "mail" not in attributes  # ... but it is never released
    assert "personalIdentityNumber" not in attributes
    assert "karin.dahl" not in repr(attributes)
    assert attributes["employeeHsaId"] == [KARIN]
    assert len(commissions) == 1


def test_feigned_person_is_not_found(directory: InMemoryDirectory) -> None:
    assert directory.find_person(hsa_id=TESTA) is None
    assert directory.find_person(mail="testa.testsson@vgregion.se") is None
    with_feigned = InMemoryDirectory.from_ldif(DEMO_LDIF, include_feigned=True)
    testa = found(with_feigned, hsa_id=TESTA)
    assert testa.feigned
    assert person_attributes(testa) == ({}, [])


def test_person_in_two_organisations(directory: InMemoryDirectory) -> None:
    eva = found(directory, personal_identity_number="19121212-1212")
    assert eva.hsa_id == EVA
    attributes, commissions = person_attributes(eva)
    assert attributes["allEmployeeHsaIds"] == [EVA]
    providers = {c.health_care_provider_name for c in commissions}
    assert providers == {"Västra Götalandsregionen", "Göteborgs Stad"}
    owners = {hsa_id_organisation_number(c.health_care_provider_hsa_id) for c in commissions}
    assert owners == {"2321000131", "2120001355"}
    assert {c.health_care_provider_org_no for c in commissions} == owners


def test_each_organisation_present(directory: InMemoryDirectory) -> None:
    owners = {hsa_id_organisation_number(p.hsa_id) for p in directory.people}
    assert owners == {"2321000131", "2120001355", "2120001561", "2120001439"}
    assert found(directory, hsa_id=CECILIA).commissions[0].health_care_provider_name == (
        "Borås Stad"
    )
    assert found(directory, hsa_id=DAVID).commissions[0].health_care_unit_name == (
        "Hemsjukvården Ale"
    )
