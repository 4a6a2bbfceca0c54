"""Client of the national HSA web service GetCredentialsForPersonIncludingProtectedPerson v2.

The service (RIV TA, profile RIVTABP21: SOAP 1.1, document/literal, mutual TLS with a SITHS
function certificate) returns a person's authorisation data: their commissions with care unit and
care provider, system roles, position codes. :class:`RivDirectory` answers the project's
:class:`~.model.Directory` question with it, so the SATOSA micro-service cannot tell it from the
LDAP or in-memory directory.

Source: *Tjänstekontraktsbeskrivning infrastructure:directory:authorizationmanagement* (TKB,
Inera, version 2.4.5, 2025-04-30), contract version 2.2, §6.1 (field rules, rules \\*1-\\*5,
logical errors), §3.2 (addressing), §4.3 (error handling). The TKB was read as text; the
contract's XSD and WSDL files (``GetCredentialsForPersonIncludingProtectedPersonResponder_2.2
.xsd``, ``..._2.1_ext.xsd``, ``infrastructure_directory_authorizationmanagement_2.4.xsd``,
``GetCredentialsForPersonIncludingProtectedPersonInteraction_2.2_RIVTABP21.wsdl``) were not
available. What that leaves unconfirmed is marked UNCONFIRMED below.

Request (``GetCredentialsForPersonIncludingProtectedPerson``, responder namespace):

=========================  =====  ==========================================================
``personHsaId``            0..1   exactly one of these two (rule \\*1; both: SOAP fault)
``personalIdentityNumber`` 0..1   ← :func:`~.model.lookup_key`; ``mail`` is no key here
``searchBase``             0..1   DN, absent means ``c=SE``       ← ``search_base``
``includeFeignedObject``   0..1   absent means false              ← ``include_feigned``
``profile``                0..1   only ``extended1``: also return ``personalIdentity``
=========================  =====  ==========================================================

Response (``...Response``): ``credentialInformation`` 0..n, one per HSA-id of the person (rule
\\*2: a person entered in several organisations' branches has several HSA-ids). Each maps to a
:class:`~.model.Person`:

==========================================  ======================================
``personHsaId`` 1..1                        ``hsa_id``
``givenName`` 0..1                          ``given_name`` (required by the model: a
                                            person without one is an ``HsaDataError``)
``middleAndSurName`` 1..1                   ``surname`` (middle names included)
``healthCareProfessionalLicence`` 0..n      ``hsa_titles`` (HSA ``hsaTitle``)
``personalIdentity`` {root, extension} 0..1 ``personal_identity_number`` (only with
                                            ``extended1``; for a personnummer query the
                                            queried number when absent)
``hsaSystemRole`` {systemId, role} 0..n     ``system_roles``
``paTitleCode`` 0..n                        ``pa_title_codes``
``protectedPerson`` 0..1 (true or absent)   ``protected``
``feignedPerson`` 0..1                      ``feigned``
``commission`` 0..n                         ``commissions``:
  ``commissionHsaId``/``Name``/``Purpose``  ``hsa_id``, ``name``, ``purpose``
  ``commissionRight`` {activity,            ``rights``
  informationClass, scope} 0..n
  ``healthCareUnitHsaId``/``Name`` 0..1     ``health_care_unit_*`` (absent when the
                                            commission sits directly under the care
                                            provider, rule \\*3: such a commission is
                                            left out, as the model needs a unit)
  ``healthCareProviderHsaId``/``Name``/     ``health_care_provider_*``
  ``OrgNo`` 1..1
  ``feignedCommission``, ``feignedHealth    ``feigned`` (any of them)
  CareUnit``, ``feignedHealthCareProvider``
  ``archivedHealthCareUnit``, ``archived    ``archived`` (any of them; the contract has
  HealthCareProvider``                      no ``archivedCommission``)
==========================================  ======================================

Read past (no place in the model): ``healthCareProfessionalLicenceCode``,
``healthCareProfessionalLicenceSpeciality``, ``occupationalCode``,
``healthcareProfessionalLicenseIdentityNumber``, ``personalPrescriptionCode``,
``groupPrescriptionCode``, ``nursePrescriptionRight``, ``pharmacyIdentifier`` and the unit and
provider start and end dates. **Not carried by the service at all**: ``mail``, ``title`` and
``displayName`` (those are in ``infrastructure:directory:employee`` GetEmployee...), so a
:class:`~.model.Person` from here has ``mail``, ``title`` and ``display_name`` ``None``.

UNCONFIRMED (no XSD seen):

* namespaces: the request's and response's own children are sent and expected in the responder
  namespace, the person and commission fields in ``urn:riv:infrastructure:directory:
  authorizationmanagement:2``. Fields added after 2.0 live in RIV TA extension namespaces: the
  contract ships ``..._2.1_ext.xsd`` and an Inera application's JAXB context lists
  ``...Responder:2.1`` and ``...authorizationmanagement:2.1``/``2.2``/``2.3``. ``profile`` is
  therefore sent in ``...Responder:2.1`` (:data:`NS_RESPONDER_EXT`); answers are read by local
  name within the ``urn:riv:infrastructure:directory:authorizationmanagement:`` namespaces, so
  their exact namespaces do not matter;
* element order: the request's elements are sent in the TKB table's order;
* SOAPAction: ``<responder namespace>:GetCredentialsForPersonIncludingProtectedPerson``, the
  RIVTABP21 convention seen in the WSDLs of sibling contracts, not in this contract's WSDL.

Failures: the TKB says technical errors come as a SOAP fault, HTTP 403 (consumer not allowed) or
503, or no answer at all (§4.3). All of these, TLS and connection failures, timeouts and answers
that are not a SOAP envelope become :class:`~.model.DirectoryUnavailable` with a short detail
that never holds a personnummer; values that break the model become
:class:`~.model.HsaDataError`.
"""

