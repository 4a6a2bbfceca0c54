"""The HSA web service SIMULATOR: GetCredentialsForPersonIncludingProtectedPerson v2.

A stand-in for the national service (behind the national service platform) for the demo and the
tests, so that ``hsa.riv.RivDirectory`` meets a real peer: a separate process, SOAP 1.1 over
mutual TLS, the RIVTABP21 ``LogicalAddress`` header, SOAP faults where the platform or the
service gives them. It is labelled SIMULATOR in every log line, on its start banner and in a
response header; it must never be mistaken for, or deployed as, the real service.

Its people come from an LDIF file (default: the demo directory) through
:class:`~satosa_efos.hsa.memory.InMemoryDirectory`, so the LDAP test directory, the in-memory
directory and this service answer with the same people. The answer is written here, from the
TKB's field table, and read by the client's own code: the two sides share only the namespace
constants and the hardened XML parser, so a mistake in one side's element names shows up as a
difference the tests see. What it does, by the TKB (see ``hsa/riv.py`` for the source):

* exactly one of ``personHsaId`` / ``personalIdentityNumber``, else a SOAP fault (rule \\*1);
* ``includeFeignedObject`` false (or absent): no feigned person, no feigned commission;
* ``profile`` ``extended1``: ``personalIdentity`` (root OID and number) is included;
* ``protectedPerson``/``feignedPerson``/``feignedCommission`` only when true;
* an unknown ``LogicalAddress``: a SOAP fault, as the platform gives when it has no route;
* commissions that HSA marks archived are left out (the contract has no flag for an archived
  commission, only for an archived unit or provider), as are commissions without the care
  provider's organisation number (a required field: TKB "Logiska fel").

Not simulated: ``searchBase`` (the LDIF people carry no DN; the value is only logged) and every
field the project's model does not hold (prescription codes, speciality codes, dates...).

A plain-HTTP control port on loopback (``--control-port``) lets tests make the service slow:
``POST /control/delay`` with ``{"seconds": 5}``; ``GET /control/state``; ``POST /control/reset``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer
from werkzeug.wrappers import Request, Response

from satosa_efos.hsa.memory import DEMO_LDIF, InMemoryDirectory
from satosa_efos.hsa.model import Commission, Person
from satosa_efos.hsa.riv import (
    NS_REGISTRY,
    NS_RESPONDER,
    NS_RESPONDER_EXT,
    NS_SOAP,
    NS_TYPES,
    NS_TYPES_EXT,
    OPERATION,
    PERSONAL_IDENTITY_ROOTS,
    PROFILE_EXTENDED,
    SOAP_ACTION,
    XmlRefused,
    parse_xml,
)
from satosa_efos.identity import Personnummer
from satosa_efos.identity.errors import shown
from satosa_efos.simulators.serving import (
    LABEL,
    LabelledRequestHandler,
    MutualTlsRequestHandler,
    configure_simulator_logging,
    is_loopback,
    listen,
    make_simulator_server,
    mutual_tls_context,
    run_until_stopped,
    serve_in_threads,
    stop_servers,
)

#: A fixed name, so that ``python -m`` (where ``__name__`` is ``__main__``) logs the same way.
LOGGER_NAME = "satosa_efos.simulators.hsa_service"
logger = logging.getLogger(LOGGER_NAME)

DEFAULT_PORT = 8445
#: Inera's HSA-id for Katalogtjänst HSA is the service's logical address (TKB §3.2); this is the
#: value integration guides give for it (e.g. PhenixID's HSAWS valve: "Usually
#: SE165565594230-1000"). Configure the real one from the platform's address register.
DEFAULT_LOGICAL_ADDRESS = "SE165565594230-1000"
#: Path of the endpoint; the client is configured with the whole URL, so any path would do.
SERVICE_PATH = f"/{OPERATION}/2/rivtabp21"
MAX_BODY = 64 * 1024
MAX_DELAY = 60.0
SIMULATOR_HEADER = ("X-Simulator", "SIMULATOR HSA web service - not the real service")
_REQUEST_FIELDS = ("personHsaId", "personalIdentityNumber", "searchBase", "includeFeignedObject")


class SoapFault(Exception):
    """An answer as a SOAP 1.1 fault: ``Client`` for a bad request, ``Server`` otherwise."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def envelope(self) -> bytes:
        envelope = etree.Element(_q(NS_SOAP, "Envelope"), nsmap={"soapenv": NS_SOAP})
        fault = etree.SubElement(
            etree.SubElement(envelope, _q(NS_SOAP, "Body")), _q(NS_SOAP, "Fault")
        )
        etree.SubElement(fault, "faultcode").text = f"soapenv:{self.code}"
        etree.SubElement(fault, "faultstring").text = f"{self.message} ({LABEL})"
        return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


