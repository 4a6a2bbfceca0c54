"""Which organisation, and which login method, a login request goes to (DOMAIN.md §9).

A user of Västra Götaland belongs to one of 50 organisations, and each organisation logs its
users in differently (its own IdP, Mobilt Efos, Inera's IdP). Before any login page is shown the
proxy must know the organisation; this module decides it from whatever the request and the user
have told so far, or says what to ask next. It is pure: the routing micro-service gathers the
facts into a :class:`RoutingInput`, calls :func:`decide`, and turns the answer into a redirect
to a backend, a page, or an error. No SATOSA here, so every rule is testable as a table.

Each rule is a small function returning a verdict, or ``None`` when it does not apply; the
first rule that gives a verdict decides. The order is that of DOMAIN.md §9, whose steps the
rule docstrings name: pinned application (:func:`pinned`), organisation hint (:func:`from_hint`),
``<Scoping><IDPList>`` (:func:`from_idp_list`), Principal Selection (:func:`from_principal`),
typed e-mail or UPN (:func:`from_email`), then the picker's answer (:func:`from_picked`) before
the remembered choice (:func:`from_remembered`), because a choice made on the page just now
outranks the cookie of an earlier one, and last the picker itself or the regional default
(:func:`fallback`).

Every request costs dictionary look-ups only: what depends on the application alone (its allowed
organisations and their Swedish order on the picker) is computed once per application and kept.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from satosa_efos.config.models import Application, LoginMethod, Organisation
from satosa_efos.organisations.registry import OrganisationRegistry

__all__ = [
    "AskMethod",
    "AskOrganisation",
    "Decision",
    "Notice",
    "Refused",
    "Routed",
    "RoutingInput",
    "RoutingPolicy",
    "Source",
    "allowed_organisations",
    "decide",
    "swedish_sort_key",
]


class Source(StrEnum):
    """Which rule decided; logged and audited, so an admin can see why a user landed where."""

    PINNED = "pinned"
    HINT = "hint"
    IDP_LIST = "idp_list"
    PRINCIPAL = "principal_selection"
    EMAIL = "email"
    PICKED = "picked"
    REMEMBERED = "remembered"
    DEFAULT = "default"


@dataclass(frozen=True)
class RoutingInput:
    """Everything known about one login request that can point at an organisation."""

    application: Application
    #: ``org`` parameter, or OIDC ``login_hint`` "org:<id>" already stripped to "<id>".
    org_hint: str | None = None
    #: SAML ``<Scoping><IDPList>`` entityIDs.
    idp_list: tuple[str, ...] = ()
    #: Principal Selection MatchValues; only HSA-ids route (SE<orgnr>-...), personnummer do not.
    principal_values: tuple[str, ...] = ()
    #: E-mail address or UPN typed on the picker page.
    typed_email: str | None = None
    #: Organisation id chosen on the picker page.
    picked: str | None = None
    #: Organisation id from the long-lived remember cookie.
    remembered: str | None = None
    #: Login method chosen on the method page.
    method: str | None = None
    #: False for ``IsPassive`` (or OIDC ``prompt=none``): no page may be shown.
    interactive: bool = True


@dataclass(frozen=True)
class RoutingPolicy:
    """What this proxy deployment can do, independent of the request."""

    #: Login methods that have a configured backend; an organisation's other methods are hidden.
    available_methods: frozenset[LoginMethod]
    #: The regional default, used only when nothing decided and no page may be shown.
    default_organisation: str | None = None


@dataclass(frozen=True)
class Notice:
    """Why the picker is shown (again): the user or the application asked for something unusable.

    Codes: ``unknown_hint``, ``unknown_idp``, ``unknown_domain``, ``not_allowed``,
    ``not_an_email``; ``value`` is what to show with it (the id, entityID, domain or
    organisation name, or the typed text).
    """

    code: str
    value: str


@dataclass(frozen=True)
class Routed:
    """Decided: send the user to this organisation's login with this method."""

    organisation: Organisation
    method: LoginMethod
    source: Source


@dataclass(frozen=True)
class AskOrganisation:
    """Show the organisation picker with these choices (already in Swedish order)."""

    choices: tuple[Organisation, ...]
    notice: Notice | None = None


@dataclass(frozen=True)
class AskMethod:
    """The organisation is known but offers several methods: show the method page."""

    organisation: Organisation
    methods: tuple[LoginMethod, ...]
    source: Source


@dataclass(frozen=True)
class Refused:
    """No login is possible; ``code`` is stable for the error page, the log and the frontend.

    Codes: ``organisation_not_allowed`` (the request names an organisation this application does
    not admit), ``no_login_method`` (the organisation has no method this proxy offers),
    ``no_passive`` (a page would be needed but the request forbids pages).
    """

    code: str
    detail: str


Decision = Routed | AskOrganisation | AskMethod | Refused