from __future__ import annotations

import logging
import re
import ssl
import time
from dataclasses import replace
from pathlib import Path

import requests
from lxml import etree
from urllib3.util import Timeout

from satosa_efos.identity import IdentifierError, normalise_personnummer, redact_personnummer
from satosa_efos.identity.errors import shown

from .model import (
    Commission,
    DirectoryUnavailable,
    HsaDataError,
    Person,
    Right,
    SystemRole,
    lookup_key,
)

__all__ = [
    "MAX_ANSWER_BYTES",
    "NS_REGISTRY",
    "NS_RESPONDER",
    "NS_RESPONDER_EXT",
    "NS_SOAP",
    "NS_TYPES",
    "NS_TYPES_EXT",
    "OPERATION",
    "PERSONAL_IDENTITY_ROOTS",
    "PROFILE_EXTENDED",
    "SOAP_ACTION",
    "RivDirectory",
    "XmlRefused",
    "parse_xml",
]

logger = logging.getLogger(__name__)

NS_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
#: RIVTABP21 routing header (``LogicalAddress``).
NS_REGISTRY = "urn:riv:itintegration:registry:1"
NS_DOMAIN = "urn:riv:infrastructure:directory:authorizationmanagement:"
OPERATION = "GetCredentialsForPersonIncludingProtectedPerson"
NS_RESPONDER = f"{NS_DOMAIN}{OPERATION}Responder:2"
#: UNCONFIRMED: the extension namespace of ``profile`` (see the module docstring).
NS_RESPONDER_EXT = f"{NS_RESPONDER}.1"
NS_TYPES = f"{NS_DOMAIN}2"
#: UNCONFIRMED: the extension namespace of ``personalIdentity`` (the simulator uses it).
NS_TYPES_EXT = f"{NS_DOMAIN}2.1"
SOAP_ACTION = f"{NS_RESPONDER}:{OPERATION}"
#: The only ``profile`` the TKB defines: the answer also carries ``personalIdentity``.
PROFILE_EXTENDED = "extended1"
#: ``personalIdentity/root`` (TKB §6.1): personnummer and samordningsnummer.
PERSONAL_IDENTITY_ROOTS = ("1.2.752.129.2.1.3.1", "1.2.752.129.2.1.3.3")
#: A person with 199 commissions (the TKB's largest SLA class) is about 400 KB; ten times that.
MAX_ANSWER_BYTES = 4 * 1024 * 1024

_CHUNK = 16 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_REASONS = (
    re.compile(r"\[SSL: [A-Z0-9_]+\][^'\"()]*"),
    re.compile(r"EOF occurred in violation of protocol"),
    re.compile(r"\[Errno -?\d+\][^'\"()]*"),
    re.compile(r"Connection (?:refused|reset by peer|aborted)|timed out"),
)


class XmlRefused(ValueError):
    """XML this project will not read: too large, not well-formed, or with a DTD or entities.

    DESIGN.md §7: a DTD can declare entities that expand to gigabytes or read local files, and no
    message of these protocols needs one, so it is refused rather than defused.
    """


