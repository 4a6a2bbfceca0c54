"""The proxy's SAML IdP towards applications: SATOSA's SAMLFrontend, driven by the registry.

Applications are connected in ``applications.yaml`` only: their metadata files and release
lists come from there. SATOSA's SAMLFrontend still gives the endpoints (``<backend>/sso/post``
and ``/sso/redirect``), the metadata URL and pysaml2's ``Server`` with its keys and crypto
backend; the rules of the Swedish eID deployment profile and Sambi are this project's own,
because stock SATOSA 8.6 / pysaml2 7.5 do not keep them (docs/saml.md, with the section of the
profile for each):

- the request: :mod:`satosa_efos.saml.request` — what cannot be answered safely (unreadable,
  unknown application, an answer address not in its metadata, another ``Destination``) gets a
  refusal page; everything after that (signature, age, NameIDPolicy, requested LoA) gets a
  signed error Response at the verified address;
- the LoA contract goes into the state (:data:`~satosa_efos.state_keys.REQUESTED_LOA`) for
  routing and the backends, which report the login's LoA as the internal value;
- the answer: :mod:`satosa_efos.saml.response` — signed Response and Assertion, the whole
  assertion encrypted when the application has an encryption key (AES, RSA-OAEP), a pairwise
  persistent NameID (:mod:`satosa_efos.saml.subject`), exactly the released attributes under the
  application's profile's names (:mod:`satosa_efos.saml.attributes`);
- a login that ends without a user (:class:`~satosa_efos.failures.LoginFailed`, any SATOSA
  authentication error) is answered with a status, never with a page.

Configuration (``config`` of the plugin file): SATOSA's SAMLFrontend settings, plus
:class:`SamlIdpSettings`.
"""

from __future__ import annotations

import copy
import datetime as dt
import ipaddress
import logging
from pathlib import Path

from cryptography import x509
from pydantic import BaseModel, ConfigDict, Field, field_validator
from satosa.context import Context
from satosa.exception import SATOSAAuthenticationError, SATOSAMissingStateError
from satosa.frontends.saml2 import SAMLFrontend
from satosa.internal import InternalData
from satosa.response import Response

from satosa_efos import attributemaps
from satosa_efos.config.models import Application
from satosa_efos.config.registries import cached_registries
from satosa_efos.errors import ProxyError, UnknownApplication
from satosa_efos.failures import LoginFailed, Reason
from satosa_efos.frontends.saml_slo import saml_logout_endpoints
from satosa_efos.identity.loa import answer_uri, parse_loa
from satosa_efos.saml import request as checks
from satosa_efos.saml.attributes import (
    PROFILES,
    released,
    requested_internal_names,
    wire_attributes,
    wire_names,
)
from satosa_efos.saml.response import (
    Authentication,
    EncryptionTarget,
    NameId,
    Recipient,
    ResponseBuilder,
    choose_data_encryption,
    post_form_fields,
)
from satosa_efos.saml.sp_metadata import SpMetadata, read_sp_metadata
from satosa_efos.saml.status import (
    AuthnFailed,
    Cancelled,
    InvalidNameIdPolicy,
    NoAuthnContext,
    NoPassive,
    SamlStatusError,
)
from satosa_efos.saml.subject import (
    TRANSIENT,
    NoStableSubject,
    client_address,
    name_id_format,
    persistent_name_id,
    stable_subject,
    transient_name_id,
)
from satosa_efos.sessions.answered import new_session_index, saml_answer
from satosa_efos.state_keys import REQUEST_HINTS, REQUESTED_LOA
from satosa_efos.web.render import render
from satosa_efos.xmlsec.backend import CryptoSettings, install

logger = logging.getLogger(__name__)

PRINCIPAL_SELECTION_NS = "http://id.swedenconnect.se/authn/1.0/principal-selection/ns"


