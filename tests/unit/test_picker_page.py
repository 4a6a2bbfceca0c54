"""The organisation picker and the login-method page, rendered from the real registry."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from bs4 import BeautifulSoup

from satosa_efos.config.models import LoginMethod, Organisation
from satosa_efos.web.picker import (
    filter_organisations,
    render_method_choice,
    render_picker,
)
from satosa_efos.web.render import render

ROOT = Path(__file__).resolve().parents[2]
ACTION = "/efos/picker"


@pytest.fixture(scope="module")
def organisations() -> list[Organisation]:
    raw = yaml.safe_load((ROOT / "conf" / "organisations.yaml").read_text(encoding="utf-8"))
    return [Organisation.model_validate(entry) for entry in raw["organisations"]]


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def text(element) -> str:
    return " ".join(element.get_text().split())


def org_buttons(page: BeautifulSoup):
    return page.select('button[name="org"]')


def ids(orgs) -> list[str]:
    return [o.id for o in orgs]


def test_registry_has_fifty(organisations):
    assert len(organisations) == 50


def test_page_lists_every_organisation_in_order(organisations):
    page = soup(render_picker(choices=organisations, action=ACTION))
    buttons = org_buttons(page)
    assert len(buttons) == 50
    assert [b["value"] for b in buttons] == ids(organisations)
    assert [b.get_text(strip=True) for b in buttons] == [o.name for o in organisations]
    for button in buttons:
        assert button["type"] == "submit"
        assert button.find_parent("li").find_parent("ul") is not None
        form = button.find_parent("form")
        assert form["method"] == "post" and form["action"] == ACTION
    assert page.find("h1").get_text(strip=True) == "Välj organisation"
    assert page.find(string=lambda s: s and "50 organisationer" in s)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("goteborg", ["goteborg"]),
        ("GÖTEBORG", ["goteborg"]),
        ("Göteborgs", ["goteborg"]),
        ("BORÅS", ["boras"]),
        ("boras", ["boras"]),
        ("lerum.se", ["lerum"]),
        ("anna@lerum.se", ["lerum"]),
        ("  trollhättan ", ["trollhattan"]),
        ("Dals-Ed", ["dals-ed"]),
        ("dals ed", ["dals-ed", "munkedal"]),
        ("Region Västra", ["vgr"]),
        ("vgr", ["vgr"]),
        ("ingen sådan", []),
    ],
)
def test_filter(organisations, query, expected):
    assert ids(filter_organisations(organisations, query)) == expected


@pytest.mark.parametrize("query", ["", "   "])
def test_empty_query_gives_all_in_order(organisations, query):
    assert filter_organisations(organisations, query) == organisations


def test_filter_keeps_given_order(organisations):
    hits = filter_organisations(organisations, "stad")
    assert ids(hits) == [o.id for o in organisations if o.id in ids(hits)]
    assert {"boras", "goteborg", "molndal", "trollhattan"} <= set(ids(hits))


def test_server_side_search_lists_only_matches(organisations):
    page = soup(render_picker(choices=organisations, action=ACTION, query="goteborg"))
    assert [b.get_text(strip=True) for b in org_buttons(page)] == ["Göteborgs Stad"]
    assert page.find("input", attrs={"name": "q"})["value"] == "goteborg"
    assert page.find(id="org-count").get_text(strip=True) == "1 organisation"
    show_all = page.find("a", string=lambda s: s and "Visa alla" in s)
    assert show_all is not None


def test_no_match_says_so(organisations):
    page = soup(render_picker(choices=organisations, action=ACTION, query="zzz"))
    assert org_buttons(page) == []
    assert "Ingen organisation matchar" in page.find(id="org-count").get_text()


def test_search_form_works_without_javascript(organisations):
    page = soup(render_picker(choices=organisations, action=ACTION))
    search = page.find("input", attrs={"name": "q"})
    assert search["type"] == "search"
    form = search.find_parent("form")
    assert form["method"] == "get" and form["action"] == ACTION
    assert form.find("button", attrs={"type": "submit"}).get_text(strip=True) == "Sök"
    live = page.find(attrs={"aria-live": "polite"})
    assert live is not None and live.get_text(strip=True) == "50 organisationer"


def test_email_form(organisations):
    page = soup(render_picker(choices=organisations, action=ACTION, email="a@b.se"))
    field = page.find("input", attrs={"name": "email"})
    assert field["type"] == "email" and field["autocomplete"] == "email"
    assert field["value"] == "a@b.se"
    assert page.find("label", attrs={"for": field["id"]}).get_text(strip=True) == "E-postadress"
    form = field.find_parent("form")
    assert form["method"] == "post" and form["action"] == ACTION
    assert form.find("button", attrs={"type": "submit"}).get_text(strip=True) == "Fortsätt"


def test_remember_checkbox_is_in_the_list_form(organisations):
    page = soup(render_picker(choices=organisations, action=ACTION))
    box = page.find("input", attrs={"name": "remember"})
    assert box["type"] == "checkbox" and box["value"] == "1"
    assert box.find_parent("form") is org_buttons(page)[0].find_parent("form")
    assert page.find("label", attrs={"for": box["id"]}).get_text(strip=True) == "Kom ihåg mitt val"


def test_keyboard_order_email_then_search_then_list(organisations):
    page = soup(render_picker(choices=organisations, action=ACTION, remembered="ale"))
    names = [
        e.get("name")
        for e in page.find("main").find_all(["input", "button"])
        if e.get("type") != "hidden"
    ]
    assert names.index("email") < names.index("q") < names.index("forget")
    assert names.index("forget") < names.index("remember") < names.index("org")
    assert not page.select("[tabindex]")


def test_every_form_carries_lang(organisations):
    for lang in ("sv", "en"):
        html = render_picker(
            choices=organisations, action=ACTION, lang=lang, remembered="ale", query="a"
        )
        forms = soup(html).find_all("form")
        assert len(forms) == 4
        for form in forms:
            assert form.find("input", attrs={"type": "hidden", "name": "lang"})["value"] == lang


def test_every_field_is_labelled(organisations):
    html = render_picker(
        choices=organisations, action=ACTION, remembered="ale", notice=("unknown_domain", "x.se")
    )
    page = soup(html)
    fields = [
        i for i in page.find_all(["input", "select", "textarea"]) if i.get("type") != "hidden"
    ]
    assert len(fields) == 3
    for field in fields:
        label = page.find("label", attrs={"for": field["id"]})
        assert label is not None and label.get_text(strip=True), field
    ids_on_page = [e["id"] for e in page.find_all(id=True)]
    assert len(ids_on_page) == len(set(ids_on_page))
    for element in page.find_all(attrs={"aria-describedby": True}):
        for ref in element["aria-describedby"].split():
            assert page.find(id=ref) is not None


def test_landmarks_and_headings(organisations):
    page = soup(render_picker(choices=organisations, action=ACTION))
    assert page.find("html")["lang"] == "sv"
    assert len(page.find_all("main")) == 1 and page.find("header")
    assert len(page.find_all("h1")) == 1
    assert [h.get_text(strip=True) for h in page.find_all("h2")] == [
        "Med din e-postadress",
        "Eller välj i listan",
    ]
    assert page.find("meta", attrs={"name": "viewport"})


def test_english_page(organisations):
    page = soup(render_picker(choices=organisations, action=ACTION, lang="en"))
    assert page.find("html")["lang"] == "en"
    assert page.find("h1").get_text(strip=True) == "Choose your organisation"
    assert page.find("label", attrs={"for": "email"}).get_text(strip=True) == "E-mail address"
    buttons = org_buttons(page)
    assert buttons[0].get_text(strip=True) == "Region Västra Götaland"
    assert "lang" not in buttons[0].attrs
    # A Swedish name on an English page is marked as Swedish for screen readers.
    assert buttons[1].get_text(strip=True) == "Ale kommun" and buttons[1]["lang"] == "sv"
    assert page.find(attrs={"aria-live": "polite"}).get_text(strip=True) == "50 organisations"


def test_unknown_language_falls_back_to_swedish(organisations):
    page = soup(render_picker(choices=organisations, action=ACTION, lang="de"))
    assert page.find("html")["lang"] == "sv"


@pytest.mark.parametrize(
    ("lang", "other", "label"), [("sv", "en", "English"), ("en", "sv", "Svenska")]
)
def test_language_switch_keeps_query(organisations, lang, other, label):
    page = soup(render_picker(choices=organisations, action=ACTION, lang=lang, query="göte borg"))
    link = page.find("a", string=label)
    assert link["lang"] == other
    url = urlsplit(link["href"])
    assert url.path == ACTION
    assert parse_qs(url.query) == {"lang": [other], "q": ["göte borg"]}


def test_language_switch_appends_to_an_action_with_a_query():
    page = soup(render_picker(choices=[], action="/picker?state=abc", lang="sv"))
    assert page.find("a", string="English")["href"] == "/picker?state=abc&lang=en"


def test_application_name_is_shown(organisations):
    page = soup(render_picker(choices=organisations, action=ACTION, application_name="Journal <X>"))
    assert "Du loggar in till Journal <X>." in page.get_text()
    page = soup(
        render_picker(choices=organisations, action=ACTION, lang="en", application_name="Journal")
    )
    assert "You are logging in to Journal." in page.get_text()


NOTICES = {
    "unknown_hint": (
        "Organisationen «{}» finns inte. Välj din organisation i listan.",
        "The organisation «{}» does not exist.",
    ),
    "unknown_domain": (
        "Ingen organisation använder domänen «{}».",
        "No organisation uses the domain «{}».",
    ),
    "not_allowed": (
        "«{}» kan inte logga in till den här tjänsten.",
        "«{}» cannot log in to this service.",
    ),
    "not_an_email": ("«{}» är inte en e-postadress.", "«{}» is not an e-mail address."),
    "unknown_idp": ("Inloggningstjänsten «{}» är inte ansluten", "The login service «{}» is not"),
}


@pytest.mark.parametrize("code", sorted(NOTICES))
@pytest.mark.parametrize("lang", ["sv", "en"])
def test_notice_texts_are_escaped(organisations, code, lang):
    value = '<script>alert("x")</script>'
    html = render_picker(choices=organisations, action=ACTION, lang=lang, notice=(code, value))
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(" in html
    notice = soup(html).find(attrs={"role": "alert"})
    expected = NOTICES[code][0 if lang == "sv" else 1].format(value)
    assert expected in notice.get_text()


def test_email_notice_marks_the_field_invalid(organisations):
    html = render_picker(
        choices=organisations,
        action=ACTION,
        notice=("not_an_email", "anna"),
        email="anna",
    )
    field = soup(html).find("input", attrs={"name": "email"})
    assert field["aria-invalid"] == "true"
    assert "notice" in field["aria-describedby"].split()
    assert field["value"] == "anna"


def test_no_notice_no_alert(organisations):
    page = soup(render_picker(choices=organisations, action=ACTION))
    assert page.find(attrs={"role": "alert"}) is None
    assert page.find("input", attrs={"name": "email"}).get("aria-invalid") is None


def test_remembered_choice_can_be_forgotten(organisations):
    page = soup(render_picker(choices=organisations, action=ACTION, remembered="boras"))
    assert "Du har valt Borås Stad tidigare." in text(page)
    forget = page.find("button", attrs={"name": "forget"})
    assert forget["value"] == "1" and forget["type"] == "submit"
    form = forget.find_parent("form")
    assert form["method"] == "post" and form["action"] == ACTION
    page = soup(render_picker(choices=organisations, action=ACTION))
    assert page.find("button", attrs={"name": "forget"}) is None


def test_html_in_values_is_escaped():
    org = Organisation.model_validate(
        {
            "id": "evil",
            "name": "<b>Evil</b> kommun",
            "kind": "municipality",
            "organisation_number": "212000-1439",
            "login_methods": ["efos_mobile"],
        }
    )
    html = render_picker(
        choices=[org],
        action='/p"><script>',
        query='"><script>',
        email='"><script>',
        remembered="<i>x</i>",
        application_name="<script>",
    )
    assert "<script>" not in html.split("<script>\n(function")[0]
    assert "<b>Evil" not in html and "<i>x" not in html


METHOD_LABELS_SV = {
    "own_idp": "Med din organisations inloggning",
    "efos_mobile": "Med Mobilt Efos",
    "inera_idp": "Med SITHS eID (Inera)",
}
METHOD_LABELS_EN = {
    "own_idp": "With your organisation's login",
    "efos_mobile": "With Mobilt Efos",
    "inera_idp": "With SITHS eID (Inera)",
}


def test_method_page_has_one_button_per_method(organisations):
    vgr = organisations[0]
    html = render_method_choice(
        organisation=vgr, methods=vgr.login_methods, action="/efos/method", application_name="App"
    )
    page = soup(html)
    assert page.find("html")["lang"] == "sv"
    assert text(page.find("h1")) == "Hur vill du logga in till Västra Götalandsregionen?"
    buttons = page.select('button[name="method"]')
    assert [b["value"] for b in buttons] == ["own_idp", "efos_mobile", "inera_idp"]
    assert [b.get_text(strip=True) for b in buttons] == list(METHOD_LABELS_SV.values())
    form = buttons[0].find_parent("form")
    assert form["method"] == "post" and form["action"] == "/efos/method"
    assert form.find("input", attrs={"name": "lang"})["value"] == "sv"
    assert "Du loggar in till App." in page.get_text()


def test_method_page_in_english(organisations):
    ale = next(o for o in organisations if o.id == "ale")
    methods = [LoginMethod.EFOS_MOBILE, LoginMethod.INERA_IDP]
    page = soup(render_method_choice(organisation=ale, methods=methods, action="/m", lang="en"))
    assert page.find("html")["lang"] == "en"
    h1 = page.find("h1")
    assert text(h1) == "How do you want to log in to Ale kommun?"
    assert h1.find("span", attrs={"lang": "sv"}).get_text() == "Ale kommun"
    buttons = page.select('button[name="method"]')
    assert [b.get_text(strip=True) for b in buttons] == [
        METHOD_LABELS_EN["efos_mobile"],
        METHOD_LABELS_EN["inera_idp"],
    ]
    assert page.find("a", string="Svenska")["href"] == "/m?lang=sv"


def test_error_page_still_renders_with_the_shared_base():
    html = render("error.html", error_id="abc", sv=("Rubrik", "Text"), en=("Title", "Body"))
    page = soup(html)
    assert page.find("html")["lang"] == "sv"
    assert page.find("title").get_text() == "Rubrik – Inloggningstjänsten"
    assert page.find("header").get_text(strip=True) == "Inloggningstjänsten för Västra Götaland"
    assert page.find("header").find("a") is None
