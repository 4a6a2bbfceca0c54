"""RivDirectory against the HSA web-service SIMULATOR: a real process, real mutual TLS.

The simulator (``satosa-efos simulate hsa``) answers from the demo LDIF, so every person must
come out of the SOAP client with the same internal attributes as from the in-memory directory
loaded from that file, except what the real service does not carry (``NOT_CARRIED``). Failures
are produced the way they happen in production: a slow service, a stopped one, a wrong
certificate, a wrong logical address, a hostile answer.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from helpers.slapd import running_slapd
from helpers.tlspki import TlsPki, make_tls_pki
from werkzeug.wrappers import Request, Response

from satosa_efos.hsa import (
    DEMO_LDIF,
    DirectoryUnavailable,
    HsaDataError,
    InMemoryDirectory,
    Person,
    RivDirectory,
    person_attributes,
)
from satosa_efos.hsa.ldap import LdapDirectory
from satosa_efos.hsa.riv import (
    NS_RESPONDER,
    NS_SOAP,
    NS_TYPES,
    SOAP_ACTION,
    XmlRefused,
    parse_xml,
)
from satosa_efos.processes import Server, free_ports
from satosa_efos.simulators.hsa_service import DEFAULT_LOGICAL_ADDRESS, SERVICE_PATH
from satosa_efos.simulators.serving import (
    MutualTlsRequestHandler,
    listen,
    make_simulator_server,
    mutual_tls_context,
)

pytestmark = pytest.mark.flow

HOST = "127.0.0.1"
ANNA = "SE2321000131-E000000001001"
KARIN = "SE2321000131-E000000001004"
TESTA = "SE2321000131-E000000009001"
ANNA_PNR = "195006262546"
UNKNOWN = "SE2321000131-E000000000999"

#: Internal attributes the in-memory directory sets that GetCredentialsForPersonIncludingProtected
#: Person cannot: its answer has no e-mail address (TKB 2.4.5 §6.1; ``mail`` is in the employee
#: domain's GetEmployee). Nor does it carry ``displayName`` or ``title``: ``displayName`` is then
#: given name + middleAndSurName (Person.full_name), equal to the LDIF's displayName for every demo
#: person, so it is compared; ``title`` is no internal attribute.
NOT_CARRIED = frozenset({"mail"})

MEMORY = InMemoryDirectory.from_ldif(DEMO_LDIF)
EVERYONE = InMemoryDirectory.from_ldif(DEMO_LDIF, include_feigned=True).people
REAL_PEOPLE = [person for person in EVERYONE if not person.feigned]
WITH_PNR = [person for person in REAL_PEOPLE if person.personal_identity_number]


@dataclass
class Simulator:
    server: Server
    url: str
    control: str
    log: Path

    def delay(self, seconds: float) -> None:
        response = requests.post(f"{self.control}/delay", json={"seconds": seconds}, timeout=5)
        assert response.status_code == 200, response.text

    def stop(self) -> None:
        self.server.stop()


def start_simulator(pki: TlsPki, directory: Path, *extra: str) -> Simulator:
    """``satosa-efos simulate hsa`` on free loopback ports; ready once its control port listens
    (it is opened after the SOAP port)."""
    port, control_port = free_ports(2)
    log = directory / f"hsa-simulator-{port}.log"
    argv = [
        sys.executable, "-m", "satosa_efos.cli", "simulate", "hsa",
        "--host", HOST, "--port", str(port),
        "--cert", str(pki.server_cert), "--key", str(pki.server_key),
        "--client-ca", str(pki.ca_cert),
        "--control-port", str(control_port),
        *extra,
    ]  # fmt: skip
    server = Server("hsa-simulator", argv, HOST, control_port, log=log)
    try:
        server.start(timeout=30)
    except (RuntimeError, TimeoutError) as error:
        server.stop()
        pytest.fail(f"{error}:\n{log.read_text()}")
    url = f"https://{HOST}:{port}{SERVICE_PATH}"
    return Simulator(server, url, f"http://{HOST}:{control_port}/control", log)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TlsPki:
    return make_tls_pki(tmp_path_factory.mktemp("hsa-pki"))


@pytest.fixture(scope="module")
def sim(pki: TlsPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    running = start_simulator(pki, tmp_path_factory.mktemp("hsa-simulator"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(autouse=True)
def prompt(sim: Simulator) -> None:
    sim.delay(0)


def client(url: str, pki: TlsPki, **settings) -> RivDirectory:
    options = {
        "logical_address": DEFAULT_LOGICAL_ADDRESS,
        "cert_file": pki.client_cert,
        "key_file": pki.client_key,
        "ca_file": pki.ca_cert,
        "profile": "extended1",
        **settings,
    }
    return RivDirectory(url=url, **options)


def comparable(person: Person | None) -> tuple[dict[str, list[str]], list]:
    """What a relying party could receive: internal attributes and the usable commissions."""
    assert person is not None
    attributes, commissions = person_attributes(person)
    return {k: v for k, v in attributes.items() if k not in NOT_CARRIED}, commissions


# --- the same people as the in-memory directory -----------------------------------------------


@pytest.mark.parametrize("person", REAL_PEOPLE, ids=lambda p: p.hsa_id)
def test_lookup_by_hsa_id_gives_the_in_memory_attributes(sim, pki, person: Person) -> None:
    found = client(sim.url, pki).find_person(hsa_id=person.hsa_id)
    assert comparable(found) == comparable(MEMORY.find_person(hsa_id=person.hsa_id))


@pytest.mark.parametrize("person", WITH_PNR, ids=lambda p: p.hsa_id)
def test_lookup_by_personnummer_gives_the_in_memory_attributes(sim, pki, person: Person) -> None:
    pnr = person.personal_identity_number
    found = client(sim.url, pki).find_person(personal_identity_number=pnr)
    assert comparable(found) == comparable(MEMORY.find_person(personal_identity_number=pnr))


@pytest.fixture(scope="module")
def ldap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LdapDirectory]:
    with running_slapd(work_dir=tmp_path_factory.mktemp("slapd")) as slapd:
        directory = LdapDirectory(urls=[slapd.url], bind_dn=slapd.bind_dn, password=slapd.password)
        yield directory
        directory.close()


def test_soap_and_ldap_give_the_same_internal_attributes_for_everyone(sim, pki, ldap) -> None:
    riv = client(sim.url, pki)
    for person in REAL_PEOPLE:
        from_ldap = ldap.find_person(hsa_id=person.hsa_id)
        assert comparable(riv.find_person(hsa_id=person.hsa_id)) == comparable(from_ldap)


def test_the_service_carries_no_mail(sim, pki) -> None:
    anna = client(sim.url, pki).find_person(hsa_id=ANNA)
    assert anna is not None and anna.mail is None and anna.title is None
    assert "mail" in person_attributes(MEMORY.find_person(hsa_id=ANNA))[0]


def test_personnummer_comes_only_with_profile_extended1(sim, pki) -> None:
    without = client(sim.url, pki, profile=None).find_person(hsa_id=ANNA)
    assert without is not None and without.personal_identity_number is None
    with_profile = client(sim.url, pki).find_person(hsa_id=ANNA)
    assert with_profile is not None and with_profile.personal_identity_number == ANNA_PNR


def test_samordningsnummer_is_returned_as_one(sim, pki) -> None:
    david = client(sim.url, pki).find_person(hsa_id="SE2120001439-E000000000301")
    assert david is not None and david.personal_identity_number == "197010632391"


def test_feigned_person_is_not_found_unless_asked_for(sim, pki) -> None:
    assert client(sim.url, pki).find_person(hsa_id=TESTA) is None
    testa = client(sim.url, pki, include_feigned=True).find_person(hsa_id=TESTA)
    assert testa is not None and testa.feigned
    assert person_attributes(testa) == ({}, [])


def test_feigned_commission_comes_flagged_only_when_asked_for(sim, pki) -> None:
    feigned = "SE2321000131-C000000000005"
    plain = client(sim.url, pki).find_person(hsa_id=ANNA)
    assert plain is not None and feigned not in {c.hsa_id for c in plain.commissions}
    asked = client(sim.url, pki, include_feigned=True).find_person(hsa_id=ANNA)
    assert asked is not None
    (commission,) = [c for c in asked.commissions if c.hsa_id == feigned]
    assert commission.feigned and not commission.usable
    assert comparable(asked) == comparable(plain)


def test_protected_person_is_flagged_and_keeps_contact_data_back(sim, pki) -> None:
    karin = client(sim.url, pki).find_person(hsa_id=KARIN)
    assert karin is not None and karin.protected
    attributes, _ = person_attributes(karin)
    assert "mail" not in attributes and "personalIdentityNumber" not in attributes


def test_unknown_person_is_none(sim, pki) -> None:
    assert client(sim.url, pki).find_person(hsa_id=UNKNOWN) is None


def test_mail_is_no_key_of_the_service(sim, pki) -> None:
    with pytest.raises(ValueError, match="HSA-id or personnummer only"):
        client(sim.url, pki).find_person(mail="anna.lindqvist@vgregion.se")


def test_connection_is_reused_and_lookups_are_quick(sim, pki) -> None:
    directory = client(sim.url, pki)
    started = time.monotonic()
    for _ in range(10):
        assert directory.find_person(hsa_id=ANNA) is not None
    # Loopback, TLS handshake included (the simulator closes every connection): ~20 ms each.
    assert (time.monotonic() - started) / 10 < 0.5


# --- the service unavailable ------------------------------------------------------------------


def test_no_client_certificate_is_unavailable(sim, pki) -> None:
    directory = client(sim.url, pki)
    directory.session.cert = None
    with pytest.raises(DirectoryUnavailable):
        directory.find_person(hsa_id=ANNA)


def test_client_certificate_of_another_ca_is_unavailable(sim, pki) -> None:
    directory = client(sim.url, pki, cert_file=pki.other_client_cert, key_file=pki.other_client_key)
    with pytest.raises(DirectoryUnavailable):
        directory.find_person(hsa_id=ANNA)


def test_server_certified_by_another_ca_is_unavailable(sim, pki) -> None:
    directory = client(sim.url, pki, ca_file=pki.other_ca_cert)
    with pytest.raises(DirectoryUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        directory.find_person(hsa_id=ANNA)


def test_slow_service_is_unavailable_within_the_timeout(sim, pki) -> None:
    sim.delay(5)
    directory = client(sim.url, pki, timeout=1.0)
    started = time.monotonic()
    with pytest.raises(DirectoryUnavailable, match="within 1 s"):
        directory.find_person(hsa_id=ANNA)
    assert time.monotonic() - started < 1.5


def test_stopped_service_is_unavailable(pki, tmp_path) -> None:
    other = start_simulator(pki, tmp_path)
    try:
        directory = client(other.url, pki)
        assert directory.find_person(hsa_id=ANNA) is not None
    finally:
        other.stop()
    started = time.monotonic()
    with pytest.raises(DirectoryUnavailable, match="connection"):
        directory.find_person(hsa_id=ANNA)
    assert time.monotonic() - started < 1.0


def test_unknown_logical_address_is_a_soap_fault_without_the_personnummer(sim, pki) -> None:
    directory = client(sim.url, pki, logical_address="SE2321000131-X000000000001")
    with pytest.raises(DirectoryUnavailable, match="SOAP fault") as raised:
        directory.find_person(personal_identity_number=ANNA_PNR)
    assert ANNA_PNR not in raised.value.detail
    assert "logical address" in raised.value.detail


def test_simulator_refuses_a_request_with_both_identifiers(sim, pki) -> None:
    envelope = f"""<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">
 <s:Header><LogicalAddress xmlns="urn:riv:itintegration:registry:1">{DEFAULT_LOGICAL_ADDRESS}
 </LogicalAddress></s:Header>
 <s:Body><r:GetCredentialsForPersonIncludingProtectedPerson xmlns:r="{NS_RESPONDER}">
  <r:personHsaId>{ANNA}</r:personHsaId><r:personalIdentityNumber>{ANNA_PNR}</r:personalIdentityNumber>
 </r:GetCredentialsForPersonIncludingProtectedPerson></s:Body></s:Envelope>"""
    session = requests.Session()
    session.trust_env = False
    response = session.post(
        sim.url,
        data=envelope.encode(),
        headers={"Content-Type": "text/xml", "SOAPAction": f'"{SOAP_ACTION}"'},
        cert=(str(pki.client_cert), str(pki.client_key)),
        verify=str(pki.ca_cert),
        timeout=5,
    )
    assert response.status_code == 500
    assert b"exactly one of personHsaId and personalIdentityNumber" in response.content
    assert response.headers["X-Simulator"].startswith("SIMULATOR")


# --- hostile or broken answers ----------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><lolz>&lol3;</lolz>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE a [<!ENTITY secret SYSTEM "file:///etc/passwd">]><a>&secret;</a>"""