class SamlIdpSettings(BaseModel):
    """The project's own keys of the frontend's ``config`` (SATOSA's pass through)."""

    model_config = ConfigDict(extra="allow")

    idp_config: dict
    endpoints: dict
    #: Where applications.yaml is (relative paths in it are relative to this folder).
    registry_dir: str = "."
    #: The secret of the pairwise persistent NameIDs (``!FILE keys/saml-nameid.key``). Never
    #: change it: every application would see every user as new.
    name_id_secret: str = Field(min_length=32)
    #: Reverse proxies (nginx) whose ``X-Forwarded-For`` is believed, as addresses or networks.
    #: Empty: the proxy faces users directly and the TCP peer is the client.
    trusted_proxies: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = Field(
        default_factory=list
    )
    #: Allowed clock difference with applications, seconds (DOMAIN.md §8: at most 60 s).
    clock_skew: int = Field(60, ge=0, le=60)
    #: How long an assertion may be presented (Conditions, SubjectConfirmationData), seconds.
    assertion_lifetime: int = Field(300, ge=60, le=600)
    #: How old an AuthnRequest may be when it arrives, seconds.
    request_max_age: int = Field(300, ge=30, le=3600)
    #: The certificate of the next signing key, published in the metadata beside the current
    #: one ahead of a key rollover (docs/operations.md); the proxy signs with the current only.
    next_signing_cert_file: str | None = None

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        if isinstance(value, list):
            return [ipaddress.ip_network(str(v), strict=False) for v in value]
        return value


_OWN_KEYS = (
    "registry_dir",
    "name_id_secret",
    "trusted_proxies",
    "clock_skew",
    "assertion_lifetime",
    "request_max_age",
)
#: A SATOSA authentication error's reason, as the SAML status the application gets.
_STATUS = {
    Reason.CANCELLED: Cancelled("the user cancelled the login"),
    Reason.NO_PASSIVE: NoPassive("the login needs the user's interaction"),
    Reason.LOA_NOT_MET: NoAuthnContext("no requested level of assurance could be met"),
    Reason.FAILED: AuthnFailed("the login failed"),
}