ORGANISATION_NOT_ALLOWED = "organisation_not_allowed"
NO_LOGIN_METHOD = "no_login_method"
NO_PASSIVE = "no_passive"


# --- Swedish order on the picker --------------------------------------------------------------

# Swedish alphabet ends ... x y z å ä ö; in ASCII, { | } sort right after z. é sorts as e and
# ü as y in Swedish dictionaries; æ and ø as their Swedish counterparts ä and ö.
_SWEDISH = str.maketrans({"å": "{", "ä": "|", "ö": "}", "æ": "|", "ø": "}", "é": "e", "ü": "y"})


def swedish_sort_key(text: str) -> str:
    """Sort key putting Å, Ä, Ö after Z: users look for Öckerö at the end, not next to Ockelbo."""
    return text.casefold().translate(_SWEDISH)


def _picker_order(organisations: Iterable[Organisation]) -> tuple[Organisation, ...]:
    return tuple(sorted(organisations, key=lambda o: (swedish_sort_key(o.name), o.id)))


# --- what an application admits, computed once per application --------------------------------


@dataclass(frozen=True)
class _Scope:
    """The organisations a user may come from here: ids for membership, choices for the picker."""

    ids: frozenset[str]
    choices: tuple[Organisation, ...]

    def admits(self, organisation: Organisation) -> bool:
        return organisation.id in self.ids


def _build_scope(orgs: OrganisationRegistry, app: Application) -> _Scope:
    if app.allowed_organisations == "all":
        members: Iterable[Organisation] = orgs.organisations
    else:
        # Ids missing from the registry are a configuration error reported by check-config;
        # here they simply admit nobody.
        members = (
            orgs.by_id[i] for i in dict.fromkeys(app.allowed_organisations) if i in orgs.by_id
        )
    choices = _picker_order(members)
    return _Scope(frozenset(o.id for o in choices), choices)


#: (id(registry), id(application)) -> (weak registry, weak application, scope)
_scopes: dict[tuple[int, int], tuple[weakref.ref, weakref.ref, _Scope]] = {}


def _scope(orgs: OrganisationRegistry, app: Application) -> _Scope:
    """The application's scope in this registry, computed on first use.

    Neither the registry nor an Application (it holds lists) is hashable, so the cache is keyed
    by object identity and checked through weak references: a reloaded registry or application
    gets a fresh scope, and a dropped one takes its entry with it.
    """
    key = (id(orgs), id(app))
    hit = _scopes.get(key)
    if hit is not None and hit[0]() is orgs and hit[1]() is app:
        return hit[2]
    scope = _build_scope(orgs, app)

    def forget(_ref: object, key: tuple[int, int] = key) -> None:
        _scopes.pop(key, None)

    _scopes[key] = (weakref.ref(orgs, forget), weakref.ref(app, forget), scope)
    return scope


def allowed_organisations(orgs: OrganisationRegistry, app: Application) -> tuple[Organisation, ...]:
    """The organisations this application admits, in the picker's Swedish order.

    For pages that list the choices without a decision (a search on the picker); cached like
    everything else that depends on the application alone.
    """
    return _scope(orgs, app).choices


# --- the rules ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Chosen:
    """A rule named the organisation; the login method is chosen afterwards."""

    organisation: Organisation
    source: Source
    forced: LoginMethod | None = None


@dataclass(frozen=True)
class _Ask:
    """A rule wants the picker; ``forced`` carries over to whatever the user picks from it."""

    scope: _Scope
    notice: Notice | None = None
    forced: LoginMethod | None = None


_Verdict = _Chosen | _Ask | Refused | None


def _not_allowed(app: Application, organisation: Organisation, how: str) -> Refused:
    return Refused(
        ORGANISATION_NOT_ALLOWED,
        f"{how} names {organisation.name} ({organisation.id}), "
        f"which application '{app.id}' does not admit",
    )


def _id(value: str | None) -> str:
    return (value or "").strip().lower()


def _named(
    orgs: OrganisationRegistry,
    scope: _Scope,
    given: str | None,
    source: Source,
    outside: Callable[[Organisation], _Verdict],
) -> _Verdict:
    """An organisation named by id (hint or picker): unknown ids bring back the picker, because
    a person can still choose; what to do with one the application does not admit is the rule's.
    """
    organisation_id = _id(given)
    if not organisation_id:
        return None
    organisation = orgs.by_id.get(organisation_id)
    if organisation is None:
        return _Ask(scope, Notice("unknown_hint", (given or "").strip()))
    if not scope.admits(organisation):
        return outside(organisation)
    return _Chosen(organisation, source)