@pytest.mark.parametrize(
    "xml",
    [BILLION_LAUGHS, EXTERNAL_ENTITY, b"<!DOCTYPE a><a/>", b"<a>&undeclared;</a>", b"not xml"],
    ids=["billion-laughs", "external-entity", "doctype", "undeclared-entity", "not-xml"],
)
def test_parser_refuses_dtds_entities_and_non_xml(xml: bytes) -> None:
    with pytest.raises(XmlRefused):
        parse_xml(xml)


def test_parser_refuses_an_oversized_document() -> None:
    with pytest.raises(XmlRefused, match="larger"):
        parse_xml(b"<a>" + b"x" * 2000 + b"</a>", max_bytes=1000)


FAULT_WITH_PNR = f"""<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>
<faultcode>s:Server</faultcode><faultstring>no person {ANNA_PNR}</faultstring>
</s:Fault></s:Body></s:Envelope>""".encode()

HOSTILE = {
    "/dtd": (200, BILLION_LAUGHS),
    "/html": (200, b"<html><body>maintenance</body></html>"),
    "/text": (200, b"OK"),
    "/unavailable": (503, b"Service Temporarily Unavailable"),
    "/forbidden": (403, b"Access is denied"),
    "/fault": (500, FAULT_WITH_PNR),
}


