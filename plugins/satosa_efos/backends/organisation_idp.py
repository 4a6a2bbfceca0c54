"""SATOSA's SAMLBackend towards organisation IdPs, with no request state in worker memory.

One backend serves every organisation's own IdP: the routing micro-service decides the IdP
(``Context.KEY_TARGET_ENTITYID``) per request, and the answer must come from that IdP. IdP
metadata comes from files (``sp_config.metadata.local``; a folder means its ``*.xml``) and from
signed federation aggregates (``federation: [{file: ..., signer_cert: ...}]``), each verified and
kept fresh per worker by :mod:`satosa_efos.federation.live`; an IdP whose aggregate has expired
is unknown, and a login routed to it is refused with a page (the rest of the proxy goes on).

Stock SAMLBackend keeps the ids of outstanding AuthnRequests in a dictionary of the worker that
sent them, so a response that reaches another gunicorn worker (or another node) is refused as
unsolicited, unless ``allow_unsolicited`` is switched on, which drops the InResponseTo check.
Here the request id travels in SATOSA's encrypted state, and the response must answer exactly
that request.

Levels of assurance (DOMAIN.md §5): the login's contract
(:data:`~satosa_efos.state_keys.REQUESTED_LOA`, written by the frontend) says which internal
levels the application accepts. The IdP is asked for exactly those, with ``Comparison="exact"``,
in the URIs of its own profile (``loa_profile``, per IdP in ``idp_loa``); an IdP that speaks no
LoA at all (``profile: none``, e.g. ADFS) is asked for nothing and its logins have the ``loa``
configured for it. The backend reports the answer's internal value (``loa3``) in
``auth_info.auth_class_ref``, and the frontend refuses it unless the application accepts that
level (SAML ``NoAuthnContext``, OIDC ``unmet_authentication_requirements``); an answer that is no
known level ends the login here (:class:`~satosa_efos.failures.LoginFailed`). An error status
from the IdP (NoPassive, the profile's cancel, NoAuthnContext, AuthnFailed) ends it the same
way, and the application gets the corresponding status.

Single logout (docs/sso.md): with ``single_logout_service`` endpoints in the SP configuration
(HTTP-Redirect and HTTP-POST; they appear in the published SP metadata), the backend notes the
IdP's NameID and SessionIndex of each login in the state (:data:`~satosa_efos.state_keys.
UPSTREAM_SESSION`, for the SSO session), and the logout walk logs the user out at the IdP too;
the endpoints and the messages are :mod:`satosa_efos.backends.upstream_slo`.

Extra configuration (beside SATOSA's SAMLBackend settings)::

    loa_profile: sambi                  # sambi | swedish_eid: the URIs organisation IdPs speak
    idp_loa:                            # per IdP, where it differs
      https://idp.boras.se/saml: {profile: swedish_eid}
      https://adfs.ale.se/adfs/services/trust: {profile: none, loa: uncertified-loa2}
"""

from __future__ import annotations

import copy
import logging
import threading
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator
from saml2.response import StatusError, StatusNoAuthnContext, StatusNoPassive
from satosa.backends.saml2 import SAMLBackend
from satosa.context import Context
from satosa.exception import SATOSAAuthenticationError

from satosa_efos import attributemaps
from satosa_efos.backends.upstream_slo import UpstreamLogout, configured_endpoints
from satosa_efos.errors import ProxyError
from satosa_efos.failures import LoginFailed, Reason
from satosa_efos.federation.live import attach_federation, knows
from satosa_efos.identity.loa import LoA, accepted_loas, loa_from_uri, upstream_uris
from satosa_efos.saml.status import CANCEL
from satosa_efos.state_keys import REQUESTED_LOA, ROUTING, UPSTREAM_SESSION
from satosa_efos.web.autopost import localised_post_form
from satosa_efos.xmlsec.backend import CryptoSettings, install

logger = logging.getLogger(__name__)


class WrongIdp(ProxyError):
    """The response came from another IdP than the one the request was sent to."""

    code, status = "wrong_idp", 403


class NoIdpChosen(ProxyError):
    code, status = "no_idp_chosen", 400