def parse_xml(data: bytes, *, max_bytes: int = MAX_ANSWER_BYTES) -> etree._Element:
    """Parse ``data`` with a parser that loads nothing and expands nothing; refuse DTDs.

    Shared by the client (answers) and the simulator (requests). A new parser per call: lxml
    parsers keep state and are not safe to share between threads.
    """
    if not isinstance(data, bytes):
        raise TypeError("parse_xml takes bytes")
    if len(data) > max_bytes:
        raise XmlRefused(f"XML larger than {max_bytes} bytes")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_pis=True,
        collect_ids=False,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as error:
        raise XmlRefused(f"not well-formed XML ({shown(str(error))})") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XmlRefused("XML with a document type declaration (DTD) is refused")
    if next(root.iter(etree.Entity), None) is not None:
        raise XmlRefused("XML with entity references is refused")
    return root


class RivDirectory:
    """A :class:`~.model.Directory` asking the national HSA web service over mutual TLS.

    One ``requests.Session`` per directory keeps the TLS connection open between lookups when the
    service allows it, so only the first lookup pays for the handshake (the simulator closes
    every connection, so each of its lookups includes one). ``trust_env`` is off: otherwise
    ``REQUESTS_CA_BUNDLE`` in the environment would silently replace the pinned ``ca_file`` and
    proxy variables would reroute personal data.

    ``timeout`` bounds the whole call (connect, send and the complete answer); reading the answer
    checks the deadline between chunks. ``profile="extended1"`` asks for the person's
    personnummer, which the service otherwise leaves out (TKB rule \\*5).
    """

    def __init__(
        self,
        *,
        url: str,
        logical_address: str,
        cert_file: str | Path,
        key_file: str | Path,
        ca_file: str | Path,
        timeout: float = 3.0,
        include_feigned: bool = False,
        search_base: str | None = None,
        profile: str | None = None,
    ) -> None:
        if not isinstance(url, str) or not url.startswith("https://"):
            raise ValueError(f"url must be an https:// URL, got {shown(url)}")
        for name, value in (("logical_address", logical_address), ("search_base", search_base)):
            if (value is not None or name == "logical_address") and (
                not isinstance(value, str) or not value.strip() or _CONTROL.search(value)
            ):
                raise ValueError(f"{name} must be non-empty text, got {shown(value)}")
        _check_tls_files(cert_file, key_file, ca_file)
        if not isinstance(timeout, int | float) or not 0 < timeout <= 60:
            raise ValueError(
                f"timeout must be a number of seconds in (0, 60], got {shown(timeout)}"
            )
        if profile not in (None, PROFILE_EXTENDED):
            raise ValueError(f"profile must be {PROFILE_EXTENDED!r} or None, got {shown(profile)}")
        self.url = url
        self.logical_address = logical_address.strip()
        self.search_base = search_base.strip() if search_base else None
        self.timeout = float(timeout)
        self.include_feigned = bool(include_feigned)
        self.profile = profile
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.cert = (str(cert_file), str(key_file))
        self.session.verify = str(ca_file)
        self.session.headers.update(
            {
                "Content-Type": "text/xml; charset=UTF-8",
                # SOAP 1.1 §6.1.1: the header's value is a quoted URI.
                "SOAPAction": f'"{SOAP_ACTION}"',
                "Accept": "text/xml",
            }
        )

    def find_person(
        self,
        *,
        hsa_id: str | None = None,
        personal_identity_number: str | None = None,
        mail: str | None = None,
    ) -> Person | None:
        """Return the person with this HSA-id or personnummer, or None if the service has none.

        ``mail`` raises ``ValueError`` (the service has no such key), so a caller holding several
        identifiers moves on to its next one, as for any malformed query.
        """
        kind, value = lookup_key(
            hsa_id=hsa_id, personal_identity_number=personal_identity_number, mail=mail
        )
        if kind == "mail":
            raise ValueError("the HSA web service looks people up by HSA-id or personnummer only")
        started = time.monotonic()
        answer = self._call(self._request(kind, value))
        people = [_person(element) for element in _credentials(answer)]
        person = _one_person(people, kind, value)
        logger.debug(
            "HSA web service: %s lookup answered in %.0f ms (%s)",
            kind,
            (time.monotonic() - started) * 1000,
            "found" if person else "not found",
        )
        if person is not None and person.feigned and not self.include_feigned:
            # includeFeignedObject=false was sent; a feigned person must not log in anyway.
            logger.warning("HSA web service returned feigned person %s unasked", person.hsa_id)
            return None
        return person

    # -- the SOAP call --

    def _request(self, kind: str, value: str) -> bytes:
        """The SOAP envelope, built with lxml: values are never formatted into XML text."""
        envelope = etree.Element(
            _q(NS_SOAP, "Envelope"),
            nsmap={"soapenv": NS_SOAP, "add": NS_REGISTRY, "urn": NS_RESPONDER},
        )
        header = etree.SubElement(envelope, _q(NS_SOAP, "Header"))
        etree.SubElement(header, _q(NS_REGISTRY, "LogicalAddress")).text = self.logical_address
        body = etree.SubElement(envelope, _q(NS_SOAP, "Body"))
        request = etree.SubElement(body, _q(NS_RESPONDER, OPERATION))
        key = "personHsaId" if kind == "hsa_id" else "personalIdentityNumber"
        etree.SubElement(request, _q(NS_RESPONDER, key)).text = value
        if self.search_base:
            etree.SubElement(request, _q(NS_RESPONDER, "searchBase")).text = self.search_base
        feigned = "true" if self.include_feigned else "false"
        etree.SubElement(request, _q(NS_RESPONDER, "includeFeignedObject")).text = feigned
        if self.profile:
            extension = etree.SubElement(
                request, _q(NS_RESPONDER_EXT, "profile"), nsmap={"ext": NS_RESPONDER_EXT}
            )
            extension.text = self.profile
        return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")

    def _call(self, body: bytes) -> etree._Element:
        """POST the envelope; return the answer element or raise ``DirectoryUnavailable``."""
        deadline = time.monotonic() + self.timeout
        try:
            # total=: urllib3 gives the read the time the connect left, so the wait for the
            # answer's first byte ends at the deadline too.
            response = self.session.post(
                self.url,
                data=body,
                timeout=Timeout(total=self.timeout),
                stream=True,
                allow_redirects=False,
            )
            try:
                content = _read_answer(response, deadline, self.timeout)
            finally:
                response.close()
        except requests.Timeout:
            raise DirectoryUnavailable(f"no answer within {self.timeout:g} s") from None
        except requests.exceptions.SSLError as error:
            raise DirectoryUnavailable(f"TLS failure: {_reason(error)}") from None
        except requests.ConnectionError as error:
            raise DirectoryUnavailable(f"connection failed: {_reason(error)}") from None
        except requests.RequestException as error:
            raise DirectoryUnavailable(f"request failed: {type(error).__name__}") from None
        return _answer(response.status_code, content)


