"""Reading and checking an AuthnRequest (Swedish eID deployment profile §5, "profile" below).

The checks come in two kinds, in this order:

1. Before anything may be sent back: the message decodes and parses (no DTD, bounded size and
   inflation), its issuer is a registered application, the answer address is in that
   application's metadata (§5.4.2), and ``Destination`` is this endpoint (§5.4.1). A failure is
   a refusal page (:class:`~satosa_efos.errors.BadSamlMessage` and friends): no Response goes
   to an address the proxy has not verified, nor to an application the request was not for.
2. After that, a failure is a signed error Response to the verified address
   (:mod:`satosa_efos.saml.status`): signature (§5.2, §8), age, NameIDPolicy (§3), requested
   authentication context (§5.3.1, §5.4.4).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import zlib
from dataclasses import dataclass

from lxml import etree
from saml2.samlp import AuthnRequest, authn_request_from_string
from saml2.validate import NotValid, valid_instance

from satosa_efos.errors import BadSamlMessage, ProxyError
from satosa_efos.identity.loa import LoA, UnknownLoa, contract
from satosa_efos.saml.signature import (
    BadSignature,
    redirect_signature,
    verify_post,
    verify_redirect,
)
from satosa_efos.saml.sp_metadata import HTTP_POST, Endpoint, SpMetadata
from satosa_efos.saml.status import (
    NoAuthnContext,
    RequestDenied,
    RequestUnsupported,
    VersionMismatch,
)
from satosa_efos.xmlsec import policy as xml

HTTP_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
EXACT = "exact"

#: A real AuthnRequest is a few kB; these bound what an attacker can make the proxy hold.
MAX_ENCODED = 64 * 1024
MAX_XML = 128 * 1024


class UnknownAcs(ProxyError):
    """The requested answer address is not the application's (profile §5.4.2)."""

    code, status = "unknown_acs", 400


class WrongDestination(ProxyError):
    """The request was meant for another address (profile §5.4.1)."""

    code, status = "wrong_destination", 400


@dataclass(frozen=True)
class ReceivedRequest:
    """A decoded, parsed AuthnRequest and how it came."""

    xml: bytes
    root: etree._Element
    message: AuthnRequest
    binding: str
    relay_state: str | None
    redirect_values: dict[str, str]
    raw_query: str | None

    @property
    def id(self) -> str:
        return self.root.get("ID", "")

    @property
    def issuer(self) -> str | None:
        element = self.root.find(f"{{{SAML}}}Issuer")
        text = (element.text or "").strip() if element is not None else ""
        return text or None


# -- 1. decode and parse ----------------------------------------------------------------------


def message_bytes(
    binding: str, values: dict[str, str], field: str, error: type[Exception]
) -> bytes:
    """The XML of ``field`` (SAMLRequest / SAMLResponse) as sent in either binding, bounded:
    base64, and for HTTP-Redirect DEFLATE without a zlib header (bindings §3.4.4.1) inflated at
    most to MAX_XML (no zip bomb). Any problem is ``error`` with a reason."""
    encoded = values.get(field)
    if not encoded:
        raise error(f"no {field} in the request")
    if len(encoded) > MAX_ENCODED:
        raise error(f"{field} is longer than {MAX_ENCODED} characters")
    try:
        data = base64.b64decode("".join(encoded.split()), validate=True)
    except (binascii.Error, ValueError):
        raise error(f"{field} is not base64") from None
    if binding == HTTP_REDIRECT:
        try:
            inflater = zlib.decompressobj(-15)
            data = inflater.decompress(data, MAX_XML + 1)
        except zlib.error:
            raise error(f"{field} is not DEFLATE-encoded") from None
        if len(data) > MAX_XML or inflater.unconsumed_tail:
            raise error(f"{field} inflates to more than {MAX_XML} bytes")
    if len(data) > MAX_XML:
        raise error(f"{field} is longer than {MAX_XML} bytes")
    return data


def decode(binding: str, values: dict[str, str], raw_query: str | None) -> ReceivedRequest:
    """The AuthnRequest of an HTTP-Redirect (deflated) or HTTP-POST message; BadSamlMessage."""
    data = message_bytes(binding, values, "SAMLRequest", BadSamlMessage)
    try:
        root = xml.parse(data)
    except xml.SignatureRefused as exc:  # the policy parser's refusal type: DTD, not XML
        raise BadSamlMessage(f"AuthnRequest refused: {exc.detail}") from None
    if root.tag != f"{{{SAMLP}}}AuthnRequest":
        raise BadSamlMessage(f"{root.tag} is not an AuthnRequest")
    try:
        message = authn_request_from_string(data)
        valid_instance(message)
    except (NotValid, ValueError, TypeError, AttributeError, etree.Error) as exc:
        raise BadSamlMessage(f"AuthnRequest is not valid: {type(exc).__name__}: {exc}") from None
    if message is None or not root.get("ID"):
        raise BadSamlMessage("AuthnRequest without an ID")
    relay_state = values.get("RelayState") or None
    return ReceivedRequest(data, root, message, binding, relay_state, dict(values), raw_query)


# -- 1. where the answer may go -----------------------------------------------------------------