@pytest.fixture(scope="module")
def peer(pki: TlsPki) -> Iterator[str]:
    """An HTTPS peer with the right certificates and hand-written answers, in this process."""

    def app(environ, start_response):
        status, body = {**HOSTILE, **CRAFTED}[Request(environ).path]
        return Response(body, status=status, content_type="text/xml")(environ, start_response)

    context = mutual_tls_context(pki.server_cert, pki.server_key, pki.ca_cert)
    with listen(HOST, 0) as sock:
        server = make_simulator_server(app, sock, MutualTlsRequestHandler, context)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://{HOST}:{port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("path", sorted(HOSTILE))
def test_hostile_or_broken_answer_is_unavailable(peer, pki, path: str) -> None:
    with pytest.raises(DirectoryUnavailable) as raised:
        client(peer + path, pki).find_person(personal_identity_number=ANNA_PNR)
    assert ANNA_PNR not in raised.value.detail


# --- answers that are well-formed but unusual ---------------------------------------------------


def answer(*infos: str, ns: str = NS_TYPES) -> tuple[int, bytes]:
    """A 200 answer with these ``credentialInformation`` bodies (their fields in ``ns``)."""
    body = "".join(f"<r:credentialInformation>{info}</r:credentialInformation>" for info in infos)
    return 200, (
        f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{NS_SOAP}"><s:Body>'
        f'<r:GetCredentialsForPersonIncludingProtectedPersonResponse xmlns:r="{NS_RESPONDER}" '
        f'xmlns:t="{ns}">{body}</r:GetCredentialsForPersonIncludingProtectedPersonResponse>'
        "</s:Body></s:Envelope>"
    ).encode()


