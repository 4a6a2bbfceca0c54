"""Tests for satosa_efos.organisations.routing: which organisation and login method (DOMAIN.md §9).

Each case states what the user or the application would see: routed to an organisation with a
method, the picker (with its choices and notice), the method page, or a refusal code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from satosa_efos.config.models import Application, LoginMethod, Organisation, OwnIdp
from satosa_efos.config.registries import validate_entries
from satosa_efos.config.source import load_document
from satosa_efos.organisations.registry import OrganisationRegistry
from satosa_efos.organisations.routing import (
    AskMethod,
    AskOrganisation,
    Notice,
    Refused,
    Routed,
    RoutingInput,
    RoutingPolicy,
    Source,
    allowed_organisations,
    decide,
    swedish_sort_key,
)

REPO = Path(__file__).resolve().parents[2]

OWN, MOBILE, INERA = LoginMethod.OWN_IDP, LoginMethod.EFOS_MOBILE, LoginMethod.INERA_IDP
IDP_VGR = "https://idp.vgregion.se/saml"
IDP_GBG = "https://idp.goteborg.se/saml"
IDP_BORAS = "https://idp.boras.se/saml"
IDP_ELSEWHERE = "https://idp.example.org/saml"


def organisation(
    id: str,
    name: str,
    number: str,
    domain: str,
    methods: list[LoginMethod],
    idp: str | None = None,
    kind: str = "municipality",
) -> Organisation:
    return Organisation(
        id=id,
        name=name,
        kind=kind,
        organisation_number=number,
        domains=[domain],
        login_methods=methods,
        own_idp=OwnIdp(entity_id=idp) if idp else None,
    )


ORGS = OrganisationRegistry(
    (
        organisation(
            "vgr",
            "Västra Götalandsregionen",
            "2321000131",
            "vgregion.se",
            [OWN, MOBILE, INERA],
            IDP_VGR,
            kind="region",
        ),
        organisation(
            "goteborg", "Göteborgs Stad", "2120001355", "goteborg.se", [OWN, MOBILE], IDP_GBG
        ),
        organisation("boras", "Borås Stad", "2120001561", "boras.se", [OWN], IDP_BORAS),
        organisation("ale", "Ale kommun", "2120001439", "ale.se", [MOBILE]),
        organisation("vargarda", "Vårgårda kommun", "2120001454", "vargarda.se", [INERA]),
        organisation("amal", "Åmåls kommun", "2120009309", "amal.se", [MOBILE]),
        organisation("ockero", "Öckerö kommun", "2120001280", "ockero.se", [MOBILE]),
    )
)
EVERYONE = ("ale", "boras", "goteborg", "vargarda", "vgr", "amal", "ockero")  # Swedish order
#: What the picker offers under POLICY: Vårgårda (Inera only) cannot log in there, so it is not
#: listed (a hint or its e-mail domain still reaches the page saying so).
OFFERED = tuple(org for org in EVERYONE if org != "vargarda")
SOME = ("ale", "goteborg", "vgr")  # the same order, restricted to SOME_APP

#: Inera's IdP has no backend here, so Vårgårda (Inera only) cannot log in.
POLICY = RoutingPolicy(frozenset({OWN, MOBILE}), default_organisation="vgr")
EVERY_METHOD = RoutingPolicy(frozenset(LoginMethod), default_organisation="vgr")
NO_OWN_IDP = RoutingPolicy(frozenset({MOBILE, INERA}))
NO_DEFAULT = RoutingPolicy(frozenset({OWN, MOBILE}))


def application(allowed: list[str] | str, id: str = "journal") -> Application:
    return Application(
        id=id,
        name="Journalen",
        protocol="oidc",
        client_id=f"{id}-client",
        redirect_uris=["https://journal.example.org/callback"],
        allowed_organisations=allowed,
        released_attributes=["mail"],
    )


ALL_APP = application("all")
SOME_APP = application(list(SOME))
BORAS_APP = application(["boras"])
DANGLING_APP = application(["stromstad"])


def seen(decision: object) -> tuple:
    """What the user or application sees, as a short comparable tuple."""
    if isinstance(decision, Routed):
        return ("routed", decision.organisation.id, decision.method, decision.source)
    if isinstance(decision, AskOrganisation):
        notice = (decision.notice.code, decision.notice.value) if decision.notice else None
        return ("ask_organisation", tuple(o.id for o in decision.choices), notice)
    if isinstance(decision, AskMethod):
        return ("ask_method", decision.organisation.id, decision.methods, decision.source)
    assert isinstance(decision, Refused)
    return ("refused", decision.code)


def routed(org: str, method: LoginMethod, source: Source) -> tuple:
    return ("routed", org, method, source)


def ask(choices: tuple[str, ...], notice: tuple[str, str] | None = None) -> tuple:
    return ("ask_organisation", choices, notice)


def ask_method(org: str, methods: tuple[LoginMethod, ...], source: Source) -> tuple:
    return ("ask_method", org, methods, source)


def refused(code: str) -> tuple:
    return ("refused", code)


def case(
    id: str, app: Application, expected: tuple, policy: RoutingPolicy = POLICY, **request: Any
) -> Any:
    return pytest.param(app, request, policy, expected, id=id)


EACH_RULE_ALONE = [
    case(
        "pinned_application_routes_to_its_organisation",
        BORAS_APP,
        routed("boras", OWN, Source.PINNED),
    ),
    case("hint_routes", ALL_APP, routed("ale", MOBILE, Source.HINT), org_hint="ale"),
    case(
        "hint_ignores_case_and_spaces",
        ALL_APP,
        routed("ale", MOBILE, Source.HINT),
        org_hint=" Ale ",
    ),
    case(
        "unknown_hint_shows_picker_with_notice",
        ALL_APP,
        ask(OFFERED, ("unknown_hint", "nowhere")),
        org_hint="nowhere",
    ),
    case(
        "hint_outside_application_is_refused",
        SOME_APP,
        refused("organisation_not_allowed"),
        org_hint="boras",
    ),
    case(
        "idp_list_routes_to_own_idp",
        ALL_APP,
        routed("goteborg", OWN, Source.IDP_LIST),
        idp_list=(IDP_GBG,),
    ),
    case(
        "idp_list_skips_unknown_entity_ids",
        ALL_APP,
        routed("boras", OWN, Source.IDP_LIST),
        idp_list=(IDP_ELSEWHERE, IDP_BORAS),
    ),
    case(
        "idp_list_with_several_asks_among_them",
        ALL_APP,
        ask(("goteborg", "vgr")),
        idp_list=(IDP_VGR, IDP_GBG),
    ),
    case(
        "idp_list_naming_one_idp_twice_routes",
        ALL_APP,
        routed("goteborg", OWN, Source.IDP_LIST),
        idp_list=(IDP_GBG, IDP_GBG),
    ),
    case(
        "idp_list_unknown_shows_picker_with_notice",
        ALL_APP,
        ask(OFFERED, ("unknown_idp", IDP_ELSEWHERE)),
        idp_list=(IDP_ELSEWHERE,),
    ),
    case(
        "idp_list_outside_application_is_refused",
        SOME_APP,
        refused("organisation_not_allowed"),
        idp_list=(IDP_BORAS,),
    ),
    case(
        "idp_list_keeps_only_admitted_candidates",
        SOME_APP,
        routed("goteborg", OWN, Source.IDP_LIST),
        idp_list=(IDP_BORAS, IDP_GBG),
    ),
    case(
        "principal_hsa_id_routes",
        ALL_APP,
        routed("ale", MOBILE, Source.PRINCIPAL),
        principal_values=("SE2120001439-e1k2",),
    ),
    case(
        "principal_personnummer_is_ignored",
        ALL_APP,
        ask(OFFERED),
        principal_values=("191212121212",),
    ),
    case(
        "principal_unknown_prefix_is_ignored",
        ALL_APP,
        ask(OFFERED),
        principal_values=("SE2120001553-a1",),
    ),
    case(
        "principal_hsa_id_after_personnummer_routes",
        ALL_APP,
        routed("boras", OWN, Source.PRINCIPAL),
        principal_values=("191212121212", "SE2120001561-b7"),
    ),
    case(
        "principal_outside_application_is_refused",
        SOME_APP,
        refused("organisation_not_allowed"),
        principal_values=("SE2120001561-b7",),
    ),
    case(
        "principal_prefers_an_admitted_organisation",
        SOME_APP,
        routed("ale", MOBILE, Source.PRINCIPAL),
        principal_values=("SE2120001561-b7", "SE2120001439-e1"),
    ),
    case(
        "email_routes_by_domain",
        ALL_APP,
        routed("boras", OWN, Source.EMAIL),
        typed_email="anna.andersson@boras.se",
    ),
    case(
        "email_domain_ignores_case",
        ALL_APP,
        routed("ale", MOBILE, Source.EMAIL),
        typed_email=" Anna@ALE.SE ",
    ),
    case(
        "upn_routes_like_email",
        ALL_APP,
        routed("ale", MOBILE, Source.EMAIL),
        typed_email="anan01@ale.se",
    ),
    case(
        "not_an_email_shows_picker_with_notice",
        ALL_APP,
        ask(OFFERED, ("not_an_email", "anna boras.se")),
        typed_email="anna boras.se",
    ),
    case(
        "email_of_unknown_domain_shows_notice",
        ALL_APP,
        ask(OFFERED, ("unknown_domain", "example.com")),
        typed_email="anna@Example.com",
    ),
    case(
        "email_outside_application_shows_notice",
        SOME_APP,
        ask(SOME, ("not_allowed", "Borås Stad")),
        typed_email="anna@boras.se",
    ),
    case("picked_routes", ALL_APP, routed("ale", MOBILE, Source.PICKED), picked="ale"),
    case(
        "picked_unknown_shows_notice",
        ALL_APP,
        ask(OFFERED, ("unknown_hint", "nowhere")),
        picked="nowhere",
    ),
    case(
        "picked_outside_application_shows_notice",
        SOME_APP,
        ask(SOME, ("not_allowed", "Borås Stad")),
        picked="boras",
    ),
    case("remembered_routes", ALL_APP, routed("ale", MOBILE, Source.REMEMBERED), remembered="ale"),
    case("remembered_unknown_is_ignored", ALL_APP, ask(OFFERED), remembered="nowhere"),
    case("remembered_outside_application_is_ignored", SOME_APP, ask(SOME), remembered="boras"),
    case("nothing_known_shows_picker", ALL_APP, ask(OFFERED)),
    case("picker_lists_only_admitted_organisations", SOME_APP, ask(SOME)),
    case(
        "application_admitting_no_known_organisation_is_refused",
        DANGLING_APP,
        refused("organisation_not_allowed"),
    ),
]

PRECEDENCE = [
    case("pinned_beats_hint", BORAS_APP, routed("boras", OWN, Source.PINNED), org_hint="ale"),
    case(
        "pinned_beats_everything",
        BORAS_APP,
        routed("boras", OWN, Source.PINNED),
        idp_list=(IDP_GBG,),
        principal_values=("SE2120001439-e1",),
        typed_email="a@ale.se",
        picked="ale",
        remembered="ale",
    ),
    case(
        "hint_beats_idp_list",
        ALL_APP,
        routed("ale", MOBILE, Source.HINT),
        org_hint="ale",
        idp_list=(IDP_GBG,),
    ),
    case(
        "idp_list_beats_principal",
        ALL_APP,
        routed("goteborg", OWN, Source.IDP_LIST),
        idp_list=(IDP_GBG,),
        principal_values=("SE2120001439-e1",),
    ),
    case(
        "principal_beats_email",
        ALL_APP,
        routed("ale", MOBILE, Source.PRINCIPAL),
        principal_values=("SE2120001439-e1",),
        typed_email="anna@boras.se",
    ),
    case(
        "email_beats_picked",
        ALL_APP,
        routed("ale", MOBILE, Source.EMAIL),
        typed_email="anna@ale.se",
        picked="boras",
    ),
    case(
        "bad_email_beats_picked",
        ALL_APP,
        ask(OFFERED, ("not_an_email", "anna")),
        typed_email="anna",
        picked="ale",
    ),
    case(
        "picked_beats_remembered",
        ALL_APP,
        routed("ale", MOBILE, Source.PICKED),
        picked="ale",
        remembered="boras",
    ),
    case(
        "remembered_beats_picker",
        ALL_APP,
        routed("boras", OWN, Source.REMEMBERED),
        remembered="boras",
    ),
]

PICKER_ANSWERS_AN_EARLIER_QUESTION = [
    case(
        "picked_answers_unknown_hint",
        ALL_APP,
        routed("ale", MOBILE, Source.PICKED),
        org_hint="nowhere",
        picked="ale",
    ),
    case(
        "email_answers_unknown_hint",
        ALL_APP,
        routed("ale", MOBILE, Source.EMAIL),
        org_hint="nowhere",
        typed_email="anna@ale.se",
    ),
    case(
        "bad_answer_to_unknown_hint_shows_new_notice",
        SOME_APP,
        ask(SOME, ("not_allowed", "Borås Stad")),
        org_hint="nowhere",
        picked="boras",
    ),
    case(
        "picked_answers_unknown_idp",
        ALL_APP,
        routed("ale", MOBILE, Source.PICKED),
        idp_list=(IDP_ELSEWHERE,),
        picked="ale",
    ),
    case(
        "picked_idp_candidate_keeps_own_idp",
        ALL_APP,
        routed("vgr", OWN, Source.PICKED),
        idp_list=(IDP_GBG, IDP_VGR),
        picked="vgr",
    ),
    case(
        "email_idp_candidate_keeps_own_idp",
        ALL_APP,
        routed("vgr", OWN, Source.EMAIL),
        idp_list=(IDP_GBG, IDP_VGR),
        typed_email="anna@vgregion.se",
    ),
    case(
        "picked_outside_idp_candidates_shows_notice",
        ALL_APP,
        ask(("goteborg", "vgr"), ("not_allowed", "Borås Stad")),
        idp_list=(IDP_GBG, IDP_VGR),
        picked="boras",
    ),
]

NO_PAGE_ALLOWED = [
    case(
        "passive_goes_to_default_organisation",
        ALL_APP,
        routed("vgr", OWN, Source.DEFAULT),
        interactive=False,
    ),
    case(
        "passive_default_outside_application_is_no_passive",
        application(["goteborg", "ale"]),
        refused("no_passive"),
        interactive=False,
    ),
    case(
        "passive_without_default_is_no_passive",
        ALL_APP,
        refused("no_passive"),
        NO_DEFAULT,
        interactive=False,
    ),
    case(
        "passive_unknown_hint_is_no_passive",
        ALL_APP,
        refused("no_passive"),
        org_hint="nowhere",
        interactive=False,
    ),
    case(
        "passive_several_idps_is_no_passive",
        ALL_APP,
        refused("no_passive"),
        idp_list=(IDP_GBG, IDP_VGR),
        interactive=False,
    ),
    case(
        "passive_uses_remembered_before_default",
        ALL_APP,
        routed("ale", MOBILE, Source.REMEMBERED),
        remembered="ale",
        interactive=False,
    ),
    case(
        "passive_takes_first_of_several_methods",
        ALL_APP,
        routed("goteborg", OWN, Source.HINT),
        org_hint="goteborg",
        interactive=False,
    ),
]

METHOD_CHOICE = [
    case(
        "several_methods_show_method_page",
        ALL_APP,
        ask_method("goteborg", (OWN, MOBILE), Source.HINT),
        org_hint="goteborg",
    ),
    case(
        "chosen_method_is_used",
        ALL_APP,
        routed("goteborg", MOBILE, Source.HINT),
        org_hint="goteborg",
        method="efos_mobile",
    ),
    case(
        "chosen_method_not_offered_asks_again",
        ALL_APP,
        ask_method("goteborg", (OWN, MOBILE), Source.HINT),
        org_hint="goteborg",
        method="inera_idp",
    ),
    case(
        "chosen_method_unknown_asks_again",
        ALL_APP,
        ask_method("goteborg", (OWN, MOBILE), Source.HINT),
        org_hint="goteborg",
        method="sms",
    ),
    case(
        "methods_without_backend_are_hidden",
        ALL_APP,
        ask_method("vgr", (OWN, MOBILE), Source.HINT),
        org_hint="vgr",
    ),
    case(
        "methods_keep_the_organisation_order",
        ALL_APP,
        ask_method("vgr", (OWN, MOBILE, INERA), Source.HINT),
        EVERY_METHOD,
        org_hint="vgr",
    ),
    case(
        "only_method_without_backend_is_refused",
        ALL_APP,
        refused("no_login_method"),
        org_hint="vargarda",
    ),
    case(
        "idp_list_ignores_chosen_method",
        ALL_APP,
        routed("goteborg", OWN, Source.IDP_LIST),
        idp_list=(IDP_GBG,),
        method="efos_mobile",
    ),
    case(
        "idp_list_without_own_idp_backend_is_refused",
        ALL_APP,
        refused("no_login_method"),
        NO_OWN_IDP,
        idp_list=(IDP_GBG,),
    ),
]


@pytest.mark.parametrize(
    ("app", "request_fields", "policy", "expected"),
    EACH_RULE_ALONE
    + PRECEDENCE
    + PICKER_ANSWERS_AN_EARLIER_QUESTION
    + NO_PAGE_ALLOWED
    + METHOD_CHOICE,
)
def test_routing_decision(
    app: Application, request_fields: dict, policy: RoutingPolicy, expected: tuple
) -> None:
    assert seen(decide(ORGS, policy, RoutingInput(app, **request_fields))) == expected


def test_picker_lists_only_organisations_that_can_log_in_here() -> None:
    inera_too = decide(ORGS, EVERY_METHOD, RoutingInput(ALL_APP))
    own_and_mobile = decide(ORGS, POLICY, RoutingInput(ALL_APP))
    assert "vargarda" in [o.id for o in inera_too.choices]
    assert "vargarda" not in [o.id for o in own_and_mobile.choices]
    by_domain = decide(ORGS, POLICY, RoutingInput(ALL_APP, typed_email="a@vargarda.se"))
    assert seen(by_domain) == refused("no_login_method")


def test_picker_lists_names_in_swedish_order() -> None:
    decision = decide(ORGS, POLICY, RoutingInput(ALL_APP))
    assert isinstance(decision, AskOrganisation)
    assert [o.name for o in decision.choices] == [
        "Ale kommun",
        "Borås Stad",
        "Göteborgs Stad",
        "Västra Götalandsregionen",
        "Åmåls kommun",
        "Öckerö kommun",
    ]


def test_allowed_organisations_are_the_picker_choices() -> None:
    assert [o.id for o in allowed_organisations(ORGS, SOME_APP)] == list(SOME)
    assert [o.id for o in allowed_organisations(ORGS, ALL_APP)] == list(EVERYONE)


def test_swedish_sort_key_puts_a_ring_a_umlaut_o_umlaut_after_z() -> None:
    names = ["Öckerö", "Zinkgruvan", "Ärla", "Åmål", "ale", "Östra", "Avesta"]
    assert sorted(names, key=swedish_sort_key) == [
        "ale",
        "Avesta",
        "Zinkgruvan",
        "Åmål",
        "Ärla",
        "Öckerö",
        "Östra",
    ]


def test_refusal_without_login_method_names_the_organisation() -> None:
    decision = decide(ORGS, POLICY, RoutingInput(ALL_APP, org_hint="vargarda"))
    assert isinstance(decision, Refused)
    assert decision.detail.startswith("Vårgårda kommun has no login method this proxy offers: ")
    assert "inera_idp" in decision.detail


def test_notice_is_shown_with_the_hint_as_given() -> None:
    decision = decide(ORGS, POLICY, RoutingInput(ALL_APP, org_hint="Nowhere"))
    assert isinstance(decision, AskOrganisation)
    assert decision.notice == Notice("unknown_hint", "Nowhere")


def test_reloaded_application_with_same_id_gets_its_own_scope() -> None:
    """Per-application results are cached; a changed application must not see the old ones."""
    before = application(["ale", "boras"], id="portal")
    after = application(["goteborg"], id="portal")
    assert seen(decide(ORGS, POLICY, RoutingInput(before))) == ask(("ale", "boras"))
    assert seen(decide(ORGS, POLICY, RoutingInput(after))) == ask_method(
        "goteborg", (OWN, MOBILE), Source.PINNED
    )
    assert seen(decide(ORGS, POLICY, RoutingInput(before, picked="goteborg"))) == ask(
        ("ale", "boras"), ("not_allowed", "Göteborgs Stad")
    )


def test_routing_does_not_walk_the_registry_per_request() -> None:
    """Cost per request must not grow with the registry (300 organisations cost what 50 do)."""
    orgs = OrganisationRegistry(ORGS.organisations)
    app = application("all", id="benchmark")
    first = decide(orgs, POLICY, RoutingInput(app))

    class Untouchable(tuple):
        def __iter__(self):  # type: ignore[override]
            raise AssertionError("routing walked the whole registry")

    object.__setattr__(orgs, "organisations", Untouchable(orgs.organisations))
    assert decide(orgs, POLICY, RoutingInput(app)) == first
    for fields in (
        {"org_hint": "ale"},
        {"idp_list": (IDP_GBG, IDP_VGR)},
        {"principal_values": ("SE2120001439-e1",)},
        {"typed_email": "anna@boras.se"},
        {"picked": "nowhere"},
        {"remembered": "ale"},
    ):
        decide(orgs, POLICY, RoutingInput(app, **fields))


def test_real_registry_routes_boras_email_and_lists_all_fifty() -> None:
    document = load_document(REPO / "conf" / "organisations.yaml", "conf/organisations.yaml")
    entries, problems = validate_entries(document, "organisations", Organisation)
    assert problems == []
    orgs = OrganisationRegistry(tuple(org for _, org in entries))
    policy = RoutingPolicy(frozenset(LoginMethod))
    app = application("all")

    by_email = decide(orgs, policy, RoutingInput(app, typed_email="someone@boras.se"))
    assert isinstance(by_email, Routed)
    assert (by_email.organisation.name, by_email.source) == ("Borås Stad", Source.EMAIL)

    picker = decide(orgs, policy, RoutingInput(app))
    assert isinstance(picker, AskOrganisation)
    assert len(picker.choices) == 50
    names = [o.name for o in picker.choices]
    assert (
        names.index("Vårgårda kommun") < names.index("Åmåls kommun") < names.index("Öckerö kommun")
    )
    assert names[-2:] == ["Åmåls kommun", "Öckerö kommun"]


def test_search_on_the_picker_lists_the_same_choices_as_the_picker() -> None:
    from satosa_efos.organisations.routing import picker_choices

    assert (
        picker_choices(ORGS, ALL_APP, POLICY) == decide(ORGS, POLICY, RoutingInput(ALL_APP)).choices
    )
    assert "vargarda" not in [o.id for o in picker_choices(ORGS, ALL_APP, POLICY)]
