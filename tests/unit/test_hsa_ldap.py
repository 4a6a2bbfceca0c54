"""The LDAP HSA client against a real slapd loaded with the demo LDIF (simulators/hsa.schema).

The reference is the in-memory directory reading the same file: for every person and every
identifier the LDAP client must return an equal :class:`Person`. One difference is by design:
the LDAP client sorts commissions by HSA-id (LDAP result order is undefined), the in-memory
directory keeps file order, so the comparison puts both in HSA-id order.

Tests that stop, pause or restart slapd start their own instance (about 0.1 s each); the rest
share one per module.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import pytest
from helpers import slapd as slapd_harness
from helpers.slapd import Slapd, SlapdMissing, pid_alive, running_slapd

from satosa_efos.hsa import (
    DEMO_LDIF,
    Directory,
    DirectoryUnavailable,
    HsaDataError,
    InMemoryDirectory,
    LdapDirectory,
    Person,
    person_attributes,
)
from satosa_efos.identity import IdentifierError
from satosa_efos.processes import free_port

ANNA = "SE2321000131-E000000001001"
BERTIL = "SE2321000131-E000000001002"
KARIN = "SE2321000131-E000000001004"
TESTA = "SE2321000131-E000000009001"
EVA = "SE2120001355-E000000000101"
DAVID = "SE2120001439-E000000000301"

#: Slack over ``timeout`` allowed for detecting a dead or hung server (thread scheduling, CI).
SLACK = 0.6


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Slapd:
    with running_slapd([DEMO_LDIF], work_dir=tmp_path_factory.mktemp("slapd")) as running:
        yield running


@pytest.fixture
def own_server(tmp_path: Path) -> Slapd:
    """A slapd this test may stop, pause or restart."""
    with running_slapd([DEMO_LDIF], work_dir=tmp_path / "slapd") as running:
        yield running


def connect(server: Slapd, **options: object) -> LdapDirectory:
    options.setdefault("bind_dn", server.bind_dn)
    options.setdefault("password", server.password)
    return LdapDirectory([server.url], **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def directory(server: Slapd) -> LdapDirectory:
    ldap = connect(server)
    yield ldap
    ldap.close()


@pytest.fixture(scope="module")
def with_feigned(server: Slapd) -> LdapDirectory:
    ldap = connect(server, include_feigned=True)
    yield ldap
    ldap.close()


def in_hsa_id_order(person: Person | None) -> Person | None:
    if person is None:
        return None
    ordered = tuple(sorted(person.commissions, key=lambda commission: commission.hsa_id))
    return dataclasses.replace(person, commissions=ordered)


def identifiers(person: Person) -> list[dict[str, str]]:
    keys = [{"hsa_id": person.hsa_id}, {"hsa_id": person.hsa_id.lower()}]
    if person.personal_identity_number:
        number = person.personal_identity_number
        keys += [
            {"personal_identity_number": number},
            {"personal_identity_number": f"{number[:8]}-{number[8:]}"},
        ]
    if person.mail:
        keys += [{"mail": person.mail}, {"mail": person.mail.upper()}]
    return keys


def timed(call, *args, **kwargs) -> tuple[object, float]:
    start = time.monotonic()
    try:
        return call(*args, **kwargs), time.monotonic() - start
    except Exception as error:
        return error, time.monotonic() - start


# ---------------------------------------------------------------- same answers as in memory


@pytest.mark.parametrize("include_feigned", [False, True])
def test_every_person_by_every_identifier_equals_the_memory_directory(
    server: Slapd, include_feigned: bool
) -> None:
    memory = InMemoryDirectory.from_ldif(DEMO_LDIF, include_feigned=include_feigned)
    ldap = connect(server, include_feigned=include_feigned)
    assert isinstance(ldap, Directory)
    compared = 0
    for person in memory.people:
        for key in identifiers(person):
            expected = in_hsa_id_order(memory.find_person(**key))
            assert ldap.find_person(**key) == expected, key
            compared += 1
    assert compared >= 40
    ldap.close()


def test_commissions_come_in_hsa_id_order(directory: LdapDirectory) -> None:
    eva = directory.find_person(hsa_id=EVA)
    assert [c.hsa_id for c in eva.commissions] == [
        "SE2120001355-C000000000001",
        "SE2321000131-C000000000009",
    ]


def test_samordningsnummer_lookup(directory: LdapDirectory) -> None:
    assert directory.find_person(personal_identity_number="19701063-2391").hsa_id == DAVID


def test_unknown_people_are_none(directory: LdapDirectory) -> None:
    assert directory.find_person(hsa_id="SE2321000131-E999") is None
    assert directory.find_person(mail="nobody@vgregion.se") is None
    assert directory.find_person(personal_identity_number="191212121212") is not None
    assert directory.find_person(personal_identity_number="198112289874") is None


def test_feigned_person_is_found_only_when_asked_for(
    directory: LdapDirectory, with_feigned: LdapDirectory
) -> None:
    assert directory.find_person(hsa_id=TESTA) is None
    assert directory.find_person(mail="testa.testsson@vgregion.se") is None
    testa = with_feigned.find_person(hsa_id=TESTA)
    assert testa.feigned
    assert [c.hsa_id for c in testa.commissions] == ["SE2321000131-C000000000008"]
    assert person_attributes(testa) == ({}, [])


def test_archived_and_feigned_commissions_are_read_but_not_released(
    directory: LdapDirectory,
) -> None:
    anna = directory.find_person(hsa_id=ANNA)
    raw = {c.hsa_id: c for c in anna.commissions}
    assert len(raw) == 5
    assert raw["SE2321000131-C000000000004"].archived
    assert raw["SE2321000131-C000000000005"].feigned
    _, released = person_attributes(anna)
    assert [c.hsa_id for c in released] == [
        "SE2321000131-C000000000001",
        "SE2321000131-C000000000002",
        "SE2321000131-C000000000003",
    ]


def test_protected_person_is_flagged_and_keeps_contact_data_back(
    directory: LdapDirectory,
) -> None:
    karin = directory.find_person(hsa_id=KARIN)
    assert karin.protected
    attributes, commissions = person_attributes(karin)
    assert "mail" not in attributes
    assert [c.hsa_id for c in commissions] == ["SE2321000131-C000000000007"]


def test_person_in_two_organisations(directory: LdapDirectory) -> None:
    eva = directory.find_person(personal_identity_number="191212121212")
    assert {c.health_care_provider_hsa_id for c in eva.commissions} == {
        "SE2120001355-F000000000001",
        "SE2321000131-F000000000001",
    }


# ------------------------------------------------------------------------- hostile queries


@pytest.mark.parametrize(
    "mail",
    [
        "*",
        "*)(objectClass=*",
        "anna*",
        "*@vgregion.se",
        "anna.lindqvist@vgregion.se)(|(mail=*",
        "\\2a",
        "åsa@vgregion.se",
    ],
)
def test_filter_injection_finds_nobody(directory: LdapDirectory, mail: str) -> None:
    assert directory.find_person(mail=mail) is None


def test_control_character_in_mail_is_no_identifier(directory: LdapDirectory) -> None:
    # slapd would cut the value at the NUL and find Anna; lookup_key refuses it first.
    with pytest.raises(ValueError, match="control character"):
        directory.find_person(mail="anna.lindqvist@vgregion.se\x00")


@pytest.mark.parametrize(
    "key",
    [
        {"hsa_id": "*"},
        {"hsa_id": "SE2321000131-*"},
        {"personal_identity_number": "*"},
        {"personal_identity_number": "19500626*"},
        {},
        {"hsa_id": ANNA, "mail": "anna.lindqvist@vgregion.se"},
    ],
)
def test_malformed_queries_are_refused_before_asking_the_server(key: dict[str, str]) -> None:
    nowhere = LdapDirectory([f"ldap://127.0.0.1:{free_port()}"], timeout=0.5)
    with pytest.raises(ValueError):
        nowhere.find_person(**key)


# ------------------------------------------------------------------------- bad directory data


BAD_DATA = """\
dn: c=SE
objectClass: country
c: SE

