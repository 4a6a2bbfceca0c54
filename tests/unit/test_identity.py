"""Tests for satosa_efos.identity: personnummer, organisation numbers, HSA-ids and redaction."""

from __future__ import annotations

import calendar
import datetime as dt
import pickle
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from satosa_efos.identity import (
    ERROR_CODES,
    IdentifierError,
    Personnummer,
    format_organisation_number,
    hsa_id_organisation_number,
    hsa_id_prefix,
    is_hsa_id,
    is_organisation_number,
    is_personnummer,
    luhn_check_digit,
    luhn_valid,
    normalise_hsa_id,
    normalise_organisation_number,
    normalise_personnummer,
    redact_personnummer,
)

DOMAIN_PERSONNUMMER = ["195006262546", "197309069289", "198906059483", "191212121212"]
DOMAIN_SAMORDNINGSNUMMER = "197010632391"
VGR = "2321000131"
GOTEBORGS_STAD = "2120001355"


def reference_check_digit(payload: str) -> int:
    """Textbook Luhn with weights 2,1,2,1,... from the right, independent of the code under test."""
    total = 0
    for index, char in enumerate(reversed(payload)):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def build_personnummer(date: dt.date, serial: int, day_offset: int = 0) -> str:
    payload = f"{date.year:04d}{date.month:02d}{date.day + day_offset:02d}{serial:03d}"
    return payload + str(reference_check_digit(payload[2:]))


dates = st.dates(min_value=dt.date(1800, 1, 1), max_value=dt.date(2099, 12, 31))
serials = st.integers(min_value=0, max_value=999)


@st.composite
def personnummer(draw: st.DrawFn) -> str:
    return build_personnummer(draw(dates), draw(serials))


@st.composite
def samordningsnummer(draw: st.DrawFn) -> str:
    return build_personnummer(draw(dates), draw(serials), day_offset=60)


@st.composite
def impossible_samordningsnummer(draw: st.DrawFn) -> str:
    """Day + 60 where the day does not exist in that month (e.g. 30 February, 31 April)."""
    year = draw(st.integers(min_value=1800, max_value=2099))
    month = draw(st.sampled_from([2, 4, 6, 9, 11]))
    day = draw(st.integers(min_value=calendar.monthrange(year, month)[1] + 1, max_value=31))
    payload = f"{year:04d}{month:02d}{day + 60:02d}{draw(serials):03d}"
    return payload + str(reference_check_digit(payload[2:]))


def raised(func, value) -> IdentifierError:
    with pytest.raises(IdentifierError) as info:
        func(value)
    return info.value


# --- Luhn --------------------------------------------------------------------------------------


@given(st.text(alphabet="0123456789", min_size=1, max_size=20))
def test_luhn_check_digit_matches_textbook_luhn(payload: str) -> None:
    assert luhn_check_digit(payload) == reference_check_digit(payload)


@given(st.text(alphabet="0123456789", min_size=1, max_size=20))
def test_payload_with_its_luhn_digit_is_luhn_valid(payload: str) -> None:
    assert luhn_valid(payload + str(luhn_check_digit(payload)))


def test_luhn_valid_rejects_empty_and_non_ascii_digits() -> None:
    assert not luhn_valid("")
    assert not luhn_valid("23210-00131")
    assert not luhn_valid("٢٣٢١٠٠٠١٣١")  # Arabic-Indic digits pass str.isdigit()


def test_luhn_check_digit_raises_value_error_for_non_digits() -> None:
    with pytest.raises(ValueError, match="ASCII digits"):
        luhn_check_digit("12a")


# --- Personnummer: properties ------------------------------------------------------------------


@given(personnummer())
def test_valid_personnummer_round_trips_unchanged(value: str) -> None:
    assert normalise_personnummer(value) == value


@given(personnummer())
def test_dashed_and_plain_forms_normalise_to_the_same_digits(value: str) -> None:
    dashed = f"{value[:8]}-{value[8:]}"
    assert normalise_personnummer(dashed) == normalise_personnummer(value)
    assert Personnummer(dashed) == Personnummer(value)
    assert Personnummer(value).formatted == dashed


@given(personnummer(), st.sampled_from(["", " ", "\t", "\n "]))
def test_surrounding_whitespace_is_stripped(value: str, space: str) -> None:
    assert normalise_personnummer(f"{space}{value}{space}") == value


@given(dates, serials)
def test_birth_date_is_the_encoded_date(date: dt.date, serial: int) -> None:
    parsed = Personnummer.parse(build_personnummer(date, serial))
    assert parsed.birth_date == date
    assert not parsed.is_samordningsnummer