def person(hsa_id: str = ANNA, *, given: bool = True, extra: str = "", commissions=()) -> str:
    name = "<t:givenName>Anna</t:givenName>" if given else ""
    return (
        f"{name}<t:middleAndSurName>Lindqvist</t:middleAndSurName>"
        f"<t:personHsaId>{hsa_id}</t:personHsaId>{extra}{''.join(commissions)}"
    )


def commission(number: str, *, unit: str = "both", extra: str = "") -> str:
    unit_id = "<t:healthCareUnitHsaId>SE2321000131-U000000000101</t:healthCareUnitHsaId>"
    unit_name = "<t:healthCareUnitName>Vårdcentralen</t:healthCareUnitName>"
    units = {"both": unit_id + unit_name, "none": "", "id only": unit_id}[unit]
    return (
        f"<t:commission><t:commissionName>Läkare</t:commissionName>"
        f"<t:commissionHsaId>SE2321000131-C00000000000{number}</t:commissionHsaId>"
        "<t:commissionPurpose>Vård och behandling</t:commissionPurpose>"
        "<t:commissionRight><t:activity>Läsa</t:activity><t:informationClass>alla"
        "</t:informationClass><t:scope>SJF</t:scope></t:commissionRight>"
        f"{extra}{units}"
        "<t:healthCareProviderHsaId>SE2321000131-F000000000001</t:healthCareProviderHsaId>"
        "<t:healthCareProviderName>Västra Götalandsregionen</t:healthCareProviderName>"
        "<t:healthCareProviderOrgNo>2321000131</t:healthCareProviderOrgNo></t:commission>"
    )


