"""Tests for satosa_efos.hsa.ldif: the strict LDIF reader and entries → Person."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from satosa_efos.hsa import LdifError, parse_ldif, people_from_entries, read_ldif
from satosa_efos.hsa.memory import DEMO_LDIF

COMMISSION_TAIL = """\
hsaHealthCareUnitHsaId: SE2321000131-U1
hsaHealthCareUnitName: Vårdcentralen Kungsportsavenyen
hsaHealthCareProviderHsaId: SE2321000131-F1
hsaHealthCareProviderName: Västra Götalandsregionen
"""

PERSON = """\
dn: cn=Anna Lindqvist,ou=VC,o=Västra Götalandsregionen,c=SE
objectClass: hsaPerson
hsaIdentity: SE2321000131-E000000001001
personalIdentityNumber: 195006262546
givenName: Anna
sn: Lindqvist
"""


def commission(members: str, extra: str = "", hsa_id: str = "SE2321000131-C1") -> str:
    return (
        f"dn: cn=Uppdrag {hsa_id},ou=VC,o=Västra Götalandsregionen,c=SE\n"
        "objectClass: hsaCommission\n"
        "cn: Läkare VC\n"
        f"hsaIdentity: {hsa_id}\n"
        "hsaCommissionPurpose: Vård och behandling\n"
        "hsaCommissionRight: Läsa;alla;SJF\n"
        + "".join(f"hsaCommissionMember: {member}\n" for member in members.split("|"))
        + extra
        + COMMISSION_TAIL
    )


# ----------------------------------------------------------------------------- reader


def test_parse_records_comments_and_multi_values() -> None:
    text = (
        "version: 1\n"
        "# a comment\n"
        "dn: o=Västra Götalandsregionen,c=SE\n"
        "objectClass: top\n"
        "# comment inside a record\n"
        "objectClass: organization\n"
        "o:Västra Götalandsregionen\n"
        "\n\n"
        "dn: c=SE\n"
        "c: SE\n"
    )
    assert parse_ldif(text) == [
        (
            "o=Västra Götalandsregionen,c=SE",
            {"objectClass": ["top", "organization"], "o": ["Västra Götalandsregionen"]},
        ),
        ("c=SE", {"c": ["SE"]}),
    ]


def test_parse_folding_including_inside_multibyte_text_and_folded_comments() -> None:
    text = (
        "# a long comment\n"
        " that continues here: objectClass: not-an-attribute\n"
        "dn: cn=Anna,o=Västra Göt\n"
        " alandsregionen,c=SE\n"
        "description: one\n"
        "  two\n"
    )
    assert parse_ldif(text) == [
        ("cn=Anna,o=Västra Götalandsregionen,c=SE", {"description": ["one two"]})
    ]


def test_parse_base64_values_and_dn() -> None:
    dn = base64.b64encode("cn=Eva Sjöberg,o=Göteborgs Stad,c=SE".encode()).decode()
    text = f"dn:: {dn}\ndisplayName:: RXZhIFNqw7ZiZXJn\ndescription:: IGxlYWRpbmcgc3BhY2U=\n"
    assert parse_ldif(text) == [
        (
            "cn=Eva Sjöberg,o=Göteborgs Stad,c=SE",
            {"displayName": ["Eva Sjöberg"], "description": [" leading space"]},
        )
    ]


def test_parse_crlf_and_bom() -> None:
    text = "\ufeffdn: c=SE\r\nc: SE\r\n\r\ndn: o=X,c=SE\r\no: X\r\n"
    assert parse_ldif(text) == [("c=SE", {"c": ["SE"]}), ("o=X,c=SE", {"o": ["X"]})]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("dn: c=SE\nc: SE\nthis line has no colon\n", 3, "expected 'attribute: value'"),
        ("dn: c=SE\nbad name: x\n", 2, "expected 'attribute: value'"),
        ("\n\nc: SE\n", 3, "must start with 'dn:'"),
        (" folded\ndn: c=SE\n", 1, "continuation line"),
        ("dn: c=SE\nc:: not base64!\n", 2, "not valid base64"),
        ("dn: c=SE\nc:: //79\n", 2, "not UTF-8"),
        ("dn: c=SE\njpegPhoto:< file:///etc/passwd\n", 2, "URL values are not supported"),
        ("dn: c=SE\nchangetype: add\n", 2, "only content records"),
        ("dn: c=SE\n\ndn: C=se\n", 3, "already used by the record on line 1"),
        ("version: 2\ndn: c=SE\n", 1, "unsupported LDIF version"),
        ("dn:\nc: SE\n", 1, "empty dn"),
    ],
)
def test_parse_errors_carry_line_numbers(text: str, line: int, fragment: str) -> None:
    with pytest.raises(LdifError) as info:
        parse_ldif(text, source="test.ldif")
    assert info.value.line == line
    assert f"test.ldif, line {line}: " in str(info.value)
    assert fragment in str(info.value)


def test_read_ldif_rejects_non_utf8_with_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.ldif"
    path.write_bytes("dn: c=SE\nc: SE\no: G\xf6teborg\n".encode("latin-1"))
    with pytest.raises(LdifError, match="not valid UTF-8") as info:
        read_ldif(path)
    assert info.value.line == 3


# --------------------------------------------------------------------- entries → people


def test_people_from_entries_links_commissions_by_dn_and_hsa_id() -> None:
    text = (
        PERSON
        + "\n"
        + commission("cn=anna lindqvist, ou=VC, o=Västra Götalandsregionen, c=SE")
        + "\n"
        + commission("SE2321000131-E000000001001", hsa_id="SE2321000131-C2")
    )
    (person,) = people_from_entries(parse_ldif(text))
    assert person.personal_identity_number == "195006262546"
    assert [c.hsa_id for c in person.commissions] == ["SE2321000131-C1", "SE2321000131-C2"]
    assert str(person.commissions[0].rights[0]) == "Läsa;alla;SJF"


def test_people_from_entries_reads_flags() -> None:
    text = (
        PERSON.replace(
            "objectClass: hsaPerson\n",
            "objectClass: hsaPerson\nobjectClass: hsaConfidentialPerson\n",
        )
        + "\n"
        + commission("SE2321000131-E000000001001", extra="objectClass: hsaFeignedDataObject\n")
        + "\n"
        + commission("SE2321000131-E000000001001", "hsaArchived: TRUE\n", "SE2321000131-C2")
    )
    (person,) = people_from_entries(parse_ldif(text))
    assert person.protected and not person.feigned
    assert [(c.feigned, c.archived) for c in person.commissions] == [(True, False), (False, True)]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (PERSON + "\n" + commission("SE2321000131-E999"), "names no person"),
        (PERSON.replace("givenName: Anna\n", ""), "givenName is required"),
        (PERSON + "mail: a@b.se\nmail: c@d.se\n", "mail must have one value"),
        (PERSON.replace("SE2321000131-E", "SE2321000132-E"), "fails the Luhn check"),
        (PERSON + "\n" + commission(PERSON.split("\n")[0][4:], "hsaArchived: yes\n"), "TRUE or"),
        (
            PERSON
            + "\n"
            + commission("SE2321000131-E000000001001").replace("Läsa;alla;SJF", "Läsa;alla"),
            "commission right",
        ),
        (PERSON + "\n" + PERSON.replace("cn=Anna", "cn=Anna2"), "is also used by"),
    ],
)
def test_people_from_entries_errors_name_the_entry(text: str, fragment: str) -> None:
    with pytest.raises(LdifError) as info:
        people_from_entries(parse_ldif(text), source="x.ldif")
    assert fragment in str(info.value)
    assert "entry 'cn=" in str(info.value)


def test_people_from_entries_skips_other_entries() -> None:
    text = "dn: ou=VC,o=VGR,c=SE\nobjectClass: organizationalUnit\nhsaIdentity: SE2321000131-U1\n"
    assert people_from_entries(parse_ldif(text)) == []


# --------------------------------------------------------------------------- demo data


def test_demo_ldif_parses_and_uses_only_domain_test_numbers() -> None:
    people = people_from_entries(read_ldif(DEMO_LDIF))
    numbers = {p.personal_identity_number for p in people} - {None}
    assert numbers == {
        "195006262546",
        "197309069289",
        "198906059483",
        "191212121212",
        "197010632391",
    }
    text = DEMO_LDIF.read_text(encoding="utf-8")
    # Folded lines and base64 are present, so the demo exercises the reader too.
    assert "\n yen," in text and "displayName:: " in text
