"""Routing micro-service: sends each login to the right organisation and login method.

The decision itself is :func:`satosa_efos.organisations.routing.decide` (DOMAIN.md §9); this
adapter gathers its inputs from the request (frontend hints, the remember cookie, the picker
form), shows the organisation picker or the method page when the decision needs the user, and
hands the login to the backend of the chosen method.

Configuration (``config`` of the plugin file)::

    registry_dir: .                   # where organisations.yaml / applications.yaml are
    backends:                         # login method -> backend name (only these are offered)
      own_idp: orgidp
    default_organisation: vgr         # optional; only for requests that allow no page (IsPassive)
    remember_cookie: satosa_efos_org  # optional
    remember_days: 365                # optional
"""

from __future__ import annotations

import logging
from http.cookies import SimpleCookie

from pydantic import BaseModel, ConfigDict
from satosa.context import Context
from satosa.internal import InternalData
from satosa.micro_services.base import RequestMicroService
from satosa.response import Response

from satosa_efos.config.models import LoginMethod
from satosa_efos.config.registries import cached_registries
from satosa_efos.errors import ProxyError, SessionExpired
from satosa_efos.organisations import routing
from satosa_efos.state_keys import REQUEST_HINTS, ROUTING, SSO_REUSE
from satosa_efos.web.lang import page_lang
from satosa_efos.web.picker import render_method_choice, render_picker
from satosa_efos.web.render import render

logger = logging.getLogger(__name__)

_RESUME = "satosa_efos_routing_resume"
FORGOTTEN = {
    "sv": {
        "title": "Ditt val av organisation är glömt",
        "text": "Nästa gång du loggar in får du välja organisation igen. Gå tillbaka till"
        " tjänsten du ville använda och logga in.",
    },
    "en": {
        "title": "Your choice of organisation is forgotten",
        "text": "Next time you log in you will choose your organisation again. Go back to the"
        " service you wanted to use and log in.",
    },
}


class RoutingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    registry_dir: str = "."
    backends: dict[LoginMethod, str]
    default_organisation: str | None = None
    remember_cookie: str = "satosa_efos_org"
    remember_days: int = 365


class RoutingRefused(ProxyError):
    status = 403