class IdpUnavailable(ProxyError):
    """The chosen IdP has no usable metadata (e.g. its federation aggregate has expired)."""

    code, status = "idp_unavailable", 503


def expand_metadata_paths(entries: list[str]) -> list[str]:
    """A folder stands for the ``*.xml`` files in it (pysaml2 would also read its README)."""
    files: list[str] = []
    for entry in entries:
        path = Path(entry)
        files += [str(f) for f in sorted(path.glob("*.xml"))] if path.is_dir() else [entry]
    return files


class _RequestScopedQueries(threading.local):
    """``outstanding_queries`` as seen by the current request only."""

    def __init__(self) -> None:
        self.queries: dict[str, str] = {}
        self.upstream: dict[str, str] = {}


class UpstreamLoa(BaseModel):
    """How one IdP names levels of assurance (DOMAIN.md §5)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: Literal["sambi", "swedish_eid", "none"] = "sambi"
    #: ``profile: none`` only: the level every login at this IdP has (its trust agreement).
    loa: LoA | None = None

    @model_validator(mode="after")
    def _loa_only_without_profile(self) -> UpstreamLoa:
        if self.profile == "none" and self.loa is None:
            raise ValueError("profile none needs the loa that this IdP's logins have")
        if self.profile != "none" and self.loa is not None:
            raise ValueError("loa is only for an IdP with profile none (it names its own)")
        return self


def upstream_reason(error: BaseException) -> Reason | None:
    """The reason behind an IdP's error status (pysaml2 raises it while parsing the Response),
    or None when the failure is not a status the IdP sent."""
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, StatusError):
        cause = cause.__cause__ or cause.__context__
    if cause is None:
        return None
    if CANCEL in str(cause):
        return Reason.CANCELLED
    if isinstance(cause, StatusNoPassive):
        return Reason.NO_PASSIVE
    if isinstance(cause, StatusNoAuthnContext):
        return Reason.LOA_NOT_MET
    return Reason.FAILED


def require_assertion(response, state) -> None:
    """pysaml2 7.5 does not raise when it refuses to decrypt an assertion (3DES, RSA PKCS#1 v1.5
    key transport, the wrong key: :mod:`satosa_efos.xmlsec.policy`); it hands over the Response
    without any assertion. That ends the login here, as a failed login the application is told of
    (``AuthnFailed``), not as an internal error."""
    if getattr(response, "assertion", None) is None:
        raise LoginFailed(
            state,
            Reason.FAILED,
            "the IdP's Response carries no assertion this proxy can use (an encrypted assertion "
            "with a refused algorithm or for another key is dropped by pysaml2; see the log "
            "line before this one)",
        )


class OrganisationSAMLBackend(SAMLBackend):
    _STATE_REQUEST_ID = "request_id"
    _STATE_TARGET = "target"

    @staticmethod
    def cross_check(config: dict, facts) -> list[tuple[tuple, str]]:
        """check-config: ``loa_profile`` and every ``idp_loa`` entry are valid settings."""
        problems: list[tuple[tuple, str]] = []
        profile = config.get("loa_profile", "sambi")
        if profile not in ("sambi", "swedish_eid"):
            problems.append((("loa_profile",), f"'{profile}' is not sambi or swedish_eid"))
        idp_loa = config.get("idp_loa") or {}
        if not isinstance(idp_loa, dict):
            return [*problems, (("idp_loa",), "must map IdP entityIDs to LoA settings")]
        for entity_id, settings in idp_loa.items():
            try:
                UpstreamLoa.model_validate(settings)
            except ValueError as exc:
                errors = getattr(exc, "errors", lambda: [])()
                message = "; ".join(e["msg"].removeprefix("Value error, ") for e in errors)
                problems.append((("idp_loa", entity_id), f"{entity_id}: {message or exc}"))
        return problems

    def __init__(self, outgoing, internal_attributes, config, base_url, name):
        self._scoped = _RequestScopedQueries()
        config = copy.deepcopy(config)
        profile = config.pop("loa_profile", None) or "sambi"
        if profile not in ("sambi", "swedish_eid"):
            raise ValueError(f"backend {name}: loa_profile {profile!r} is not sambi or swedish_eid")
        self.default_loa = UpstreamLoa(profile=profile)
        self.idp_loa = {
            entity_id: UpstreamLoa.model_validate(settings)
            for entity_id, settings in (config.pop("idp_loa", None) or {}).items()
        }
        crypto = CryptoSettings.from_config(config)  # crypto_backend: docs/performance.md
        sp_config = config.setdefault("sp_config", {})
        sp_config.setdefault("attribute_map_dir", attributemaps.INCOMING)
        metadata = sp_config.setdefault("metadata", {})
        metadata["local"] = expand_metadata_paths(metadata.get("local", []))
        # Signed federation aggregates: not given to pysaml2 (which would accept them unsigned)
        # but attached below as verified sources that refresh themselves.
        federation = config.pop("federation", [])
        sp_service = sp_config.setdefault("service", {}).setdefault("sp", {})
        if sp_service.get("allow_unsolicited") or sp_config.get("allow_unsolicited"):
            raise ValueError(f"backend {name}: allow_unsolicited must not be enabled")
        # Explicitly False: SATOSA only tracks request ids when the setting `is False`.
        sp_service["allow_unsolicited"] = False
        config.setdefault(SAMLBackend.KEY_MIRROR_FORCE_AUTHN, True)
        super().__init__(outgoing, internal_attributes, config, base_url, name)
        install(self.sp, crypto)
        self.federation = attach_federation(self.sp.metadata, federation)
        prepare = self.sp.prepare_for_negotiated_authenticate

        def prepare_with_upstream_hints(*args, **kwargs):
            return prepare(*args, **{**kwargs, **self._scoped.upstream})

        self.sp.prepare_for_negotiated_authenticate = prepare_with_upstream_hints
        locations = configured_endpoints(self.sp.config)
        self.single_logout = UpstreamLogout(self, locations) if locations else None

    def register_endpoints(self):
        endpoints = super().register_endpoints()
        if self.single_logout is not None:
            endpoints += self.single_logout.endpoints()
        return endpoints

    def get_idp_entity_id(self, context):
        """The IdP routing chose; SATOSA's own choice (the only IdP in metadata) is not used,
        since with one organisation IdP configured it would send everyone there."""
        target = context.get_decoration(Context.KEY_TARGET_ENTITYID)
        if not target:
            raise NoIdpChosen("no organisation IdP was chosen for this login (routing missing?)")
        return target

    @property
    def outstanding_queries(self) -> dict[str, str]:
        return self._scoped.queries

    @outstanding_queries.setter
    def outstanding_queries(self, value: dict[str, str]) -> None:
        self._scoped.queries = value

    def authn_request(self, context, entity_id):
        if not knows(self.sp.metadata, entity_id):
            raise IdpUnavailable(f"no usable metadata for {entity_id} (expired or missing)")
        self._ask_for_loa(context, entity_id)
        hints = context.state.get(ROUTING, {}).get("hints", {})
        self._scoped.queries = {}
        # IsPassive is passed upstream as the application asked (SATOSA only has a fixed
        # setting); ForceAuthn through SATOSA's mirror_force_authn.
        self._scoped.upstream = {"is_passive": "true"} if hints.get("is_passive") else {}
        try:
            response = super().authn_request(context, entity_id)
        finally:
            request_ids, self._scoped.queries, self._scoped.upstream = (
                list(self._scoped.queries), {}, {},
            )  # fmt: skip
        context.state[self.name][self._STATE_TARGET] = entity_id
        if request_ids:
            context.state[self.name][self._STATE_REQUEST_ID] = request_ids[0]
        return localised_post_form(response)

    def _translate_response(self, response, state):
        issuer = response.response.issuer.text.strip() if response.response.issuer else None
        target = state.get(self.name, {}).get(self._STATE_TARGET)
        if issuer != target:
            raise WrongIdp(f"response issued by {issuer!r}, but the request went to {target!r}")
        require_assertion(response, state)
        internal = super()._translate_response(response, state)
        internal.auth_info.auth_class_ref = str(
            self._answered_loa(state, issuer, internal.auth_info.auth_class_ref)
        )
        state[UPSTREAM_SESSION] = self._upstream_session(response, issuer)
        return internal

    def _upstream_session(self, response, issuer: str | None) -> dict | None:
        """What logging out at the IdP will name (SAML core §3.7.1): the NameID as the IdP
        issued it and the SessionIndex of its AuthnStatement; None without a NameID."""
        name_id = getattr(response, "name_id", None)
        if name_id is None or not (name_id.text or "").strip():
            return None
        statements = getattr(response.assertion, "authn_statement", None) or []
        return {
            "issuer": issuer,
            "backend": self.name,
            "name_id": name_id.text.strip(),
            "name_id_format": name_id.format,
            "name_qualifier": name_id.name_qualifier,
            "sp_name_qualifier": name_id.sp_name_qualifier,
            "session_index": statements[0].session_index if statements else None,
        }

    def authn_response(self, context, binding):
        saved = context.state.get(self.name, {})
        request_id = saved.get(self._STATE_REQUEST_ID)
        self._scoped.queries = {request_id: request_id} if request_id else {}
        try:
            return super().authn_response(context, binding)
        except LoginFailed:
            raise
        except SATOSAAuthenticationError as error:
            reason = upstream_reason(error)
            if reason is None:
                raise
            target = saved.get(self._STATE_TARGET)
            raise LoginFailed(context.state, reason, f"{target} answered: {error}") from error
        finally:
            self._scoped.queries = {}

    # -- levels of assurance ------------------------------------------------------------------

    def upstream_loa(self, entity_id: str) -> UpstreamLoa:
        return self.idp_loa.get(entity_id, self.default_loa)

    def loa_class_refs(self, entity_id: str, accepted: list[LoA]) -> list[str]:
        """The AuthnContextClassRefs to ask ``entity_id`` for: each accepted level it names."""
        return upstream_uris(accepted, self.upstream_loa(entity_id).profile)

    def _ask_for_loa(self, context, entity_id: str) -> None:
        """Put the exact RequestedAuthnContext for this IdP where SAMLBackend reads it, or end
        the login when the IdP cannot give any level the application accepts."""
        accepted = accepted_loas(context.state.get(REQUESTED_LOA))
        setting = self.upstream_loa(entity_id)
        context.state.pop(Context.KEY_TARGET_AUTHN_CONTEXT_CLASS_REF, None)
        if setting.profile == "none":
            if setting.loa not in accepted:
                raise LoginFailed(
                    context.state,
                    Reason.LOA_NOT_MET,
                    f"{entity_id} logins are {setting.loa}, accepted: {accepted}",
                )
            return  # fmt: skip
        class_refs = self.loa_class_refs(entity_id, accepted)
        if not class_refs:
            detail = f"{entity_id} names none of the accepted levels {accepted}"
            raise LoginFailed(context.state, Reason.LOA_NOT_MET, detail)
        context.state[Context.KEY_TARGET_AUTHN_CONTEXT_CLASS_REF] = {
            "class_ref": class_refs,
            "comparison": "exact",
        }

    def _answered_loa(self, state, entity_id: str | None, answered: str | None) -> LoA:
        """The internal LoA of the IdP's answer.

        An answer this project cannot read as a level ends the login here. A known level the IdP
        was not asked for (profile §6.3.4 says the proxy, as SP, must not accept it) is reported
        as it is, and the frontend refuses it unless the application accepts that very level
        (the same level under the other profile's URI): so each protocol answers with its own
        error (SAML NoAuthnContext, OIDC unmet_authentication_requirements).
        """
        setting = self.upstream_loa(entity_id or "")
        if setting.profile == "none":
            return setting.loa
        loa = loa_from_uri(answered or "")
        if loa is None:
            raise LoginFailed(state, Reason.FAILED,
                              f"{entity_id} answered AuthnContextClassRef {answered!r}, "
                              "which is not a level of assurance")  # fmt: skip
        asked = self.loa_class_refs(entity_id or "", accepted_loas(state.get(REQUESTED_LOA)))
        if answered.strip() not in asked:
            logger.warning("%s answered %s, asked for exactly one of %s", entity_id,
                           answered, asked)  # fmt: skip
        return loa
