"""HSA micro-service: who the user is in healthcare, looked up once for every organisation.

After the login (any backend) the person is looked up in the HSA directory by the first
identifier the login produced, in the configured order (employeeHsaId, personalIdentityNumber,
mail), and the person's HSA attributes (DOMAIN.md §4, §6) are added. Per application
(``hsa:`` in applications.yaml): the purposes that count, whether one commission is needed (the
user chooses on a page when several fit), and what happens when the person is not found or the
directory does not answer. A protected person never has personnummer or contact data released,
whatever the upstream IdP or the certificate said.

Configuration (``config`` of the plugin file; the ``directory`` block is
:mod:`satosa_efos.hsa.settings`, docs/hsa.md has every key)::

    registry_dir: .
    directory: {type: memory, ldif: null}     # or type: ldap / riv, with timeout and cache
    lookup_order: [employeeHsaId, personalIdentityNumber, mail]

The directory client bounds every look-up by its ``timeout`` (default 3 s); an outage or a
timeout is an :class:`HsaUnavailable` page (or, per application, a login without HSA data), never
a hung worker. Answers are cached per person for ``cache_seconds`` (default 60) in the worker.
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
    Directory,
    DirectoryUnavailable,
    Person,
    commission_attributes,
    person_attributes,
)
from satosa_efos.hsa.settings import DirectorySettings, MemorySettings, open_directory
from satosa_efos.web.commission import render_commission_choice
from satosa_efos.web.lang import page_lang

logger = logging.getLogger(__name__)

_RESUME = "satosa_efos_hsa_resume"
#: Released only for people who are not protected (DOMAIN.md §6).
PROTECTED_ATTRIBUTES = ("personalIdentityNumber", "mail")


class HsaConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    registry_dir: str = "."
    directory: DirectorySettings = Field(default_factory=lambda: MemorySettings(type="memory"))
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
        self.directory: Directory = open_directory(self.config.directory)

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
            self._unavailable(data, settings, exc)
            return super().process(context, data)
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

    @staticmethod
    def _unavailable(data: InternalData, settings: HsaSettings, exc: DirectoryUnavailable):
        """Audit the outage; refuse unless the application can do without HSA data."""
        audit(
            "hsa_unavailable",
            requester=data.requester,
            detail=exc.detail,
            outcome="continue" if settings.unavailable == "continue" else "refused",
        )
        if settings.unavailable != "continue":
            raise HsaUnavailable(exc.detail or "the HSA directory did not answer") from exc

    def _choice_page(self, context, commissions, application, person: Person) -> Response:
        lang = page_lang(context)
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
        application = self.applications.for_requester(data.requester)
        settings = application.hsa if application else HsaSettings()
        # The person is asked for again (from the cache, normally) rather than carried in the
        # state cookie, whose budget is small; the directory may have gone away meanwhile.
        try:
            person = self.directory.find_person(hsa_id=saved["person"])
        except DirectoryUnavailable as exc:
            context.state.pop(_RESUME, None)
            self._unavailable(data, settings, exc)
            return super().process(context, data)
        offered = {c.hsa_id: c for c in (person.commissions if person else ())}
        offered = {k: c for k, c in offered.items() if k in saved["commissions"] and c.usable}
        if not offered:
            context.state.pop(_RESUME, None)
            raise NoCommission("the offered commissions are no longer in the directory")
        chosen = (context.request or {}).get("commission")
        if chosen not in offered:
            # A language switch (GET ?lang=) or an id that was not offered: show the page again.
            return self._choice_page(context, list(offered.values()), application, person)
        context.state.pop(_RESUME, None)
        data.attributes.update(commission_attributes(offered[chosen]))
        return super().process(context, data)