dn: cn=Twin One,c=SE
objectClass: person
objectClass: hsaPerson
cn: Twin One
sn: One
givenName: Twin
hsaIdentity: SE2321000131-E000000007001
personalIdentityNumber: 195006262546
mail: twin@vgregion.se

dn: cn=Twin Two,c=SE
objectClass: person
objectClass: hsaPerson
cn: Twin Two
sn: Two
givenName: Twin
hsaIdentity: SE2321000131-E000000007002
personalIdentityNumber: 195006262546
mail: TWIN@vgregion.se

dn: cn=Broken Right,c=SE
objectClass: person
objectClass: hsaPerson
cn: Broken Right
sn: Right
givenName: Broken
hsaIdentity: SE2321000131-E000000007003

dn: cn=Half a right,c=SE
objectClass: hsaCommission
cn: Half a right
hsaIdentity: SE2321000131-C000000007001
hsaCommissionPurpose: Vård och behandling
hsaCommissionRight: Läsa;alla
hsaCommissionMember: SE2321000131-E000000007003
hsaHealthCareUnitHsaId: SE2321000131-U000000000101
hsaHealthCareUnitName: Vårdcentralen Kungsportsavenyen
hsaHealthCareProviderHsaId: SE2321000131-F000000000001
hsaHealthCareProviderName: Västra Götalandsregionen
"""


@pytest.fixture(scope="module")
def bad_server(tmp_path_factory: pytest.TempPathFactory) -> Slapd:
    work = tmp_path_factory.mktemp("bad")
    ldif = work / "bad.ldif"
    ldif.write_text(BAD_DATA, encoding="utf-8")
    with running_slapd([ldif], work_dir=work / "slapd", tls=False) as running:
        yield running


def test_two_people_with_one_identifier_is_a_data_error_naming_hsa_ids_only(
    bad_server: Slapd,
) -> None:
    ldap = connect(bad_server)
    with pytest.raises(HsaDataError) as error:
        ldap.find_person(personal_identity_number="195006262546")
    message = str(error.value)
    assert "SE2321000131-E000000007001" in message
    assert "SE2321000131-E000000007002" in message
    assert "195006262546" not in message and "2546" not in message
    with pytest.raises(HsaDataError, match="more than one person has this mail"):
        ldap.find_person(mail="twin@vgregion.se")
    # A data error leaves the connection usable.
    assert ldap.find_person(hsa_id="SE2321000131-E000000007001").surname == "One"


def test_malformed_commission_right_is_a_data_error(bad_server: Slapd) -> None:
    ldap = connect(bad_server)
    with pytest.raises(HsaDataError, match="Half a right.*commission right"):
        ldap.find_person(hsa_id="SE2321000131-E000000007003")


# --------------------------------------------------------------------- credentials and TLS


def test_wrong_password_is_unavailable_and_does_not_show_it(server: Slapd) -> None:
    ldap = connect(server, password="not-the-password")
    with pytest.raises(DirectoryUnavailable, match="bind as cn=proxy,c=SE refused") as error:
        ldap.find_person(hsa_id=ANNA)
    assert "not-the-password" not in str(error.value)
    assert server.password not in str(error.value)


def test_anonymous_client_is_told_the_base_is_hidden_not_that_nobody_exists(
    server: Slapd,
) -> None:
    ldap = LdapDirectory([server.url])
    with pytest.raises(DirectoryUnavailable, match="does not exist or is hidden from anonymous"):
        ldap.find_person(hsa_id=ANNA)


def test_ldaps_verifies_the_server_against_the_ca_file(server: Slapd) -> None:
    ldap = LdapDirectory(
        [server.ldaps_url],
        bind_dn=server.bind_dn,
        password=server.password,
        ca_file=str(server.ca_file),
    )
    assert ldap.find_person(hsa_id=BERTIL).surname == "Ek"


def test_start_tls_verifies_the_server_against_the_ca_file(server: Slapd) -> None:
    ldap = connect(server, ca_file=str(server.ca_file), start_tls=True)
    assert ldap.find_person(hsa_id=BERTIL).surname == "Ek"
    wrong = connect(server, ca_file=str(server.other_ca_file), start_tls=True)
    with pytest.raises(DirectoryUnavailable, match="certificate verify failed"):
        wrong.find_person(hsa_id=BERTIL)


@pytest.mark.parametrize("trust", ["other_ca_file", None])
def test_ldaps_refuses_a_server_its_ca_did_not_sign(server: Slapd, trust: str | None) -> None:
    ca_file = str(getattr(server, trust)) if trust else None  # None: the system trust store
    ldap = LdapDirectory(
        [server.ldaps_url], bind_dn=server.bind_dn, password=server.password, ca_file=ca_file
    )
    with pytest.raises(DirectoryUnavailable, match="certificate verify failed") as error:
        ldap.find_person(hsa_id=BERTIL)
    assert server.ldaps_url in str(error.value)


def test_ldaps_refuses_a_certificate_for_another_host_name(tmp_path: Path) -> None:
    with running_slapd(
        [DEMO_LDIF], work_dir=tmp_path / "slapd", tls_names=("ldap.example.org",)
    ) as other:
        ldap = LdapDirectory(
            [other.ldaps_url],
            bind_dn=other.bind_dn,
            password=other.password,
            ca_file=str(other.ca_file),
        )
        with pytest.raises(DirectoryUnavailable, match="mismatch"):
            ldap.find_person(hsa_id=BERTIL)


@pytest.mark.parametrize(
    "options",
    [
        {"urls": []},
        {"urls": ["http://127.0.0.1:389"]},
        {"urls": ["127.0.0.1:389"]},
        {"urls": ["ldaps://127.0.0.1:636"], "start_tls": True},
        {"urls": ["ldap://127.0.0.1:389"], "ca_file": "/etc/ssl/certs/ca-certificates.crt"},
        {"urls": ["ldaps://127.0.0.1:636"], "ca_file": "/nonexistent/ca.pem"},
        {"urls": ["ldap://127.0.0.1:389"], "bind_dn": "cn=proxy,c=SE"},
        {"urls": ["ldap://127.0.0.1:389"], "bind_dn": "cn=proxy,c=SE", "password": ""},
        {"urls": ["ldap://127.0.0.1:389"], "password": "secret"},
        {"urls": ["ldap://127.0.0.1:389"], "timeout": 0},
        {"urls": ["ldap://127.0.0.1:389"], "pool_size": 0},
    ],
)
def test_misconfiguration_is_refused_at_construction(options: dict) -> None:
    with pytest.raises(ValueError):
        LdapDirectory(**options)


# ------------------------------------------------------------------ outages and recovery


def test_stopped_server_is_unavailable_at_once_and_back_after_restart(own_server: Slapd) -> None:
    ldap = connect(own_server, timeout=1.0)
    assert ldap.find_person(hsa_id=ANNA) is not None  # a pooled connection now exists
    own_server.stop()
    error, elapsed = timed(ldap.find_person, hsa_id=ANNA)
    assert isinstance(error, DirectoryUnavailable), error
    assert "connection refused" in str(error)
    assert elapsed < 0.5
    never_used = connect(own_server, timeout=1.0)
    error, elapsed = timed(never_used.find_person, hsa_id=ANNA)
    assert isinstance(error, DirectoryUnavailable) and elapsed < 0.5
    own_server.start()
    assert ldap.find_person(hsa_id=ANNA).hsa_id == ANNA
    assert never_used.find_person(hsa_id=ANNA).hsa_id == ANNA


def test_restarted_server_answers_the_next_lookup(own_server: Slapd) -> None:
    ldap = connect(own_server, pool_size=2)
    assert ldap.find_person(hsa_id=ANNA) is not None
    own_server.restart()  # the pooled connection is now dead
    assert ldap.find_person(hsa_id=BERTIL).hsa_id == BERTIL
    own_server.kill()  # no clean close at all
    own_server.start()
    assert ldap.find_person(hsa_id=EVA).hsa_id == EVA


@pytest.mark.parametrize("pooled", [True, False])
def test_paused_server_is_unavailable_within_the_timeout_and_then_recovers(
    own_server: Slapd, pooled: bool
) -> None:
    ldap = connect(own_server, timeout=1.0)
    if pooled:
        assert ldap.find_person(hsa_id=ANNA) is not None
    own_server.pause()
    try:
        # Pooled: the pooled connection times out, and no second wait on a fresh one.
        # Not pooled: the bind times out. Then again, now that no connection is pooled.
        for _ in range(2 if pooled else 1):
            error, elapsed = timed(ldap.find_person, hsa_id=ANNA)
            assert isinstance(error, DirectoryUnavailable), error
            assert str(error) == f"LDAP {own_server.url}: timed out after 1.0 s"
            assert 0.9 < elapsed < 1.0 + SLACK
    finally:
        own_server.resume()
    person, elapsed = timed(ldap.find_person, hsa_id=ANNA)
    assert isinstance(person, Person) and elapsed < 0.5


def test_fails_over_to_the_next_url(server: Slapd, tmp_path: Path) -> None:
    dead = f"ldap://127.0.0.1:{free_port()}"
    ldap = LdapDirectory(
        [dead, server.url], bind_dn=server.bind_dn, password=server.password, timeout=1.0
    )
    assert ldap.find_person(hsa_id=ANNA).hsa_id == ANNA

    with running_slapd(
        [DEMO_LDIF], work_dir=tmp_path / "first", tls=False, password=server.password
    ) as first:
        hung = LdapDirectory(
            [first.url, server.url],
            bind_dn=server.bind_dn,
            password=server.password,
            timeout=1.0,
        )
        assert hung.find_person(hsa_id=ANNA) is not None  # pooled on the first server
        assert hung._idle[0].server == 0
        first.pause()
        person, elapsed = timed(hung.find_person, hsa_id=BERTIL)
        assert isinstance(person, Person), person
        assert 0.9 < elapsed < 1.0 + SLACK  # one timeout on the first, then the second
        # The hung server is now marked down: the next look-ups go straight to the second.
        person, elapsed = timed(hung.find_person, hsa_id=EVA)
        assert isinstance(person, Person) and elapsed < 0.3
        assert {pooled.server for pooled in hung._idle} == {1}


def test_all_servers_down_reports_each_within_its_timeout(own_server: Slapd) -> None:
    dead = f"ldap://127.0.0.1:{free_port()}"
    ldap = LdapDirectory(
        [own_server.url, dead],
        bind_dn=own_server.bind_dn,
        password=own_server.password,
        timeout=1.0,
    )
    own_server.pause()
    try:
        error, elapsed = timed(ldap.find_person, hsa_id=ANNA)
    finally:
        own_server.resume()
    assert isinstance(error, DirectoryUnavailable), error
    assert str(error) == (
        f"LDAP {own_server.url}: timed out after 1.0 s; LDAP {dead}: connection refused"
    )
    assert elapsed < 1.0 + SLACK


def test_concurrent_lookups_share_a_bounded_pool(directory: LdapDirectory) -> None:
    memory = InMemoryDirectory.from_ldif(DEMO_LDIF)
    expected = {hsa_id: in_hsa_id_order(memory.find_person(hsa_id=hsa_id)) for hsa_id in (
        ANNA, BERTIL, KARIN, EVA, DAVID)}  # fmt: skip
    results: list[bool] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(8):
                for hsa_id, person in expected.items():
                    results.append(directory.find_person(hsa_id=hsa_id) == person)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(results) == 12 * 8 * 5 and all(results)
    assert len(directory._idle) <= directory.pool_size


# ------------------------------------------------------------------------------- the harness


def test_missing_slapd_fails_with_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slapd_harness, "SLAPD", Path("/nonexistent/slapd"))
    with pytest.raises(SlapdMissing, match="install the Debian packages slapd and ldap-utils"):
        Slapd([DEMO_LDIF])


def test_harness_leaves_no_process_or_files_behind() -> None:
    with running_slapd([DEMO_LDIF], tls=False) as running:
        pid, work_dir = running.pid, running.work_dir
        running.pause()
    assert not pid_alive(pid)
    assert not work_dir.exists()


def test_identifier_errors_are_value_errors() -> None:
    # The micro-service catches ValueError for bad input; keep that contract visible here.
    assert issubclass(IdentifierError, ValueError) and issubclass(HsaDataError, ValueError)
