"""Tests for satosa_efos.hsa.model and hsa.attributes: validation, rights, release rules."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from satosa_efos.hsa import (
    COMMISSION_ATTRIBUTE_NAMES,
    PERSON_ATTRIBUTE_NAMES,
    Commission,
    Directory,
    DirectoryUnavailable,
    HsaDataError,
    InMemoryDirectory,
    Person,
    Right,
    SystemRole,
    commission_attributes,
    lookup_key,
    person_attributes,
)
from satosa_efos.identity import IdentifierError

VGR_UNIT = "SE2321000131-U000000000101"
VGR_PROVIDER = "SE2321000131-F000000000001"


def make_commission(**overrides: object) -> Commission:
    values: dict[str, object] = {
        "hsa_id": "SE2321000131-C000000000001",
        "name": "Läkare Vårdcentralen Kungsportsavenyen",
        "purpose": "Vård och behandling",
        "rights": (Right.parse("Läsa;alla;SJF"), Right.parse("Skriva;alla;VE")),
        "health_care_unit_hsa_id": VGR_UNIT,
        "health_care_unit_name": "Vårdcentralen Kungsportsavenyen",
        "health_care_provider_hsa_id": VGR_PROVIDER,
        "health_care_provider_name": "Västra Götalandsregionen",
        "health_care_provider_org_no": "232100-0131",
    }
    values.update(overrides)
    return Commission(**values)  # type: ignore[arg-type]


def make_person(**overrides: object) -> Person:
    values: dict[str, object] = {
        "hsa_id": "SE2321000131-E000000001001",
        "personal_identity_number": "19500626-2546",
        "given_name": "Anna",
        "surname": "Lindqvist",
        "mail": "anna.lindqvist@vgregion.se",
        "pa_title_codes": ("201010",),
        "system_roles": (SystemRole.parse("SE2321000131-S000000000011;Verksamhetschef"),),
        "commissions": (make_commission(),),
    }
    values.update(overrides)
    return Person(**values)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ Right


def test_right_parse_and_format_round_trip() -> None:
    right = Right.parse("Läsa;alla;SJF")
    assert right == Right("Läsa", "alla", "SJF")
    assert (right.activity, right.information_class, right.scope) == ("Läsa", "alla", "SJF")
    assert str(right) == "Läsa;alla;SJF"


def test_right_parse_strips_whitespace_around_fields() -> None:
    assert str(Right.parse(" Läsa ; alla ; SJF ")) == "Läsa;alla;SJF"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Läsa;alla", "has 2 field(s)"),
        ("Läsa;alla;SJF;extra", "has 4 field(s)"),
        ("Läsa", "has 1 field(s)"),
        ("Läsa;;SJF", "empty field"),
        (";alla;SJF", "empty field"),
        ("", "is empty"),
        ("  ", "is empty"),
    ],
)
def test_right_parse_errors_say_what_is_wrong(text: str, fragment: str) -> None:
    with pytest.raises(HsaDataError, match="commission right") as info:
        Right.parse(text)
    assert fragment in str(info.value)
    assert "Läsa;alla;SJF" in str(info.value)  # shows a valid example


def test_right_parse_rejects_non_string() -> None:
    with pytest.raises(HsaDataError, match="must be a string"):
        Right.parse(None)  # type: ignore[arg-type]


def test_right_fields_may_not_contain_separator() -> None:
    with pytest.raises(HsaDataError, match="must not contain ';'"):
        Right("Läsa;Skriva", "alla", "SJF")


def test_right_is_a_value_error_and_frozen() -> None:
    assert issubclass(HsaDataError, ValueError)
    right = Right.parse("Läsa;alla;SJF")
    with pytest.raises(dataclasses.FrozenInstanceError):
        right.scope = "VE"  # type: ignore[misc]


_field = st.text(
    alphabet=st.characters(blacklist_characters=";", blacklist_categories=("Cs", "Zs", "Cc")),
    min_size=1,
    max_size=12,
)


@given(_field, _field, _field)
def test_right_round_trips_any_fields(activity: str, information_class: str, scope: str) -> None:
    right = Right(activity, information_class, scope)
    assert Right.parse(str(right)) == right


def test_system_role_parse_and_errors() -> None:
    role = SystemRole.parse("SE2321000131-S000000000011;Verksamhetschef")
    assert (role.system_id, role.role) == ("SE2321000131-S000000000011", "Verksamhetschef")
    assert str(role) == "SE2321000131-S000000000011;Verksamhetschef"
    with pytest.raises(HsaDataError, match="expected 2"):
        SystemRole.parse("a;b;c")
    with pytest.raises(HsaDataError, match="empty field"):
        SystemRole.parse("a;")


# ------------------------------------------------------------------------- Commission


def test_commission_normalises_identifiers() -> None:
    commission = make_commission(
        hsa_id=" se2321000131-C000000000001 ", health_care_provider_org_no="232100-0131"
    )
    assert commission.hsa_id == "SE2321000131-C000000000001"
    assert commission.health_care_provider_org_no == "2321000131"
    assert commission.usable


@pytest.mark.parametrize(
    "field", ["hsa_id", "health_care_unit_hsa_id", "health_care_provider_hsa_id"]
)
def test_commission_rejects_bad_hsa_ids(field: str) -> None:
    with pytest.raises(IdentifierError) as info:
        make_commission(**{field: "SE2321000132-X1"})
    assert info.value.code == "hsa.orgnr"


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"name": "  "}, "commission name must not be empty"),
        ({"purpose": ""}, "commission purpose must not be empty"),
        ({"rights": ("Läsa;alla;SJF",)}, "rights must be a tuple of Right"),
        ({"feigned": "FALSE"}, "commission feigned must be a bool"),
        ({"health_care_unit_name": None}, "unit name must be a string"),
    ],
)
def test_commission_validation_errors(overrides: dict[str, object], match: str) -> None:
    with pytest.raises(HsaDataError, match=match):
        make_commission(**overrides)


def test_commission_usable_only_when_neither_feigned_nor_archived() -> None:
    assert not make_commission(feigned=True).usable
    assert not make_commission(archived=True).usable


# ----------------------------------------------------------------------------- Person


def test_person_normalises_and_defaults() -> None:
    person = make_person(hsa_id="se2321000131-E000000001001")
    assert person.hsa_id == "SE2321000131-E000000001001"
    assert person.personal_identity_number == "195006262546"
    assert person.full_name == "Anna Lindqvist"
    assert make_person(display_name="Dr Anna Lindqvist").full_name == "Dr Anna Lindqvist"
    assert not person.protected and not person.feigned


def test_person_rejects_bad_personnummer_and_mail() -> None:
    with pytest.raises(IdentifierError) as info:
        make_person(personal_identity_number="195006262547")
    assert info.value.code == "pnr.luhn"
    with pytest.raises(HsaDataError, match="not an e-mail address"):
        make_person(mail="anna.lindqvist")
    with pytest.raises(HsaDataError, match="twice"):
        make_person(commissions=(make_commission(), make_commission()))
    with pytest.raises(HsaDataError, match="must be a tuple of strings"):
        make_person(pa_title_codes="201010")


# ------------------------------------------------------------------ lookup and errors


def test_lookup_key_requires_exactly_one_identifier() -> None:
    with pytest.raises(ValueError, match="exactly one.*got none"):
        lookup_key()
    with pytest.raises(ValueError, match="got hsa_id, mail"):
        lookup_key(hsa_id="SE2321000131-E000000001001", mail="a@b.se")


def test_lookup_key_normalises() -> None:
    assert lookup_key(personal_identity_number="19500626-2546") == (
        "personal_identity_number",
        "195006262546",
    )
    assert lookup_key(hsa_id=" se2321000131-E1") == ("hsa_id", "SE2321000131-E1")
    assert lookup_key(mail=" Anna.Lindqvist@VGregion.se ") == (
        "mail",
        "anna.lindqvist@vgregion.se",
    )
    with pytest.raises(IdentifierError):
        lookup_key(personal_identity_number="5006262546")


def test_directory_unavailable_has_stable_code_and_is_not_value_error() -> None:
    error = DirectoryUnavailable("LDAP timeout after 5 s")
    assert error.code == "hsa_unavailable"
    assert error.detail == "LDAP timeout after 5 s"
    assert not isinstance(error, ValueError)


def test_in_memory_directory_satisfies_protocol() -> None:
    assert isinstance(InMemoryDirectory([]), Directory)


# ---------------------------------------------------------------------- attributes


def test_person_attributes_full() -> None:
    attributes, commissions = person_attributes(make_person())
    assert attributes == {
        "employeeHsaId": ["SE2321000131-E000000001001"],
        "allEmployeeHsaIds": ["SE2321000131-E000000001001"],
        "givenName": ["Anna"],
        "surname": ["Lindqvist"],
        "displayName": ["Anna Lindqvist"],
        "mail": ["anna.lindqvist@vgregion.se"],
        "personalIdentityNumber": ["195006262546"],
        "paTitleCode": ["201010"],
        "systemRole": ["SE2321000131-S000000000011;Verksamhetschef"],
    }
    assert set(attributes) <= set(PERSON_ATTRIBUTE_NAMES)
    assert commissions == [make_commission()]


def test_protected_person_never_releases_personnummer_or_mail() -> None:
    attributes, commissions = person_attributes(make_person(protected=True))
    assert "personalIdentityNumber" not in attributes
    assert "mail" not in attributes
    assert "195006262546" not in repr(attributes)
    assert attributes["employeeHsaId"] == ["SE2321000131-E000000001001"]
    assert len(commissions) == 1


def test_feigned_person_yields_nothing() -> None:
    assert person_attributes(make_person(feigned=True)) == ({}, [])


def test_person_without_optional_values_leaves_them_out() -> None:
    attributes, _ = person_attributes(
        make_person(personal_identity_number=None, mail=None, pa_title_codes=(), system_roles=())
    )
    assert set(attributes) == {
        "employeeHsaId",
        "allEmployeeHsaIds",
        "givenName",
        "surname",
        "displayName",
    }


def test_commission_filtering() -> None:
    care = make_commission()
    admin = make_commission(hsa_id="SE2321000131-C2", purpose="Administration")
    archived = make_commission(hsa_id="SE2321000131-C3", archived=True)
    feigned = make_commission(hsa_id="SE2321000131-C4", feigned=True)
    person = make_person(commissions=(care, admin, archived, feigned))
    assert person_attributes(person)[1] == [care, admin]
    assert person_attributes(person, purpose_filter=["vård och behandling"])[1] == [care]
    assert person_attributes(person, purpose_filter={"Administration"})[1] == [admin]
    assert person_attributes(person, purpose_filter=())[1] == []
    with pytest.raises(TypeError, match="not a single string"):
        person_attributes(person, purpose_filter="Administration")


def test_commission_attributes() -> None:
    attributes = commission_attributes(make_commission())
    assert attributes == {
        "commissionHsaId": ["SE2321000131-C000000000001"],
        "commissionName": ["Läkare Vårdcentralen Kungsportsavenyen"],
        "commissionPurpose": ["Vård och behandling"],
        "commissionRight": ["Läsa;alla;SJF", "Skriva;alla;VE"],
        "healthCareUnitHsaId": [VGR_UNIT],
        "healthCareUnitName": ["Vårdcentralen Kungsportsavenyen"],
        "healthCareProviderHsaId": [VGR_PROVIDER],
        "healthCareProviderName": ["Västra Götalandsregionen"],
    }
    assert tuple(attributes) == COMMISSION_ATTRIBUTE_NAMES
    assert "commissionRight" not in commission_attributes(make_commission(rights=()))