@given(personnummer(), st.integers(min_value=2, max_value=11), st.integers(1, 9))
def test_rejects_any_single_digit_change_in_the_luhn_protected_digits(
    value: str, position: int, delta: int
) -> None:
    changed_digit = str((int(value[position]) + delta) % 10)
    changed = value[:position] + changed_digit + value[position + 1 :]
    error = raised(normalise_personnummer, changed)
    assert error.code in {"pnr.luhn", "pnr.date"}
    assert not is_personnummer(changed)


@given(dates, serials)
def test_accepts_samordningsnummer_with_day_plus_60(date: dt.date, serial: int) -> None:
    value = build_personnummer(date, serial, day_offset=60)
    parsed = Personnummer(value)
    assert parsed.value == value
    assert parsed.is_samordningsnummer
    assert parsed.birth_date == date


@given(impossible_samordningsnummer())
def test_rejects_samordningsnummer_whose_day_minus_60_is_not_a_real_date(value: str) -> None:
    error = raised(normalise_personnummer, value)
    assert error.code == "pnr.date"
    assert "samordningsnummer" in str(error)
    assert "not a real date" in str(error)


# --- Personnummer: examples --------------------------------------------------------------------


@pytest.mark.parametrize("value", DOMAIN_PERSONNUMMER)
def test_accepts_domain_test_personnummer(value: str) -> None:
    assert is_personnummer(value)
    assert not Personnummer(value).is_samordningsnummer


def test_accepts_domain_test_samordningsnummer_and_derives_real_birth_date() -> None:
    parsed = Personnummer(DOMAIN_SAMORDNINGSNUMMER)
    assert parsed.is_samordningsnummer
    assert parsed.birth_date == dt.date(1970, 10, 3)
    assert parsed.formatted == "19701063-2391"


def test_personnummer_str_is_the_twelve_digits() -> None:
    assert str(Personnummer("19500626-2546")) == "195006262546"


def test_personnummer_is_immutable() -> None:
    parsed = Personnummer("195006262546")
    with pytest.raises(AttributeError):
        parsed.value = "197309069289"  # type: ignore[misc]


def test_rejects_personnummer_with_wrong_check_digit() -> None:
    error = raised(normalise_personnummer, "195006262547")
    assert error.code == "pnr.luhn"
    assert str(error) == "personnummer 195006262547 fails the Luhn check (last digit should be 6)"


def test_constructing_personnummer_validates() -> None:
    with pytest.raises(IdentifierError) as info:
        Personnummer("19500626-2547")
    assert info.value.code == "pnr.luhn"


@pytest.mark.parametrize("value", ["5006262546", "500626-2546", "500626+2546"])
def test_rejects_ten_digit_personnummer_and_asks_for_twelve_digits(value: str) -> None:
    error = raised(normalise_personnummer, value)
    assert error.code == "pnr.format"
    assert "10 digits" in str(error)
    assert "12 digits" in str(error)


def test_rejects_twelve_digit_personnummer_with_plus_separator() -> None:
    error = raised(normalise_personnummer, "19500626+2546")
    assert error.code == "pnr.format"
    assert "'+'" in str(error)


@pytest.mark.parametrize(
    "value",
    ["", "abc", "1950062625", "19500626--2546", "1950-06-26-2546", "19500626 2546", "١٩٥٠٠٦٢٦٢٥٤٦"],
)
def test_rejects_malformed_personnummer_with_format_code(value: str) -> None:
    error = raised(normalise_personnummer, value)
    assert error.code == "pnr.format"
    assert "YYYYMMDD-NNNC" in str(error)


def test_rejects_non_string_personnummer_with_format_code() -> None:
    error = raised(normalise_personnummer, 195006262546)
    assert error.code == "pnr.format"
    assert "must be a string" in str(error)


def test_rejects_personnummer_with_month_13() -> None:
    error = raised(normalise_personnummer, "195013262546")
    assert error.code == "pnr.date"
    assert "month 13" in str(error)
    assert "01–12" in str(error)


@pytest.mark.parametrize("day", ["00", "32", "60", "92"])
def test_rejects_personnummer_with_day_outside_both_ranges(day: str) -> None:
    error = raised(normalise_personnummer, f"195006{day}2546")
    assert error.code == "pnr.date"
    assert f"day {day}" in str(error)
    assert "61–91" in str(error)