def answer_address(request: ReceivedRequest, sp: SpMetadata) -> Endpoint:
    """The ACS to answer at: the requested one if it is exactly one of the application's
    HTTP-POST ACSs, else (none requested) the default one (profile §5.4.2; SAML core §3.4.1).

    ``AssertionConsumerServiceURL`` is compared as a string: "URL canonicalization or
    normalization MUST NOT be required" (§5.3). ``AssertionConsumerServiceIndex`` must not be
    sent (§5.3), but one that names an HTTP-POST ACS of the metadata is honoured (SAML core
    §3.4.1); with both or with another ``ProtocolBinding`` the request is refused.
    """
    url = request.root.get("AssertionConsumerServiceURL")
    index = request.root.get("AssertionConsumerServiceIndex")
    binding = request.root.get("ProtocolBinding")
    if url is not None and index is not None:
        raise UnknownAcs("AssertionConsumerServiceURL and …Index are mutually exclusive")
    if binding is not None and binding != HTTP_POST:
        raise UnknownAcs(f"ProtocolBinding {binding}: the proxy answers with HTTP-POST only")
    if url is not None:
        for endpoint in sp.post_acs:
            if endpoint.location == url:
                return endpoint
        raise UnknownAcs(f"AssertionConsumerServiceURL {url!r} is not in {sp.entity_id}'s metadata")
    if index is not None:
        for endpoint in sp.post_acs:
            if endpoint.index is not None and str(endpoint.index) == index.strip():
                return endpoint
        raise UnknownAcs(f"no HTTP-POST AssertionConsumerService with index {index!r}")
    default = sp.default_post_acs()
    if default is None:
        raise UnknownAcs(f"{sp.entity_id}'s metadata has no HTTP-POST AssertionConsumerService")
    return default


def check_destination(request: ReceivedRequest, endpoint_url: str) -> None:
    """Profile §5.4.1: ``Destination`` present and this very endpoint (SAML bindings §3.4.5.2,
    §3.5.5.2: "the recipient MUST then verify that the value matches the location at which the
    message has been received")."""
    destination = request.root.get("Destination")
    if destination is None:
        raise WrongDestination("the AuthnRequest has no Destination (profile §5.4.1)")
    if destination != endpoint_url:
        raise WrongDestination(f"Destination {destination!r} is not {endpoint_url!r}")


# -- 2. answered with an error Response -------------------------------------------------------


def check_signature(request: ReceivedRequest, sp: SpMetadata, required: bool, crypto) -> bool:
    """Profile §5.2: a present signature is verified whether or not one is required; a required
    one must be present. RequestDenied otherwise. True when the request was signed."""
    try:
        if request.binding == HTTP_REDIRECT:
            signed = redirect_signature(request.raw_query, request.redirect_values)
            if signed is not None:
                verify_redirect(signed, sp.signing_certificates)
        else:
            signed = request.root.find(f"{{{xml.DS}}}Signature") is not None
            if signed:
                verify_post(request.xml, request.id, sp.signing_certificates, crypto)
    except BadSignature as exc:
        raise RequestDenied(f"the AuthnRequest signature is not accepted: {exc}") from None
    if required and not signed:
        raise RequestDenied("the AuthnRequest must be signed")
    return bool(signed)


def check_age(request: ReceivedRequest, now: dt.datetime, max_age: int, skew: int) -> None:
    """Version 2.0, and IssueInstant neither in the future nor older than ``max_age`` seconds
    (each with ``skew`` seconds of clock difference; pysaml2 alone would allow a whole day)."""
    if request.root.get("Version") != "2.0":
        raise VersionMismatch(f"SAML version {request.root.get('Version')!r}; 2.0 is supported")
    try:
        issued = dt.datetime.fromisoformat(
            request.root.get("IssueInstant", "").replace("Z", "+00:00")
        )
    except ValueError:
        raise RequestDenied("IssueInstant is not a time") from None
    if issued.tzinfo is None:
        issued = issued.replace(tzinfo=dt.UTC)
    if issued > now + dt.timedelta(seconds=skew):
        raise RequestDenied("IssueInstant is in the future")
    if issued < now - dt.timedelta(seconds=max_age + skew):
        raise RequestDenied(f"the AuthnRequest is older than {max_age} seconds")


def loa_contract(request: ReceivedRequest, required_loa: LoA) -> dict[str, list[str]]:
    """The login's LoA contract (:data:`satosa_efos.state_keys.REQUESTED_LOA`).

    Profile §5.3.1 (and Sambi's rule, DOMAIN.md §3): Comparison absent or ``exact``, else
    Requester/RequestUnsupported (the request uses what the profile forbids); every
    AuthnContextClassRef a level this proxy knows, else Requester/NoAuthnContext (§5.4.4: "no
    requested authentication context is supported"); an AuthnContextDeclRef is not supported.
    Nothing requested: the application's ``required_loa``.
    """
    requested = request.message.requested_authn_context
    if requested is None:
        return contract([], required_loa)
    comparison = requested.comparison or EXACT
    if comparison != EXACT:
        raise RequestUnsupported(f"Comparison {comparison!r}: only 'exact' is supported")
    if requested.authn_context_decl_ref:
        raise RequestUnsupported("AuthnContextDeclRef is not supported")
    uris = [ref.text.strip() for ref in requested.authn_context_class_ref or [] if ref.text]
    if not uris:
        raise NoAuthnContext("RequestedAuthnContext names no AuthnContextClassRef")
    try:
        return contract(list(dict.fromkeys(uris)), required_loa)
    except UnknownLoa as exc:
        raise NoAuthnContext(
            f"AuthnContextClassRef {exc} is not a level of assurance here"
        ) from None


def attribute_consuming_index(request: ReceivedRequest, sp: SpMetadata) -> int | None:
    """The AttributeConsumingServiceIndex, if any, naming one of the metadata's services."""
    index = request.root.get("AttributeConsumingServiceIndex")
    if index is None:
        return None
    try:
        number = int(index)
    except ValueError:
        raise RequestUnsupported(f"AttributeConsumingServiceIndex {index!r}") from None
    if sp.attribute_consuming_service(number) is None:
        raise RequestUnsupported(f"no AttributeConsumingService with index {number}")
    return number
