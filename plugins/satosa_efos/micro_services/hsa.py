"""HSA micro-service: who the user is in healthcare, looked up once for every organisation.

After the login (any backend) the person is looked up in the HSA directory by the first
identifier the login produced, in the configured order (employeeHsaId, personalIdentityNumber,
mail), and the person's HSA attributes (DOMAIN.md §4, §6) are added. Per application
(``hsa:`` in applications.yaml): the purposes that count, whether one commission is needed (the
user chooses on a page when several fit), and what happens when the person is not found or the
directory does not answer. A protected person never has personnummer or contact data released,
whatever the upstream IdP or the certificate said.

Configuration (``config`` of the plugin file)::

    registry_dir: .
    directory: {type: memory, ldif: null}     # null: the demo's packaged test directory
    lookup_order: [employeeHsaId, personalIdentityNumber, mail]
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from satosa.internal import InternalData
from satosa.micro_services.base import ResponseMicroService
from satosa.response import Response

from satosa_efos.audit import audit
from satosa_efos.config.models import HsaSettings
from satosa_efos.config.registries import cached_registries
from satosa_efos.errors import ProxyError, SessionExpired
from satosa_efos.hsa import (
    DEMO_LDIF,
    Directory,
    DirectoryUnavailable,
    InMemoryDirectory,
    Person,
    commission_attributes,
    person_attributes,
)
from satosa_efos.web.commission import render_commission_choice

logger = logging.getLogger(__name__)

_RESUME = "satosa_efos_hsa_resume"
#: Released only for people who are not protected (DOMAIN.md §6).
PROTECTED_ATTRIBUTES = ("personalIdentityNumber", "mail")


class DirectorySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["memory"] = "memory"
    ldif: str | None = None


class HsaConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    registry_dir: str = "."
    directory: DirectorySettings = Field(default_factory=DirectorySettings)
    lookup_order: list[Literal["employeeHsaId", "personalIdentityNumber", "mail"]] = Field(
        default_factory=lambda: ["employeeHsaId", "personalIdentityNumber", "mail"], min_length=1
    )


class HsaUnavailable(ProxyError):
    code, status = "hsa_unavailable", 503


class HsaNotFound(ProxyError):
    code, status = "hsa_not_found", 403


class NoCommission(ProxyError):
    code, status = "hsa_no_commission", 403


_KEYWORDS = {
    "employeeHsaId": "hsa_id",
    "personalIdentityNumber": "personal_identity_number",
    "mail": "mail",
}


class HsaLookup(ResponseMicroService):
    CONFIG_MODEL = HsaConfig

    def __init__(self, config, internal_attributes=None, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.config = HsaConfig.model_validate(config or {})
        self.applications = cached_registries(self.config.registry_dir).applications
        self.directory: Directory = InMemoryDirectory.from_ldif(
            self.config.directory.ldif or DEMO_LDIF
        )

    def register_endpoints(self):
        return [(f"^{self.name}/choose$", self._chosen)]

    # -- the look-up ------------------------------------------------------------------------------

    def _find(self, attributes: dict) -> Person | None:
        for name in self.config.lookup_order:
            for value in attributes.get(name) or []:
                try:
                    person = self.directory.find_person(**{_KEYWORDS[name]: str(value)})
                except ValueError:  # not a valid identifier of that kind: try the next
                    continue
                if person is not None:
                    return person
        return None

    def process(self, context, data: InternalData):
        application = self.applications.for_requester(data.requester)
        settings = application.hsa if application else HsaSettings()
        try:
            person = self._find(data.attributes)
        except DirectoryUnavailable as exc:
            audit("hsa_unavailable", requester=data.requester, detail=getattr(exc, "detail", ""))
            if settings.unavailable == "continue":
                return super().process(context, data)
            raise HsaUnavailable(str(exc)) from exc
        if person is None:
            if settings.not_found == "continue":
                return super().process(context, data)
            audit("hsa_not_found", requester=data.requester, released=sorted(data.attributes))
            raise HsaNotFound("the person is not in the HSA directory")
        attributes, commissions = person_attributes(
            person, purpose_filter=settings.purposes or None
        )
        data.attributes.update(attributes)
        if person.protected:
            for name in PROTECTED_ATTRIBUTES:
                data.attributes.pop(name, None)
        if settings.commission == "none":
            return super().process(context, data)
        if not commissions:
            raise NoCommission(f"no usable commission for {data.requester}")
        if len(commissions) == 1:
            data.attributes.update(commission_attributes(commissions[0]))
            return super().process(context, data)
        context.state[_RESUME] = {
            "data": data.to_dict(),
            "commissions": [c.hsa_id for c in commissions],
            "person": person.hsa_id,
        }
        return self._choice_page(context, commissions, application, person)

    def _choice_page(self, context, commissions, application, person: Person) -> Response:
        lang = "en" if (context.request or {}).get("lang") == "en" else "sv"
        html = render_commission_choice(
            commissions=commissions,
            action=f"{self.base_url}/{self.name}/choose",
            lang=lang,
            application_name=application.name if application else None,
            person_name=person.full_name,
        )
        return Response(html, content="text/html; charset=utf-8")

    def _chosen(self, context):
        saved = context.state.get(_RESUME)
        if not saved:
            raise SessionExpired("commission choice without a login in progress")
        data = InternalData.from_dict(saved["data"])
        chosen = (context.request or {}).get("commission")
        if chosen not in saved["commissions"]:
            # A language switch (GET ?lang=) or an id that was not offered: show the page again.
            person = self.directory.find_person(hsa_id=saved["person"])
            application = self.applications.for_requester(data.requester)
            commissions = [c for c in person.commissions if c.hsa_id in saved["commissions"]]
            return self._choice_page(context, commissions, application, person)
        person = self.directory.find_person(hsa_id=saved["person"])
        commission = next(c for c in person.commissions if c.hsa_id == chosen)
        context.state.pop(_RESUME, None)
        data.attributes.update(commission_attributes(commission))
        return super().process(context, data)
