"""SATOSA's SAMLBackend towards organisation IdPs, with no request state in worker memory.

One backend serves every organisation's own IdP: the routing micro-service decides the IdP
(``Context.KEY_TARGET_ENTITYID``) per request, and the answer must come from that IdP. IdP
metadata comes from files (``sp_config.metadata.local``; a folder means its ``*.xml``) and from
signed federation aggregates (``federation: [{file: ..., signer_cert: ...}]``, see
:mod:`satosa_efos.xmlsec.metadata`).

Stock SAMLBackend keeps the ids of outstanding AuthnRequests in a dictionary of the worker that
sent them, so a response that reaches another gunicorn worker (or another node) is refused as
unsolicited, unless ``allow_unsolicited`` is switched on, which drops the InResponseTo check.
Here the request id travels in SATOSA's encrypted state, and the response must answer exactly
that request.
"""

from __future__ import annotations

import copy
import threading
from pathlib import Path

from satosa.backends.saml2 import SAMLBackend
from satosa.context import Context

from satosa_efos import attributemaps
from satosa_efos.errors import ProxyError
from satosa_efos.state_keys import ROUTING
from satosa_efos.web.autopost import localised_post_form
from satosa_efos.xmlsec.metadata import verified_aggregate


class WrongIdp(ProxyError):
    """The response came from another IdP than the one the request was sent to."""

    code, status = "wrong_idp", 403


class NoIdpChosen(ProxyError):
    code, status = "no_idp_chosen", 400


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


class OrganisationSAMLBackend(SAMLBackend):
    _STATE_REQUEST_ID = "request_id"
    _STATE_TARGET = "target"

    def __init__(self, outgoing, internal_attributes, config, base_url, name):
        self._scoped = _RequestScopedQueries()
        config = copy.deepcopy(config)
        sp_config = config.setdefault("sp_config", {})
        sp_config.setdefault("attribute_map_dir", attributemaps.INCOMING)
        metadata = sp_config.setdefault("metadata", {})
        metadata["local"] = expand_metadata_paths(metadata.get("local", []))
        # Signed federation aggregates: verified here (pysaml2 would accept them unsigned).
        metadata["inline"] = list(metadata.get("inline", [])) + [
            verified_aggregate(Path(source["file"]), Path(source["signer_cert"]))
            for source in config.pop("federation", [])
        ]
        sp_service = sp_config.setdefault("service", {}).setdefault("sp", {})
        if sp_service.get("allow_unsolicited") or sp_config.get("allow_unsolicited"):
            raise ValueError(f"backend {name}: allow_unsolicited must not be enabled")
        # Explicitly False: SATOSA only tracks request ids when the setting `is False`.
        sp_service["allow_unsolicited"] = False
        config.setdefault(SAMLBackend.KEY_MIRROR_FORCE_AUTHN, True)
        super().__init__(outgoing, internal_attributes, config, base_url, name)
        prepare = self.sp.prepare_for_negotiated_authenticate

        def prepare_with_upstream_hints(*args, **kwargs):
            return prepare(*args, **{**kwargs, **self._scoped.upstream})

        self.sp.prepare_for_negotiated_authenticate = prepare_with_upstream_hints

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
        return super()._translate_response(response, state)

    def authn_response(self, context, binding):
        saved = context.state.get(self.name, {})
        request_id = saved.get(self._STATE_REQUEST_ID)
        self._scoped.queries = {request_id: request_id} if request_id else {}
        try:
            return super().authn_response(context, binding)
        finally:
            self._scoped.queries = {}
