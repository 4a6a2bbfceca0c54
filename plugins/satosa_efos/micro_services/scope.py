"""Scope check micro-service: an organisation's own IdP asserts only its own users.

Runs on the response, after a login at an organisation's own IdP (the routing decision in the
state says which organisation and method). A user outside the organisation's scope
(:func:`satosa_efos.organisations.scope.check_scope`) is refused with a page and an audit line;
the application receives nothing.

Configuration: ``registry_dir`` (default ``.``) and ``audit_key`` (a secret for pseudonymising
subjects in the audit lines, e.g. ``!FILE keys/state-encryption.key``; the proxy's login and
logout lines use the same key, :mod:`satosa_efos.observe`, so one person has one pseudonym).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from satosa.micro_services.base import ResponseMicroService

from satosa_efos.audit import audit, subject_pseudonym
from satosa_efos.config.models import LoginMethod
from satosa_efos.config.registries import cached_registries
from satosa_efos.errors import ProxyError
from satosa_efos.organisations.scope import check_scope
from satosa_efos.state_keys import ROUTING


class ScopeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    registry_dir: str = "."
    audit_key: str = Field(min_length=16)


class OutsideScope(ProxyError):
    code, status = "outside_scope", 403


class ScopeCheck(ResponseMicroService):
    CONFIG_MODEL = ScopeConfig

    def __init__(self, config, internal_attributes=None, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.config = ScopeConfig.model_validate(config or {})
        self.organisations = cached_registries(self.config.registry_dir).organisations

    def process(self, context, data):
        routed = context.state.get(ROUTING) or {}
        if routed.get("method") != LoginMethod.OWN_IDP:
            return super().process(context, data)
        organisation = self.organisations.by_id.get(routed.get("organisation"))
        if organisation is None:
            raise OutsideScope(f"routing state names unknown organisation {routed!r}")
        violation = check_scope(organisation, data.attributes)
        if violation is not None:
            audit(
                "scope_refused",
                organisation=organisation.id,
                idp=data.auth_info.issuer,
                requester=data.requester,
                attribute=violation.attribute,
                released=sorted(data.attributes),
                subject=subject_pseudonym(data.attributes, data.subject_id, data.auth_info.issuer),
            )
            raise OutsideScope(f"{organisation.id}: {violation.describe()}")
        return super().process(context, data)