def test_rejects_personnummer_for_30_february() -> None:
    error = raised(normalise_personnummer, "195002302546")
    assert error.code == "pnr.date"
    assert "1950-02-30" in str(error)
    assert "February 1950 has 28 days" in str(error)


def test_accepts_29_february_only_in_leap_years() -> None:
    leap = build_personnummer(dt.date(2000, 2, 29), 123)
    assert Personnummer(leap).birth_date == dt.date(2000, 2, 29)
    payload = "19000229123"  # 1900 is not a leap year
    error = raised(normalise_personnummer, payload + str(reference_check_digit(payload[2:])))
    assert error.code == "pnr.date"
    assert "February 1900 has 28 days" in str(error)


def test_rejects_personnummer_with_year_zero() -> None:
    payload = "00000101123"
    error = raised(normalise_personnummer, payload + str(reference_check_digit(payload[2:])))
    assert error.code == "pnr.date"
    assert "year 0000" in str(error)


def test_identifier_error_is_a_value_error_and_survives_pickling() -> None:
    error = raised(normalise_personnummer, "195006262547")
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.code, str(copy)) == (error.code, str(error))


def test_error_message_truncates_huge_input() -> None:
    error = raised(normalise_personnummer, "x" * 10_000)
    assert len(str(error)) < 200


# --- Organisation numbers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (VGR, VGR),
        ("232100-0131", VGR),
        ("162321000131", VGR),
        ("16232100-0131", VGR),
        (" 232100-0131 ", VGR),
        (GOTEBORGS_STAD, GOTEBORGS_STAD),
        ("212000-1355", GOTEBORGS_STAD),
    ],
)
def test_normalises_organisation_number_forms_to_ten_digits(value: str, expected: str) -> None:
    assert normalise_organisation_number(value) == expected
    assert is_organisation_number(value)


def test_formats_organisation_number_with_dash() -> None:
    assert format_organisation_number(VGR) == "232100-0131"
    assert format_organisation_number("162120001355") == "212000-1355"


def test_rejects_organisation_number_with_wrong_check_digit() -> None:
    error = raised(normalise_organisation_number, "232100-0132")
    assert error.code == "orgnr.luhn"
    assert "2321000132 fails the Luhn check (last digit should be 1)" in str(error)


def test_rejects_sole_trader_personnummer_as_organisation_number() -> None:
    error = raised(normalise_organisation_number, "500626-2546")
    assert error.code == "orgnr.format"
    assert "sole trader" in str(error)
    assert "third digit" in str(error)


def test_rejects_twelve_digit_personnummer_as_organisation_number() -> None:
    error = raised(normalise_organisation_number, "195006262546")
    assert error.code == "orgnr.format"
    assert "start with 16" in str(error)


@pytest.mark.parametrize("value", ["", "232100", "232100-013", "2321000131x", "232100 0131"])
def test_rejects_malformed_organisation_number_with_format_code(value: str) -> None:
    error = raised(normalise_organisation_number, value)
    assert error.code == "orgnr.format"
    assert "NNNNNN-NNNN" in str(error)
    assert not is_organisation_number(value)


# --- HSA-ids -----------------------------------------------------------------------------------


def test_accepts_valid_hsa_id_unchanged() -> None:
    assert normalise_hsa_id("SE2321000131-E000000000001") == "SE2321000131-E000000000001"
    assert is_hsa_id("SE2321000131-E000000000001")


def test_normalises_lower_case_se_prefix_and_keeps_suffix_case() -> None:
    assert normalise_hsa_id(" se2321000131-abcDEF1 ") == "SE2321000131-abcDEF1"
    assert normalise_hsa_id("Se2321000131-x") == "SE2321000131-x"


def test_accepts_hsa_id_of_exactly_31_characters() -> None:
    value = "SE2321000131-" + "A" * 18
    assert len(value) == 31
    assert normalise_hsa_id(value) == value


def test_rejects_hsa_id_longer_than_31_characters() -> None:
    value = "SE2321000131-" + "A" * 19
    error = raised(normalise_hsa_id, value)
    assert error.code == "hsa.length"
    assert "32 characters" in str(error)
    assert "at most 31" in str(error)