def _check_tls_files(cert_file: str | Path, key_file: str | Path, ca_file: str | Path) -> None:
    """Load the certificates once at start: a missing file, a key that does not match its
    certificate or a CA file without certificates is configuration, and must not surface at the
    first login as an "HSA unavailable" page."""
    for name, path in (("cert_file", cert_file), ("key_file", key_file), ("ca_file", ca_file)):
        if not Path(path).is_file():
            raise ValueError(f"{name} {shown(str(path))} is not a file")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_cert_chain(cert_file, key_file)
    except (ssl.SSLError, OSError) as error:
        raise ValueError(f"cert_file and key_file are not a certificate and its key: {error}")
    try:
        context.load_verify_locations(cafile=ca_file)
    except (ssl.SSLError, OSError) as error:
        raise ValueError(f"ca_file {shown(str(ca_file))} holds no CA certificate: {error}")


# --- reading the answer -----------------------------------------------------------------------


def _read_answer(response: requests.Response, deadline: float, timeout: float) -> bytes:
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > MAX_ANSWER_BYTES:
        raise DirectoryUnavailable(f"answer larger than {MAX_ANSWER_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(_CHUNK):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise DirectoryUnavailable(f"answer larger than {MAX_ANSWER_BYTES} bytes")
        if time.monotonic() > deadline:
            raise DirectoryUnavailable(f"no complete answer within {timeout:g} s")
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(status: int, content: bytes) -> etree._Element:
    """The operation's answer element from an HTTP answer, or ``DirectoryUnavailable``."""
    try:
        root = parse_xml(content) if content.strip() else None
    except XmlRefused as error:
        if status != 200:
            raise DirectoryUnavailable(f"HTTP {status}") from None
        raise DirectoryUnavailable(f"answer refused: {_loggable(str(error))}") from None
    if root is None:
        raise DirectoryUnavailable(f"HTTP {status} without a body")
    if root.tag != _q(NS_SOAP, "Envelope"):
        raise DirectoryUnavailable(f"HTTP {status}: answer is not a SOAP 1.1 envelope")
    body = root.find(_q(NS_SOAP, "Body"))
    children = [] if body is None else [child for child in body if isinstance(child.tag, str)]
    if len(children) != 1:
        raise DirectoryUnavailable(f"HTTP {status}: SOAP body without exactly one element")
    element = children[0]
    if element.tag == _q(NS_SOAP, "Fault"):
        # SOAP 1.1 fault children are unqualified. The service may echo the query (redacted)
        # and the detail goes to a log (control characters could forge lines).
        code, text = (
            _loggable(element.findtext(name, "")) for name in ("faultcode", "faultstring")
        )
        raise DirectoryUnavailable(f"SOAP fault {code[:60]}: {text[:200]}")
    if status != 200:
        raise DirectoryUnavailable(f"HTTP {status}")
    if element.tag != _q(NS_RESPONDER, f"{OPERATION}Response"):
        raise DirectoryUnavailable(f"unexpected answer element {shown(element.tag)}")
    return element


def _credentials(answer: etree._Element) -> list[etree._Element]:
    return _elements(answer, "credentialInformation")


def _person(element: etree._Element) -> Person:
    """One ``credentialInformation`` as a :class:`Person` (see the module docstring's table)."""
    hsa_id = _text(element, "personHsaId", required=True)
    given_name = _text(element, "givenName")
    if given_name is None:
        raise HsaDataError(f"person {hsa_id} has no givenName in the answer; the model needs one")
    identities = _elements(element, "personalIdentity")
    if len(identities) > 1:
        raise HsaDataError(f"person {hsa_id} has {len(identities)} personalIdentity elements")
    commissions = []
    for commission in _elements(element, "commission"):
        parsed = _commission(commission, hsa_id)
        if parsed is not None:
            commissions.append(parsed)
    return Person(
        hsa_id=hsa_id,
        personal_identity_number=_personal_identity(identities[0], hsa_id) if identities else None,
        given_name=given_name,
        surname=_text(element, "middleAndSurName", required=True),
        hsa_titles=tuple(_texts(element, "healthCareProfessionalLicence")),
        pa_title_codes=tuple(_texts(element, "paTitleCode")),
        system_roles=tuple(
            SystemRole(_text(role, "systemId", required=True), _text(role, "role", required=True))
            for role in _elements(element, "hsaSystemRole")
        ),
        protected=_flag(element, "protectedPerson"),
        feigned=_flag(element, "feignedPerson"),
        commissions=tuple(_unique(commissions, hsa_id)),
    )


def _personal_identity(element: etree._Element, hsa_id: str) -> str:
    root = _text(element, "root", required=True)
    if root not in PERSONAL_IDENTITY_ROOTS:
        raise HsaDataError(f"person {hsa_id}: personalIdentity root {shown(root)} is unknown")
    try:
        return normalise_personnummer(_text(element, "extension", required=True))
    except IdentifierError:  # its message holds the number: leave it out
        raise HsaDataError(
            f"person {hsa_id}: personalIdentity is not a valid personnummer"
        ) from None


def _commission(element: etree._Element, person: str) -> Commission | None:
    hsa_id = _text(element, "commissionHsaId", required=True)
    unit_id = _text(element, "healthCareUnitHsaId")
    unit_name = _text(element, "healthCareUnitName")
    if unit_id is None and unit_name is None:
        # Rule *3: directly under the care provider. The model (and the Sambi attributes) need a
        # care unit; leaving it out refuses that commission only, rather than the whole login.
        logger.warning(
            "HSA web service: commission %s of %s has no care unit; left out", hsa_id, person
        )
        return None
    if unit_id is None or unit_name is None:
        raise HsaDataError(f"commission {hsa_id} has a care unit HSA-id or name but not both")
    return Commission(
        hsa_id=hsa_id,
        name=_text(element, "commissionName", required=True),
        purpose=_text(element, "commissionPurpose", required=True),
        rights=tuple(
            Right(
                _text(right, "activity", required=True),
                _text(right, "informationClass", required=True),
                _text(right, "scope", required=True),
            )
            for right in _elements(element, "commissionRight")
        ),
        health_care_unit_hsa_id=unit_id,
        health_care_unit_name=unit_name,
        health_care_provider_hsa_id=_text(element, "healthCareProviderHsaId", required=True),
        health_care_provider_name=_text(element, "healthCareProviderName", required=True),
        health_care_provider_org_no=_text(element, "healthCareProviderOrgNo"),
        feigned=any(
            _flag(element, name)
            for name in ("feignedCommission", "feignedHealthCareUnit", "feignedHealthCareProvider")
        ),
        archived=any(
            _flag(element, name)
            for name in ("archivedHealthCareUnit", "archivedHealthCareProvider")
        ),
    )


def _unique(commissions: list[Commission], person: str) -> list[Commission]:
    """Drop exact repeats; the same commission HSA-id with other values is a data error."""
    seen: dict[str, Commission] = {}
    for commission in commissions:
        earlier = seen.setdefault(commission.hsa_id, commission)
        if earlier != commission:
            raise HsaDataError(
                f"person {person}: commission {commission.hsa_id} answered twice, differently"
            )
    return list(seen.values())


def _one_person(people: list[Person], kind: str, value: str) -> Person | None:
    """Merge the ``credentialInformation`` of one HSA-id; several HSA-ids cannot be one Person.

    The TKB (rule \\*2) answers a personnummer query with one ``credentialInformation`` per
    HSA-id the person has. The model holds one HSA-id per person, so that answer is refused as an
    ``HsaDataError`` rather than one of the HSA-ids being picked silently.
    """
    if not people:
        return None
    hsa_ids = sorted({person.hsa_id for person in people})
    if kind == "hsa_id" and hsa_ids != [value]:
        raise HsaDataError(f"asked for {value}, the answer is about {', '.join(hsa_ids)}")
    if len(hsa_ids) > 1:
        raise HsaDataError(
            f"the personnummer belongs to {len(hsa_ids)} HSA-ids ({', '.join(hsa_ids)}); "
            "one person with several HSA-ids is not supported"
        )
    first = people[0]
    for other in people[1:]:
        if replace(other, commissions=()) != replace(first, commissions=()):
            raise HsaDataError(f"person {first.hsa_id} answered twice with different values")
    commissions = _unique([c for person in people for c in person.commissions], first.hsa_id)
    person = replace(first, commissions=tuple(commissions))
    if kind == "personal_identity_number":
        if person.personal_identity_number is None:
            # Found by this number (without profile extended1 the answer does not repeat it).
            person = replace(person, personal_identity_number=value)
        elif person.personal_identity_number != value:
            raise HsaDataError(
                f"asked for a personnummer, the answer about {person.hsa_id} has another"
            )
    return person


# --- small XML helpers ------------------------------------------------------------------------


def _q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def _elements(parent: etree._Element, name: str) -> list[etree._Element]:
    """Children called ``name`` in any authorizationmanagement namespace (see UNCONFIRMED)."""
    found = []
    for child in parent:
        if not isinstance(child.tag, str):
            continue  # comments
        qname = etree.QName(child)
        if qname.localname == name and (qname.namespace or "").startswith(NS_DOMAIN):
            found.append(child)
    return found


def _texts(parent: etree._Element, name: str) -> list[str]:
    values = []
    for element in _elements(parent, name):
        if len(element):
            raise HsaDataError(f"{name} must be text, not elements")
        text = (element.text or "").strip()
        if not text:
            raise HsaDataError(f"{name} is empty")
        values.append(text)
    return values


def _text(parent: etree._Element, name: str, *, required: bool = False) -> str | None:
    values = _texts(parent, name)
    if len(values) > 1:
        raise HsaDataError(f"{name} appears {len(values)} times, at most once allowed")
    if not values:
        if required:
            raise HsaDataError(f"{name} is missing")
        return None
    return values[0]


def _flag(parent: etree._Element, name: str) -> bool:
    """An optional ``xs:boolean``: absent is false; anything but the four lexical forms is bad."""
    value = _text(parent, name)
    if value is None or value in ("false", "0"):
        return False
    if value in ("true", "1"):
        return True
    raise HsaDataError(f"{name} {shown(value)} is not an xs:boolean")


def _loggable(text: str) -> str:
    """Untrusted text for a log line: no personnummer, no control characters."""
    return _CONTROL.sub(" ", redact_personnummer(text)).strip()


def _reason(error: Exception) -> str:
    """A short, personnummer-free reason from a requests exception: the OpenSSL or OS error.

    ``str(error)`` holds urllib3's whole retry story; operators need the last line of it, e.g.
    ``[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: ...`` or ``[Errno 111]
    Connection refused``.
    """
    text = str(error)
    for pattern in _REASONS:
        found = pattern.search(text)
        if found:
            return found.group(0).strip()
    cause = getattr(error.args[0], "reason", None) if error.args else None
    return type(cause or error).__name__