class EfosSAMLFrontend(SAMLFrontend):
    CONFIG_MODEL = SamlIdpSettings

    def __init__(self, auth_req_callback_func, internal_attributes, config, base_url, name):
        config = copy.deepcopy(config)
        self.crypto = CryptoSettings.from_config(config)  # crypto_backend: docs/performance.md
        self.settings = SamlIdpSettings.model_validate(config)
        for key in _OWN_KEYS:
            config.pop(key, None)
        if self.settings.next_signing_cert_file:  # in SATOSA's own metadata too (pysaml2's key)
            config["idp_config"]["additional_cert_files"] = [self.settings.next_signing_cert_file]
        registry_dir = Path(self.settings.registry_dir)
        registries = cached_registries(registry_dir)
        self.applications: dict[str, Application] = {
            app.entity_id: app
            for app in registries.applications.applications
            if app.protocol == "saml" and app.entity_id
        }
        self.sp_metadata: dict[str, SpMetadata] = {
            entity_id: read_sp_metadata(registry_dir / app.metadata, entity_id)
            for entity_id, app in self.applications.items()
        }
        self.internal_attributes = internal_attributes
        self.wire_names = {p: wire_names(internal_attributes, p) for p in PROFILES}
        self._secret = self.settings.name_id_secret.encode()
        config.setdefault("idp_config", {}).setdefault("attribute_map_dir", attributemaps.SAMBI)
        super().__init__(auth_req_callback_func, internal_attributes, config, base_url, name)
        self.builder: ResponseBuilder | None = None

    def register_endpoints(self, backend_names):
        endpoints = super().register_endpoints(backend_names)
        install(self.idp, self.crypto)
        service = (self.idp_config.get("service") or {}).get("idp") or {}
        cert_file = self.idp.config.cert_file
        self.builder = ResponseBuilder(
            self.idp.sec,
            self.idp.config.entityid,
            self.idp.config.key_file,
            x509.load_pem_x509_certificate(Path(cert_file).read_bytes()),
            **{k: v for k, v in (("signature_algorithm", service.get("signing_algorithm")),
                                 ("digest_algorithm", service.get("digest_algorithm"))) if v},
        )  # fmt: skip
        # Single logout (docs/sso.md): the SingleLogoutService endpoints, beside the SSO ones.
        return endpoints + saml_logout_endpoints(self)

    def _metadata_endpoint(self, context):
        """The signed, static published metadata (docs/metadata.md), when configured."""
        if self.config.get("published_metadata") is None:
            return super()._metadata_endpoint(context)
        from satosa_efos.metadata import published_metadata_response

        return published_metadata_response(self)

    # -- the request --------------------------------------------------------------------------

    def handle_authn_request(self, context, binding_in):
        received = checks.decode(binding_in, _values(context.request), _raw_query(context))
        app, sp = self._application(received.issuer)
        acs = checks.answer_address(received, sp)
        checks.check_destination(received, f"{self.base_url}/{context.path}")
        recipient = Recipient(sp.entity_id, acs.location, received.id, received.relay_state)
        try:
            checked = self._check(received, app, sp)
        except SamlStatusError as error:
            logger.warning("AuthnRequest from %s answered with %s: %s", sp.entity_id,
                           error.sub_status or error.status, error.message)  # fmt: skip
            return self._answer(recipient, self._builder.error(recipient, error, now=_now()))
        name_id_fmt, contract, acs_index = checked
        context.state[self.name] = {
            "sp": sp.entity_id,
            "acs": acs.location,
            "id": received.id,
            "relay": received.relay_state,
            "format": name_id_fmt,
            "acs_index": acs_index,
        }
        context.state[REQUESTED_LOA] = contract
        hints = request_hints(received.message, context)
        context.decorate(REQUEST_HINTS, hints)
        context.decorate(Context.KEY_FORCE_AUTHN, received.message.force_authn)
        internal = InternalData(
            subject_type=name_id_fmt,
            requester=sp.entity_id,
            requester_name=[{"lang": "sv", "text": app.name}],
        )
        internal.attributes = list(app.released_attributes)
        try:
            return self.auth_req_callback_func(context, internal)
        except ProxyError as error:
            # IsPassive and routing needs a page: SAML's answer is NoPassive, not the page.
            if hints["is_passive"] and error.code == "no_passive":
                context.state.pop(self.name, None)
                context.state.pop(REQUESTED_LOA, None)
                refusal = NoPassive("choosing an organisation needs a page")
                return self._answer(recipient, self._builder.error(recipient, refusal, now=_now()))
            raise

    def _application(self, issuer: str | None) -> tuple[Application, SpMetadata]:
        app = self.applications.get(issuer or "")
        if app is None:
            raise UnknownApplication(f"AuthnRequest from unregistered issuer {issuer!r}")
        return app, self.sp_metadata[app.entity_id]

    def _check(self, received, app: Application, sp: SpMetadata):
        """Everything answered with an error Response; (NameID format, LoA contract, index)."""
        required = app.require_signed_requests or sp.authn_requests_signed
        checks.check_signature(received, sp, required, self.idp.sec.crypto)
        checks.check_age(received, _now(), self.settings.request_max_age, self.settings.clock_skew)
        policy = received.message.name_id_policy
        qualifier = policy.sp_name_qualifier if policy is not None else None
        if qualifier and qualifier != sp.entity_id:
            raise InvalidNameIdPolicy(f"SPNameQualifier {qualifier} is not the requester")
        fmt = name_id_format(policy.format if policy is not None else None, sp.name_id_formats)
        contract = checks.loa_contract(received, app.required_loa)
        return fmt, contract, checks.attribute_consuming_index(received, sp)

    # -- the answer ---------------------------------------------------------------------------

    def handle_authn_response(self, context, internal_response):
        saved = context.state.pop(self.name, None)
        contract = context.state.pop(REQUESTED_LOA, None) or {}
        if not saved:
            raise SATOSAMissingStateError("SAML answer without the request in the state")
        recipient = _recipient(saved)
        app = self.applications[saved["sp"]]
        try:
            document = self._success(context, internal_response, saved, contract, app)
        except SamlStatusError as error:
            logger.warning("login for %s answered with %s: %s", app.entity_id,
                           error.sub_status or error.status, error.message)  # fmt: skip
            document = self._builder.error(recipient, error, now=_now())
        return self._answer(recipient, document)

    def handle_backend_error(self, exception: SATOSAAuthenticationError):
        saved = exception.state.get(self.name) if exception.state is not None else None
        if not saved:
            raise SATOSAMissingStateError("SAML error answer without the request in the state")
        exception.state.pop(REQUESTED_LOA, None)
        reason = exception.reason if isinstance(exception, LoginFailed) else Reason.FAILED
        error = _STATUS[reason]
        logger.warning("login for %s ended without a user (%s): %s", saved["sp"], reason,
                       getattr(exception, "detail", None) or exception)  # fmt: skip
        recipient = _recipient(saved)
        return self._answer(recipient, self._builder.error(recipient, error, now=_now()))

    def _success(self, context, internal: InternalData, saved: dict, contract: dict,
                 app: Application) -> str:  # fmt: skip
        sp = self.sp_metadata[app.entity_id]
        recipient = _recipient(saved)
        auth = internal.auth_info
        loa = parse_loa(auth.auth_class_ref)
        uri = answer_uri(loa, contract, app.loa_profile) if loa is not None else None
        if uri is None:
            # DOMAIN.md §5: a weaker (or any other) level than accepted is refused, never passed.
            logger.warning("login at LoA %r for %s, which accepts %s", auth.auth_class_ref,
                           app.entity_id, contract.get("accepted"))  # fmt: skip
            raise NoAuthnContext("the login's level of assurance is not one that was requested")
        if saved["format"] == TRANSIENT:
            name_id = NameId(transient_name_id(), TRANSIENT)
        else:
            try:
                subject = stable_subject(internal.attributes, internal.subject_id, auth.issuer)
            except NoStableSubject as exc:
                raise AuthnFailed("the login has no subject identifier") from exc
            name_id = NameId(persistent_name_id(self._secret, sp.entity_id, subject),
                             saved["format"])  # fmt: skip
        service = sp.attribute_consuming_service(saved.get("acs_index"))
        requested = (requested_internal_names(self.internal_attributes, service.requested)
                     if service is not None else None)  # fmt: skip
        release = released(app.released_attributes, requested)
        values = {**internal.attributes, "levelOfAssurance": [uri]}
        attributes = wire_attributes(values, release, self.wire_names[app.attribute_profile])
        if not attributes:
            # Profile §6.2 wants one AttributeStatement, and SAML's schema one Attribute in it.
            raise AuthnFailed("the login has none of the attributes the application receives")
        authorities = tuple(dict.fromkeys(a for a in (auth.authority, auth.issuer) if a))
        now = _now()
        headers = context.http_headers or {}
        address = client_address(headers.get("REMOTE_ADDR"), headers.get("HTTP_X_FORWARDED_FOR"),
                                 self.settings.trusted_proxies)  # fmt: skip
        target = self._encryption_target(app, sp)
        session_index = new_session_index()
        document = self._builder.success(
            recipient,
            name_id,
            Authentication(uri, _authn_instant(auth.timestamp, now), authorities, session_index),
            attributes,
            address,
            now=now,
            lifetime=dt.timedelta(seconds=self.settings.assertion_lifetime),
            encrypt_to=target,
        )
        saml_answer(context, sp.entity_id, name_id.value, name_id.format, session_index)  # SSO
        logger.info(
            "SAML assertion for %s: LoA %s, NameID %s, %s, attributes %s",
            app.entity_id, uri, name_id.format.rsplit(":", 1)[-1],
            f"encrypted {target.algorithm.rsplit('#', 1)[-1]}" if target else "not encrypted",
            ",".join(a.friendly_name for a in attributes),
        )  # fmt: skip
        return document

    def _encryption_target(self, app: Application, sp: SpMetadata) -> EncryptionTarget | None:
        """Profile §6.1: the whole assertion encrypted when the application has an encryption
        key, unless ``encrypt_assertion: false``; ``true`` without a key is a check-config
        problem, so here it can only mean the metadata changed: refuse rather than send clear."""
        if app.encrypt_assertion is False:
            return None
        if not sp.encryption_keys:
            if app.encrypt_assertion:
                raise AuthnFailed("the application's encryption key is missing")
            logger.info("%s has no encryption key in its metadata: assertion signed only",
                        app.entity_id)  # fmt: skip
            return None
        key = sp.encryption_keys[0]
        return EncryptionTarget(key.certificate, choose_data_encryption(key.methods))

    @property
    def _builder(self) -> ResponseBuilder:
        if self.builder is None:  # pragma: no cover - SATOSA registers endpoints at start
            raise RuntimeError("the SAML frontend has not registered its endpoints")
        return self.builder

    def _answer(self, recipient: Recipient, document: str) -> Response:
        """The HTTP-POST binding page carrying the Response to the verified ACS."""
        body = render("autopost.html", action=recipient.acs_url,
                      fields=post_form_fields(document, recipient.relay_state))  # fmt: skip
        return Response(body, content="text/html; charset=utf-8",
                        headers=[("Cache-Control", "no-store")])  # fmt: skip


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _recipient(saved: dict) -> Recipient:
    return Recipient(saved["sp"], saved["acs"], saved["id"], saved.get("relay"))