def test_rejects_hsa_id_whose_organisation_number_fails_luhn() -> None:
    error = raised(normalise_hsa_id, "SE2321000132-E000000000001")
    assert error.code == "hsa.orgnr"
    assert "2321000132" in str(error)
    assert "last digit should be 1" in str(error)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("SE2321000131E000000000001", "must have '-'"),
        ("2321000131-E000000000001", "must start with 'SE'"),
        ("SE232100013-E1", "10-digit organisation number"),
        ("SE2321000131-", "nothing after the '-'"),
        ("SE2321000131-abc_1", "A–Z, a–z and digits"),
        ("SE2321000131-Åsa", "A–Z, a–z and digits"),
    ],
)
def test_rejects_malformed_hsa_id_and_says_which_part_is_wrong(value: str, problem: str) -> None:
    error = raised(normalise_hsa_id, value)
    assert error.code == "hsa.format"
    assert problem in str(error)
    assert "SE2321000131-E000000000001" in str(error)  # shows a valid example
    assert not is_hsa_id(value)


def test_hsa_id_prefix_is_se_plus_organisation_number() -> None:
    assert hsa_id_prefix("232100-0131") == "SE2321000131"
    assert "SE2321000131-E000000000001".startswith(hsa_id_prefix(VGR))


def test_hsa_id_prefix_rejects_invalid_organisation_number() -> None:
    assert raised(hsa_id_prefix, "232100-0132").code == "orgnr.luhn"


def test_hsa_id_organisation_number_extracts_directory_owner() -> None:
    assert hsa_id_organisation_number("se2321000131-E000000000001") == VGR


def test_every_error_code_is_declared() -> None:
    assert {
        "pnr.format",
        "pnr.date",
        "pnr.luhn",
        "orgnr.format",
        "orgnr.luhn",
        "hsa.format",
        "hsa.length",
        "hsa.orgnr",
    } == ERROR_CODES


# --- Redaction ---------------------------------------------------------------------------------


def test_redacts_personnummer_inside_json_and_leaves_hsa_id_alone() -> None:
    text = (
        '{"personalIdentityNumber": "195006262546", "hsaIdentity": "SE2321000131-abc1", '
        '"orgNo": "232100-0131", "requestId": 12345678901234}'
    )
    assert redact_personnummer(text) == (
        '{"personalIdentityNumber": "[pnr]", "hsaIdentity": "SE2321000131-abc1", '
        '"orgNo": "232100-0131", "requestId": 12345678901234}'
    )


@pytest.mark.parametrize(
    "value",
    [
        "195006262546",
        "19500626-2546",
        "19500626+2546",
        "500626-2546",
        "500626+2546",
        DOMAIN_SAMORDNINGSNUMMER,
        "701063-2391",
    ],
)
def test_redacts_every_personnummer_form(value: str) -> None:
    assert redact_personnummer(f"user={value}; ok") == "user=[pnr]; ok"


def test_does_not_partly_redact_a_fourteen_digit_run() -> None:
    for text in ["19500626254612", "12195006262546", "x19500626-25461"]:
        assert redact_personnummer(text) == text


def test_does_not_redact_hsa_id_with_personnummer_shaped_suffix() -> None:
    text = "SE2321000131-195006262546 logged in"
    assert redact_personnummer(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "232100-0131",  # organisation number: month digits >= 20
        "SE2321000131",
        "195006262547",  # wrong check digit
        "20240230-1234",  # no such date
        "2024-06-26T12:34:56Z",
        "20240626123456",
    ],
)
def test_leaves_non_personnummer_numbers_untouched(text: str) -> None:
    assert redact_personnummer(text) == text


@given(
    personnummer() | samordningsnummer(), st.booleans(), st.text(alphabet='abc :"{}=,', max_size=10)
)
def test_redaction_removes_every_generated_personnummer(value: str, dashed: bool, pad: str) -> None:
    shown = f"{value[:8]}-{value[8:]}" if dashed else value
    redacted = redact_personnummer(f"{pad}{shown}{pad} and {shown}")
    assert value not in redacted
    assert value[8:] not in redacted
    assert redacted == f"{pad}[pnr]{pad} and [pnr]"


@given(st.text(alphabet=st.characters(blacklist_categories=["Nd"]), max_size=200))
def test_redaction_leaves_text_without_digits_unchanged(text: str) -> None:
    assert redact_personnummer(text) == text


@given(st.text(alphabet="0123456789", min_size=13, max_size=40))
def test_redaction_never_touches_long_digit_runs(digits: str) -> None:
    assert redact_personnummer(f"id={digits}") == f"id={digits}"


def test_redaction_output_never_contains_a_valid_twelve_digit_personnummer() -> None:
    text = " ".join(DOMAIN_PERSONNUMMER + [DOMAIN_SAMORDNINGSNUMMER])
    redacted = redact_personnummer(text)
    assert not re.search(r"[0-9]{12}", redacted)
    assert redacted == " ".join(["[pnr]"] * 5)