def pinned(scope: _Scope) -> _Verdict:
    """§9 step 1, application pinned to one organisation: nothing to ask, whatever else is said.

    Applies when the application admits exactly one organisation of the registry (a one-element
    ``allowed_organisations``, or ``all`` over a one-organisation registry).
    """
    if len(scope.choices) == 1:
        return _Chosen(scope.choices[0], Source.PINNED)
    return None


def from_hint(orgs: OrganisationRegistry, scope: _Scope, request: RoutingInput) -> _Verdict:
    """§9 step 2, organisation hint (``org`` parameter, OIDC ``login_hint`` / ``acr_values``).

    The application said whose user this is. An unknown id is probably a typo or a stale link, so
    the user may still pick; a known organisation the application does not admit is a refusal,
    because the application asked for something it may not have.
    """
    app = request.application
    return _named(
        orgs,
        scope,
        request.org_hint,
        Source.HINT,
        outside=lambda o: _not_allowed(app, o, "the organisation hint"),
    )


def from_idp_list(orgs: OrganisationRegistry, scope: _Scope, request: RoutingInput) -> _Verdict:
    """§9 step 2, SAML ``<Scoping><IDPList>``: the application names the IdPs it accepts.

    Naming an IdP means that IdP, so the login method is forced to the organisation's own IdP.
    """
    if not request.idp_list:
        return None
    known = [o for o in map(orgs.by_idp_entity_id.get, request.idp_list) if o is not None]
    if not known:
        return _Ask(scope, Notice("unknown_idp", request.idp_list[0]))
    admitted = list({o.id: o for o in known if scope.admits(o)}.values())
    if not admitted:
        return _not_allowed(request.application, known[0], "the IDPList")
    if len(admitted) == 1:
        return _Chosen(admitted[0], Source.IDP_LIST, forced=LoginMethod.OWN_IDP)
    candidates = _Scope(frozenset(o.id for o in admitted), _picker_order(admitted))
    return _Ask(candidates, forced=LoginMethod.OWN_IDP)


def from_principal(orgs: OrganisationRegistry, scope: _Scope, request: RoutingInput) -> _Verdict:
    """§9 step 3, Principal Selection: an HSA-id's prefix ``SE<orgnr>-`` names its organisation.

    Personnummer say nothing about the organisation and unknown prefixes may be from outside the
    region, so both are ignored. The first admitted organisation wins; if every named one is
    outside the application's scope, the request is refused.
    """
    known = [o for o in map(orgs.for_hsa_id, request.principal_values) if o is not None]
    if not known:
        return None
    for organisation in known:
        if scope.admits(organisation):
            return _Chosen(organisation, Source.PRINCIPAL)
    return _not_allowed(request.application, known[0], "Principal Selection")


_EMAIL = re.compile(r"^[^@\s]+@([^@\s]+)$")


def from_email(orgs: OrganisationRegistry, scope: _Scope, request: RoutingInput) -> _Verdict:
    """§9 step 4, e-mail or UPN domain typed by the user on the picker page.

    Every failure shows the picker again with a notice: the user typed it and can correct it.
    """
    typed = (request.typed_email or "").strip()
    if not typed:
        return None
    match = _EMAIL.match(typed)
    if match is None:
        return _Ask(scope, Notice("not_an_email", typed))
    domain = match.group(1).lower()
    organisation = orgs.by_domain.get(domain)
    if organisation is None:
        return _Ask(scope, Notice("unknown_domain", domain))
    if not scope.admits(organisation):
        return _Ask(scope, Notice("not_allowed", organisation.name))
    return _Chosen(organisation, Source.EMAIL)


def from_picked(orgs: OrganisationRegistry, scope: _Scope, request: RoutingInput) -> _Verdict:
    """§9 step 6, organisation picker: the user chose from the list.

    The list only offers admitted organisations, so anything else is a tampered or stale form;
    show the picker again rather than refuse.
    """
    return _named(
        orgs,
        scope,
        request.picked,
        Source.PICKED,
        outside=lambda o: _Ask(scope, Notice("not_allowed", o.name)),
    )


def from_remembered(orgs: OrganisationRegistry, scope: _Scope, request: RoutingInput) -> _Verdict:
    """§9 step 5, remembered choice (cookie): skips the picker for a returning user.

    The cookie is the user's own earlier choice, possibly for another application, so an id that
    is unknown or not admitted here is ignored without a word.
    """
    organisation = orgs.by_id.get(_id(request.remembered))
    if organisation is None or not scope.admits(organisation):
        return None
    return _Chosen(organisation, Source.REMEMBERED)


def fallback(
    orgs: OrganisationRegistry, scope: _Scope, policy: RoutingPolicy, request: RoutingInput
) -> _Verdict:
    """§9 steps 6–7, organisation picker page, or the regional default when no page may be shown.

    A passive request (IsPassive) that nothing routed goes to the default organisation when the
    application admits it; otherwise the frontend answers NoPassive.
    """
    if request.interactive:
        return _Ask(scope)
    default = orgs.by_id.get(_id(policy.default_organisation))
    if default is not None and scope.admits(default):
        return _Chosen(default, Source.DEFAULT)
    return Refused(NO_PASSIVE, "no rule chose an organisation and the request forbids pages")