@dataclass(frozen=True)
class CredentialsRequest:
    """What a request asks, as read from the envelope."""

    person_hsa_id: str | None
    personal_identity_number: str | None
    search_base: str | None
    include_feigned: bool
    profile: str | None


class HsaServiceSimulator:
    """The service behind the listener: reads requests, looks people up, writes answers.

    Thread-safe: the directory is read-only after loading; ``delay`` is one float.
    """

    def __init__(self, directory: InMemoryDirectory, logical_address: str, delay: float = 0.0):
        if not directory.include_feigned:
            raise ValueError("load the directory with include_feigned=True; requests choose")
        self.directory = directory
        self.logical_address = logical_address
        self.delay = delay

    def answer(self, body: bytes, soap_action: str | None) -> bytes:
        """The response envelope for one request body; raises :class:`SoapFault`."""
        request = self.read_request(body, soap_action)
        person = self._find(request)
        if request.search_base:
            logger.info("searchBase %s not simulated (ignored)", shown(request.search_base))
        return self.response(person, request)

    # -- the request --

    def read_request(self, body: bytes, soap_action: str | None) -> CredentialsRequest:
        try:
            root = parse_xml(body, max_bytes=MAX_BODY)
        except XmlRefused as error:
            raise SoapFault("Client", f"request refused: {error}") from None
        if root.tag != _q(NS_SOAP, "Envelope"):
            raise SoapFault("Client", "not a SOAP 1.1 envelope")
        if (soap_action or "").strip().strip('"') != SOAP_ACTION:
            raise SoapFault("Client", f"unknown SOAPAction {shown(soap_action)}")
        header = root.find(_q(NS_SOAP, "Header"))
        address = None if header is None else header.findtext(_q(NS_REGISTRY, "LogicalAddress"))
        if not address or not address.strip():
            raise SoapFault("Client", "the LogicalAddress header (RIVTABP21) is missing")
        if address.strip() != self.logical_address:
            # What the platform says when it has no route for the address.
            raise SoapFault("Server", f"no service producer for logical address {shown(address)}")
        body_element = root.find(_q(NS_SOAP, "Body"))
        operations = [] if body_element is None else [e for e in body_element if _is_element(e)]
        if len(operations) != 1 or operations[0].tag != _q(NS_RESPONDER, OPERATION):
            raise SoapFault("Client", f"the body must hold one {OPERATION} element")
        values: dict[str, str] = {}
        for child in operations[0]:
            if not _is_element(child):
                continue
            name = etree.QName(child).localname
            allowed = (
                child.tag == _q(NS_RESPONDER, name)
                if name in _REQUEST_FIELDS
                else child.tag in (_q(NS_RESPONDER, "profile"), _q(NS_RESPONDER_EXT, "profile"))
            )
            if not allowed:
                raise SoapFault("Client", f"unexpected element {shown(child.tag)}")
            if name in values:
                raise SoapFault("Client", f"{name} given twice")
            values[name] = (child.text or "").strip()
        hsa_id, pnr = values.get("personHsaId"), values.get("personalIdentityNumber")
        if (hsa_id is None) == (pnr is None):
            # TKB rule *1 and "Logiska fel": both given is a SOAP fault; none is no question.
            raise SoapFault("Client", "give exactly one of personHsaId and personalIdentityNumber")
        profile = values.get("profile")
        if profile is not None and profile != PROFILE_EXTENDED:
            raise SoapFault("Client", f"profile can only be {PROFILE_EXTENDED!r}")
        feigned = values.get("includeFeignedObject", "false")
        if feigned not in ("true", "false", "1", "0"):
            raise SoapFault("Client", "includeFeignedObject is not an xs:boolean")
        return CredentialsRequest(
            person_hsa_id=hsa_id,
            personal_identity_number=pnr,
            search_base=values.get("searchBase") or None,
            include_feigned=feigned in ("true", "1"),
            profile=profile,
        )

    def _find(self, request: CredentialsRequest) -> Person | None:
        kind = "personHsaId" if request.person_hsa_id is not None else "personalIdentityNumber"
        try:
            person = self.directory.find_person(
                hsa_id=request.person_hsa_id,
                personal_identity_number=request.personal_identity_number,
            )
        except ValueError:  # a malformed identifier: nobody has it ("tomt svar")
            person = None
        if person is not None and person.feigned and not request.include_feigned:
            person = None
        # Never the personnummer in the log (DESIGN.md §7): the kind, and the HSA-id found.
        logger.info("lookup by %s: %s", kind, person.hsa_id if person else "not found")
        return person

    # -- the answer --

    def response(self, person: Person | None, request: CredentialsRequest) -> bytes:
        """``GetCredentialsForPersonIncludingProtectedPersonResponse`` with 0 or 1 person."""
        envelope = etree.Element(
            _q(NS_SOAP, "Envelope"),
            nsmap={"soapenv": NS_SOAP, "ns2": NS_RESPONDER, "ns3": NS_TYPES, "ns4": NS_TYPES_EXT},
        )
        etree.SubElement(envelope, _q(NS_SOAP, "Header"))
        body = etree.SubElement(envelope, _q(NS_SOAP, "Body"))
        answer = etree.SubElement(body, _q(NS_RESPONDER, f"{OPERATION}Response"))
        if person is not None:
            self._credential_information(answer, person, request)
        return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")

    def _credential_information(
        self, parent: etree._Element, person: Person, request: CredentialsRequest
    ) -> None:
        info = etree.SubElement(parent, _q(NS_RESPONDER, "credentialInformation"))
        _add(info, "givenName", person.given_name)
        # The LDIF holds no middle names: middleAndSurName is the surname.
        _add(info, "middleAndSurName", person.surname)
        _add(info, "personHsaId", person.hsa_id)
        for title in person.hsa_titles:
            _add(info, "healthCareProfessionalLicence", title)
        for role in person.system_roles:
            element = etree.SubElement(info, _q(NS_TYPES, "hsaSystemRole"))
            _add(element, "systemId", role.system_id)
            _add(element, "role", role.role)
        for code in person.pa_title_codes:
            _add(info, "paTitleCode", code)
        if person.protected:  # "om personen inte har skyddade personuppgifter ... inget värde"
            _add(info, "protectedPerson", "true")
        if person.feigned:
            _add(info, "feignedPerson", "true")
        for commission in _answered_commissions(person.commissions, request.include_feigned):
            _commission(info, commission)
        if request.profile == PROFILE_EXTENDED and person.personal_identity_number:
            number = Personnummer(person.personal_identity_number)
            identity = etree.SubElement(info, _q(NS_TYPES_EXT, "personalIdentity"))
            root = PERSONAL_IDENTITY_ROOTS[1 if number.is_samordningsnummer else 0]
            _add(identity, "root", root, NS_TYPES_EXT)
            _add(identity, "extension", number.value, NS_TYPES_EXT)