def _authn_instant(timestamp: object, default: dt.datetime) -> dt.datetime:
    """When the user authenticated (profile §6.2: the actual time, not the assertion's)."""
    if isinstance(timestamp, int | float):
        return dt.datetime.fromtimestamp(timestamp, dt.UTC)
    if isinstance(timestamp, str) and timestamp:
        try:
            moment = dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
        except ValueError:
            return default
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return default


def _values(request: object) -> dict[str, str]:
    if not isinstance(request, dict):
        return {}
    return {k: v for k, v in request.items() if isinstance(v, str)}


def _raw_query(context) -> str | None:
    """The query string as the browser sent it (for the redirect signature), when known."""
    uri = getattr(context, "request_uri", None)
    if not uri or "?" not in uri:
        return None
    return uri.split("?", 1)[1].split("#", 1)[0]


def _truthy(value: object) -> bool:
    return str(value).lower() in ("true", "1")


def request_hints(authn_request, context) -> dict:
    """What the AuthnRequest (and the URL) say about where the user should log in.

    Routing (DOMAIN.md §9) reads these: the ``org`` URL parameter, ``<Scoping><IDPList>``, and
    the Principal Selection extension (Swedish eID framework, namespace in PRINCIPAL_SELECTION_NS).
    """
    params = {**(context.request or {}), **(context.qs_params or {})}
    idp_list = []
    scoping = authn_request.scoping
    if scoping is not None and scoping.idp_list is not None:
        idp_list = [e.provider_id for e in scoping.idp_list.idp_entry or [] if e.provider_id]
    principal = []
    extensions = authn_request.extensions
    for element in getattr(extensions, "extension_elements", None) or []:
        if element.tag == "PrincipalSelection" and element.namespace == PRINCIPAL_SELECTION_NS:
            principal += [
                (child.text or "").strip()
                for child in element.children or []
                if child.tag == "MatchValue" and (child.text or "").strip()
            ]
    return {
        "org": str(params["org"]).strip() if params.get("org") else None,
        "idp_list": idp_list,
        "principal": principal,
        "is_passive": _truthy(authn_request.is_passive),
        "force_authn": _truthy(authn_request.force_authn),
    }