def _answer(orgs: OrganisationRegistry, ask: _Ask, request: RoutingInput) -> _Verdict:
    """The user's answer on a picker that an earlier rule asked for.

    The hint or IDPList that made the picker appear comes again with the answer; without this
    the same rule would ask again for ever. The answer counts only among the choices offered.
    """
    for rule in (from_email, from_picked):
        verdict = rule(orgs, ask.scope, request)
        if isinstance(verdict, _Chosen):
            return _Chosen(verdict.organisation, verdict.source, ask.forced)
        if isinstance(verdict, _Ask):
            return _Ask(ask.scope, verdict.notice, ask.forced)
    return ask


# --- the login method -----------------------------------------------------------------------


def _methods_text(methods: Iterable[LoginMethod]) -> str:
    return ", ".join(str(m) for m in methods) or "none"


def _choose_method(chosen: _Chosen, policy: RoutingPolicy, request: RoutingInput) -> Decision:
    """Which of the organisation's methods to use: its own order, limited to what runs here."""
    organisation = chosen.organisation
    methods = tuple(m for m in organisation.login_methods if m in policy.available_methods)
    if chosen.forced is not None:
        if chosen.forced not in methods:
            return Refused(
                NO_LOGIN_METHOD,
                f"{organisation.name} has no login method this proxy offers: the application "
                f"asked for {chosen.forced}; available here: {_methods_text(methods)}",
            )
        return Routed(organisation, chosen.forced, chosen.source)
    if not methods:
        return Refused(
            NO_LOGIN_METHOD,
            f"{organisation.name} has no login method this proxy offers: it uses "
            f"{_methods_text(organisation.login_methods)}, this proxy offers "
            f"{_methods_text(sorted(policy.available_methods))}",
        )
    if request.method is not None and request.method in methods:
        return Routed(organisation, LoginMethod(request.method), chosen.source)
    if len(methods) == 1 or not request.interactive:
        return Routed(organisation, methods[0], chosen.source)
    return AskMethod(organisation, methods, chosen.source)


def _offered(choices: tuple[Organisation, ...], policy: RoutingPolicy) -> tuple[Organisation, ...]:
    """The picker lists only organisations that can log in here (a method with a backend).

    An organisation left out can still be reached by a hint or its e-mail domain, and then gets
    the page saying it has no login method yet. If none could log in, all are listed, so that
    the user learns why rather than facing an empty list.
    """
    offered = tuple(
        o for o in choices if any(m in policy.available_methods for m in o.login_methods)
    )
    return offered or choices


def picker_choices(
    orgs: OrganisationRegistry, app: Application, policy: RoutingPolicy
) -> tuple[Organisation, ...]:
    """What the picker lists for this application: allowed, and able to log in here."""
    return _offered(_scope(orgs, app).choices, policy)


def _to_decision(verdict: _Verdict, policy: RoutingPolicy, request: RoutingInput) -> Decision:
    if isinstance(verdict, _Chosen):
        return _choose_method(verdict, policy, request)
    if isinstance(verdict, _Ask):
        if not request.interactive:
            reason = f" ({verdict.notice.code}: {verdict.notice.value})" if verdict.notice else ""
            return Refused(
                NO_PASSIVE, f"the organisation must be asked{reason}, but no page may be shown"
            )
        return AskOrganisation(_offered(verdict.scope.choices, policy), verdict.notice)
    assert isinstance(verdict, Refused)
    return verdict


def decide(orgs: OrganisationRegistry, policy: RoutingPolicy, request: RoutingInput) -> Decision:
    """Route one login request: the first rule of DOMAIN.md §9 that gives a verdict decides.

    A picker asked for by the hint or the IDPList is answered by the typed e-mail or the picked
    organisation that come back with the same request (see :func:`_answer`).
    """
    app = request.application
    scope = _scope(orgs, app)
    if not scope.ids:
        return Refused(
            ORGANISATION_NOT_ALLOWED,
            f"application '{app.id}' admits no organisation of the registry",
        )
    verdict = pinned(scope)
    if verdict is None:
        for rule in (from_hint, from_idp_list):
            verdict = rule(orgs, scope, request)
            if verdict is not None:
                if isinstance(verdict, _Ask):
                    verdict = _answer(orgs, verdict, request)
                break
    if verdict is None:
        for rule in (from_principal, from_email, from_picked, from_remembered):
            verdict = rule(orgs, scope, request)
            if verdict is not None:
                break
    if verdict is None:
        verdict = fallback(orgs, scope, policy, request)
    return _to_decision(verdict, policy, request)