def _answered_commissions(
    commissions: Iterable[Commission], include_feigned: bool
) -> list[Commission]:
    return [
        commission
        for commission in commissions
        if not commission.archived
        and (include_feigned or not commission.feigned)
        and commission.health_care_provider_org_no is not None
    ]


def _commission(parent: etree._Element, commission: Commission) -> None:
    element = etree.SubElement(parent, _q(NS_TYPES, "commission"))
    _add(element, "commissionName", commission.name)
    _add(element, "commissionHsaId", commission.hsa_id)
    _add(element, "commissionPurpose", commission.purpose)
    for right in commission.rights:
        right_element = etree.SubElement(element, _q(NS_TYPES, "commissionRight"))
        _add(right_element, "activity", right.activity)
        _add(right_element, "informationClass", right.information_class)
        _add(right_element, "scope", right.scope)
    if commission.feigned:
        _add(element, "feignedCommission", "true")
    _add(element, "healthCareUnitHsaId", commission.health_care_unit_hsa_id)
    _add(element, "healthCareUnitName", commission.health_care_unit_name)
    _add(element, "healthCareProviderHsaId", commission.health_care_provider_hsa_id)
    _add(element, "healthCareProviderName", commission.health_care_provider_name)
    _add(element, "healthCareProviderOrgNo", commission.health_care_provider_org_no)