class OrganisationRouting(RequestMicroService):
    CONFIG_MODEL = RoutingConfig

    @staticmethod
    def cross_check(config: dict, facts) -> list[tuple[tuple, str]]:
        """check-config: every method's backend is loaded, the default organisation exists."""
        problems = []
        for method, backend in (config.get("backends") or {}).items():
            if method in set(LoginMethod) and backend not in facts.backends:
                loaded = ", ".join(sorted(facts.backends)) or "none"
                problems.append(
                    (
                        (("backends", method)),
                        f"login method {method} names backend "
                        f"'{backend}', which is not loaded (backends: {loaded})",
                    )
                )
        default = config.get("default_organisation")
        if default and facts.organisations is not None and default not in facts.organisations:
            problems.append(
                (
                    (("default_organisation",)),
                    f"organisation '{default}' is not in the organisation registry",
                )
            )
        return problems

    def __init__(self, config, internal_attributes=None, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.config = RoutingConfig.model_validate(config or {})
        registries = cached_registries(self.config.registry_dir)
        self.organisations = registries.organisations
        self.applications = registries.applications
        self.policy = routing.RoutingPolicy(
            available_methods=frozenset(self.config.backends),
            default_organisation=self.config.default_organisation,
        )
        self.endpoint = f"{self.name}/select"

    # -- SATOSA plumbing --------------------------------------------------------------------

    def register_endpoints(self):
        return [(f"^{self.endpoint}$", self._resume), (f"^{self.name}/forget$", self._forget)]

    def _forget(self, context: Context):
        """A stable address that forgets the remembered organisation (linked from refusals)."""
        lang = page_lang(context)
        response = self._page(render("forgotten.html", lang=lang, t=FORGOTTEN[lang]))
        response.headers.extend(self._cookie_headers({"forget": "1"}, None))
        return response

    def process(self, context: Context, data: InternalData):
        if context.get_decoration(SSO_REUSE) is not None:  # the SSO session answers (docs/sso.md)
            return super().process(context, data)
        hints = context.get_decoration(REQUEST_HINTS) or {}
        context.state[_RESUME] = {
            "target_frontend": context.target_frontend,
            "data": data.to_dict(),
            "hints": hints,
            "force_authn": context.get_decoration(Context.KEY_FORCE_AUTHN),
        }
        return self._route(context, data, hints, {})

    def _resume(self, context: Context):
        saved = context.state.get(_RESUME)
        if not saved:
            raise SessionExpired("organisation choice without a login in progress")
        context.target_frontend = saved["target_frontend"]
        if saved.get("force_authn") is not None:
            context.decorate(Context.KEY_FORCE_AUTHN, saved["force_authn"])
        form = {k: v for k, v in (context.request or {}).items() if isinstance(v, str)}
        return self._route(context, InternalData.from_dict(saved["data"]), saved["hints"], form)

    # -- the decision -------------------------------------------------------------------------

    def _route(self, context: Context, data: InternalData, hints: dict, form: dict):
        application = self.applications.for_requester(data.requester)
        if application is None:
            raise RoutingRefused(f"no application {data.requester!r}", code="unknown_application")
        lang = page_lang(context, form)
        remembered = None if form.get("forget") else self._remembered(context)
        request = routing.RoutingInput(
            application=application,
            org_hint=hints.get("org"),
            idp_list=tuple(hints.get("idp_list") or ()),
            principal_values=tuple(hints.get("principal") or ()),
            typed_email=form.get("email") or None,
            picked=form.get("org") or None,
            remembered=remembered,
            method=form.get("method") or None,
            interactive=not hints.get("is_passive"),
        )
        # A search or a language switch on the picker is not yet a choice.
        if "q" in form and not (request.typed_email or request.picked or request.method):
            outcome = routing.AskOrganisation(
                routing.picker_choices(self.organisations, application, self.policy)
            )
        else:
            outcome = routing.decide(self.organisations, self.policy, request)
        cookies = self._cookie_headers(form, outcome)
        if isinstance(outcome, routing.Routed):
            response = self._hand_to_backend(context, data, hints, outcome)
        elif isinstance(outcome, routing.AskOrganisation):
            response = self._page(
                render_picker(
                    choices=outcome.choices,
                    action=f"{self.base_url}/{self.endpoint}",
                    lang=lang,
                    query=form.get("q", ""),
                    notice=(outcome.notice.code, outcome.notice.value) if outcome.notice else None,
                    application_name=application.name,
                    remembered=self._name(remembered),
                    email=form.get("email", ""),
                )
            )
        elif isinstance(outcome, routing.AskMethod):
            response = self._page(
                render_method_choice(
                    organisation=outcome.organisation,
                    methods=outcome.methods,
                    action=f"{self.base_url}/{self.endpoint}",
                    lang=lang,
                    application_name=application.name,
                )
            )
            # The method page posts only the method: keep the organisation for the next step.
            context.state[_RESUME]["hints"] = {**hints, "org": outcome.organisation.id}
        else:
            raise RoutingRefused(outcome.detail, code=outcome.code)
        response.headers.extend(cookies)
        return response

    def _hand_to_backend(self, context, data, hints, outcome: routing.Routed):
        organisation, method = outcome.organisation, outcome.method
        idp = organisation.own_idp.entity_id if method == LoginMethod.OWN_IDP else None
        context.state[ROUTING] = {
            "organisation": organisation.id,
            "method": str(method),
            "idp": idp,
            "source": str(outcome.source),
            "hints": {k: hints.get(k) for k in ("is_passive", "force_authn")},
        }
        context.state.pop(_RESUME, None)
        context.target_backend = self.config.backends[method]
        if idp:
            context.decorate(Context.KEY_TARGET_ENTITYID, idp)
        # The LoA contract (state_keys.REQUESTED_LOA) stays in the state: each backend asks its
        # upstream for exactly the accepted levels, in the URIs that upstream speaks (DOMAIN.md §5).
        logger.info("routed login to %s via %s (%s)", organisation.id, method, outcome.source.value)
        return super().process(context, data)

    # -- helpers ------------------------------------------------------------------------------

    def _name(self, org_id: str | None) -> str | None:
        organisation = self.organisations.by_id.get(org_id) if org_id else None
        return organisation.name if organisation else None

    def _remembered(self, context: Context) -> str | None:
        cookie = SimpleCookie()
        try:
            cookie.load(context.cookie or "")
        except Exception:  # a malformed Cookie header is the browser's problem, not a 500
            return None
        morsel = cookie.get(self.config.remember_cookie)
        return morsel.value if morsel and morsel.value in self.organisations.by_id else None

    def _cookie_headers(self, form: dict, outcome) -> list[tuple[str, str]]:
        name = self.config.remember_cookie
        attributes = "Path=/; HttpOnly; Secure; SameSite=Lax"
        if self.base_url.startswith("http://"):
            attributes = "Path=/; HttpOnly; SameSite=Lax"  # the demo on plain-http loopback
        if form.get("forget"):
            return [("Set-Cookie", f"{name}=; Max-Age=0; {attributes}")]
        if form.get("remember") and isinstance(outcome, (routing.Routed, routing.AskMethod)):
            org_id = outcome.organisation.id
            max_age = self.config.remember_days * 86400
            return [("Set-Cookie", f"{name}={org_id}; Max-Age={max_age}; {attributes}")]
        return []

    @staticmethod
    def _page(html: str) -> Response:
        return Response(html, content="text/html; charset=utf-8")