def identity(number: str) -> str:
    return (
        "<t:personalIdentity><t:root>1.2.752.129.2.1.3.1</t:root>"
        f"<t:extension>{number}</t:extension></t:personalIdentity>"
    )


CRAFTED = {
    "/two-hsa-ids": answer(person(ANNA), person("SE2120001355-E000000000101")),
    "/same-hsa-id-twice": answer(
        person(commissions=[commission("1")]), person(commissions=[commission("2")])
    ),
    "/same-hsa-id-other-names": answer(person(), person(extra="<t:paTitleCode>1</t:paTitleCode>")),
    "/no-given-name": answer(person(given=False)),
    "/commission-under-provider": answer(
        person(commissions=[commission("1"), commission("2", unit="none")])
    ),
    "/commission-half-unit": answer(person(commissions=[commission("1", unit="id only")])),
    "/other-person": answer(person(KARIN)),
    "/bad-boolean": answer(person(extra="<t:protectedPerson>yes</t:protectedPerson>")),
    "/archived-provider": answer(
        person(
            commissions=[
                commission(
                    "1", extra="<t:archivedHealthCareProvider>true</t:archivedHealthCareProvider>"
                )
            ]
        )
    ),
    "/extension-namespace": answer(
        person(extra="<t:paTitleCode>201010</t:paTitleCode>", commissions=[commission("1")]),
        ns="urn:riv:infrastructure:directory:authorizationmanagement:2.3",
    ),
    "/other-personnummer": answer(person(extra=identity("197309069289"))),
    "/broken-personnummer": answer(person(extra=identity("195006262547"))),
}


def test_personnummer_of_several_hsa_ids_is_refused_as_data_error(peer, pki) -> None:
    # TKB rule *2: one credentialInformation per HSA-id; the model holds one HSA-id a person.
    with pytest.raises(HsaDataError, match="2 HSA-ids"):
        client(f"{peer}/two-hsa-ids", pki).find_person(personal_identity_number=ANNA_PNR)


def test_one_hsa_id_answered_twice_is_merged(peer, pki) -> None:
    anna = client(f"{peer}/same-hsa-id-twice", pki).find_person(hsa_id=ANNA)
    assert anna is not None and len(anna.commissions) == 2


@pytest.mark.parametrize(
    ("path", "match"),
    [
        ("/same-hsa-id-other-names", "twice with different values"),
        ("/no-given-name", "no givenName"),
        ("/commission-half-unit", "not both"),
        ("/other-person", "the answer is about"),
        ("/bad-boolean", "xs:boolean"),
    ],
)
def test_answer_that_breaks_the_model_is_a_data_error(peer, pki, path: str, match: str) -> None:
    with pytest.raises(HsaDataError, match=match):
        client(peer + path, pki).find_person(hsa_id=ANNA)


@pytest.mark.parametrize("path", ["/other-personnummer", "/broken-personnummer"])
def test_wrong_personal_identity_is_a_data_error_without_the_number(peer, pki, path) -> None:
    with pytest.raises(HsaDataError) as raised:
        client(peer + path, pki).find_person(personal_identity_number=ANNA_PNR)
    assert not any(number in str(raised.value) for number in ("1973090692", "1950062625"))


def test_commission_directly_under_the_provider_is_left_out(peer, pki) -> None:
    anna = client(f"{peer}/commission-under-provider", pki).find_person(hsa_id=ANNA)
    assert anna is not None
    assert [c.hsa_id for c in anna.commissions] == ["SE2321000131-C000000000001"]


def test_commission_of_an_archived_provider_is_archived(peer, pki) -> None:
    anna = client(f"{peer}/archived-provider", pki).find_person(hsa_id=ANNA)
    assert anna is not None and anna.commissions[0].archived
    assert person_attributes(anna)[1] == []


def test_fields_in_an_extension_namespace_are_read(peer, pki) -> None:
    anna = client(f"{peer}/extension-namespace", pki).find_person(hsa_id=ANNA)
    assert anna is not None and anna.pa_title_codes == ("201010",)
    assert len(anna.commissions) == 1


def test_simulator_log_holds_no_personnummer(sim, pki) -> None:
    directory = client(sim.url, pki)
    for person in WITH_PNR:
        directory.find_person(personal_identity_number=person.personal_identity_number)
    text = sim.log.read_text()
    assert "SIMULATOR" in text and "lookup by personalIdentityNumber" in text
    assert not any(person.personal_identity_number in text for person in WITH_PNR)