# --- the listeners ----------------------------------------------------------------------------


class SoapApp:
    """WSGI app of the endpoint; the TLS layer has already checked the client's certificate."""

    def __init__(self, simulator: HsaServiceSimulator) -> None:
        self.simulator = simulator

    def __call__(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = MAX_BODY
        status, body = 200, b""
        try:
            if request.path != SERVICE_PATH:
                status, body = 404, b"no such service (SIMULATOR)\n"
            elif request.method != "POST":
                status, body = 405, b"use POST (SIMULATOR)\n"
            else:
                if self.simulator.delay:
                    time.sleep(self.simulator.delay)
                data = request.get_data(cache=False)
                body = self.simulator.answer(data, request.headers.get("SOAPAction"))
        except SoapFault as fault:
            logger.info("SOAP fault %s: %s", fault.code, fault.message)
            status, body = 500, fault.envelope()
        except HTTPException:  # larger than MAX_BODY
            status, body = 413, b"request too large (SIMULATOR)\n"
        except Exception:  # a simulator bug must still answer like the service would
            logger.exception("%s failed", request.path)
            status, body = 500, SoapFault("Server", "internal error in the simulator").envelope()
        mimetype = "text/xml" if body.startswith(b"<?xml") else "text/plain"
        response = Response(body, status=status, content_type=f"{mimetype}; charset=utf-8")
        response.headers.set(*SIMULATOR_HEADER)
        return response(environ, start_response)


class ControlApp:
    """``/control/state``, ``/control/delay``, ``/control/reset`` as JSON, for tests only."""

    def __init__(self, simulator: HsaServiceSimulator) -> None:
        self.simulator = simulator

    def __call__(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = 4096
        try:
            status, data = self.handle(request)
        except HTTPException as error:
            status, data = error.code or 400, {"error": error.description or "bad request"}
        except ValueError as error:
            status, data = 400, {"error": str(error)}
        response = Response(
            json.dumps(data),
            status=status,
            content_type="application/json",
            headers=[SIMULATOR_HEADER],
        )
        return response(environ, start_response)

    def handle(self, request: Request) -> tuple[int, dict[str, Any]]:
        sim = self.simulator
        if request.path == "/control/state" and request.method == "GET":
            return 200, self.state()
        if request.method != "POST":
            return 404, {"error": f"no such control call: {request.method} {request.path}"}
        body = self._body(request)
        if request.path == "/control/delay":
            seconds = body.get("seconds")
            if not isinstance(seconds, int | float) or not 0 <= seconds <= MAX_DELAY:
                raise ValueError(f"seconds must be a number from 0 to {MAX_DELAY:g}")
            sim.delay = float(seconds)
            logger.info("answers are delayed by %g s from now on", sim.delay)
            return 200, self.state()
        if request.path == "/control/reset":
            sim.delay = 0.0
            return 200, self.state()
        return 404, {"error": f"no such control call: POST {request.path}"}

    def state(self) -> dict[str, Any]:
        sim = self.simulator
        return {
            "delay_seconds": sim.delay,
            "logical_address": sim.logical_address,
            "people": len(sim.directory),
        }

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        """JSON only, so no plain form of another site can steer the simulator (no CORS)."""
        data = request.get_data(cache=False)
        if not data:
            return {}
        if request.mimetype != "application/json":
            raise ValueError("send application/json")
        body = json.loads(data)
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        return body


class _SoapHandler(MutualTlsRequestHandler):
    log_to = logger
    label = "HSA SOAP"


class _ControlHandler(LabelledRequestHandler):
    log_to = logger
    label = "control"


@dataclass
class RunningSimulator:
    """The started listeners; ``stop()`` ends them."""

    simulator: HsaServiceSimulator
    url: str
    control_url: str | None
    servers: list[BaseWSGIServer] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    def stop(self) -> None:
        stop_servers(self.servers, self.threads)


def start_simulator(
    *,
    cert_file: str | Path,
    key_file: str | Path,
    client_ca_file: str | Path,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    ldif: str | Path = DEMO_LDIF,
    logical_address: str = DEFAULT_LOGICAL_ADDRESS,
    delay: float = 0.0,
    control_port: int | None = None,
) -> RunningSimulator:
    """Load the people and start the listeners in this process (``main`` adds signals, output).

    The control port listens on 127.0.0.1 only, whatever ``host`` is.
    """
    directory = InMemoryDirectory.from_ldif(ldif, include_feigned=True)
    simulator = HsaServiceSimulator(directory, logical_address, delay)
    url_host = f"[{host}]" if ":" in host else host
    running = RunningSimulator(
        simulator=simulator,
        url=f"https://{url_host}:{port}{SERVICE_PATH}",
        control_url=None if control_port is None else f"http://127.0.0.1:{control_port}/control",
    )
    context = mutual_tls_context(cert_file, key_file, client_ca_file)
    with listen(host, port) as soap_socket:
        running.servers.append(
            make_simulator_server(SoapApp(simulator), soap_socket, _SoapHandler, context)
        )
    if control_port is not None:
        try:
            with listen("127.0.0.1", control_port) as control_socket:
                running.servers.append(
                    make_simulator_server(ControlApp(simulator), control_socket, _ControlHandler)
                )
        except BaseException:
            running.stop()
            raise
    names = ("hsa-soap", "hsa-control")[: len(running.servers)]
    running.threads.extend(serve_in_threads(running.servers, names))
    return running


def configure_logging(level: int = logging.INFO, stream: Any = None) -> None:
    """Send the simulator's logger (and werkzeug's) to ``stream`` with the SIMULATOR prefix."""
    configure_simulator_logging((LOGGER_NAME, "werkzeug"), "hsa-simulator", level, stream)


def main(argv: Sequence[str] | None = None) -> int:
    """``satosa-efos simulate hsa``: run the simulator until SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="satosa-efos simulate hsa",
        description="HSA web service SIMULATOR, GetCredentialsForPersonIncludingProtectedPerson "
        "v2 (demo and tests only; not the real service).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--ldif", type=Path, default=DEMO_LDIF, help="people (default: the demo)")
    parser.add_argument("--cert", type=Path, required=True, help="server certificate (PEM)")
    parser.add_argument("--key", type=Path, required=True, help="its private key (PEM)")
    parser.add_argument(
        "--client-ca", type=Path, required=True, help="CA of the client certificates it accepts"
    )
    parser.add_argument("--logical-address", default=DEFAULT_LOGICAL_ADDRESS)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before every answer")
    parser.add_argument(
        "--control-port", type=int, default=None, help="plain-HTTP control API on 127.0.0.1"
    )
    args = parser.parse_args(argv)
    if not 0 <= args.delay <= MAX_DELAY:
        parser.error(f"--delay must be from 0 to {MAX_DELAY:g}")
    configure_logging()
    return run_until_stopped(lambda stop: _serve(args, stop))


def _serve(args: argparse.Namespace, stop: threading.Event) -> int:
    if not is_loopback(args.host):
        logger.warning("listening on %s: anyone with a client certificate can ask", args.host)
    try:
        running = start_simulator(
            cert_file=args.cert,
            key_file=args.key,
            client_ca_file=args.client_ca,
            host=args.host,
            port=args.port,
            ldif=args.ldif,
            logical_address=args.logical_address,
            delay=args.delay,
            control_port=args.control_port,
        )
    except (OSError, ValueError) as error:  # a port in use, unreadable certificates or LDIF
        logger.error("could not start: %s", error)
        return 1
    lines = [
        "HSA web service SIMULATOR (GetCredentialsForPersonIncludingProtectedPerson v2) - "
        "demo and tests only, not the real service",
        f"endpoint (mutual TLS): {running.url}",
        f"logical address:       {running.simulator.logical_address}",
        f"people:                {len(running.simulator.directory)} from {args.ldif}",
    ]
    if running.control_url:
        lines.append(f"control API:           {running.control_url}/state")
    for line in lines:
        print(f"{LABEL} {line}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        running.stop()
        print(f"{LABEL} stopped", flush=True)
    return 0


# --- helpers ----------------------------------------------------------------------------------


def _q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def _is_element(node: Any) -> bool:
    return isinstance(node.tag, str)  # not a comment


def _add(parent: etree._Element, name: str, text: str | None, namespace: str = NS_TYPES) -> None:
    etree.SubElement(parent, _q(namespace, name)).text = text


if __name__ == "__main__":
    sys.exit(main())
