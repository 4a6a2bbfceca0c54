"""The demo login in a real browser: headless Chromium, driven by Playwright.

The same journey as tests/flows/test_login_flow.py, but with a browser's own HTML, JavaScript and
cookies: the demo application's "Logga in" posts to the application, whose page posts the SAML
request to the proxy by script; the proxy shows its organisation picker, where the user types an
e-mail address or picks an organisation; Göteborg and Borås offer two login methods, so the proxy
then asks how to log in ("Med din organisations inloggning" or "Med Mobilt Efos"), and the user
takes the organisation's own login: the proxy sends the browser to that organisation's demo IdP;
after the login the IdP's and the proxy's auto-posting forms carry the responses back to the
application (or the proxy refuses a user that the organisation's IdP may not assert).
Mobilt Efos in a browser is tests/e2e/test_efos_browser.py.

The browser is Debian's Chromium (``make test`` installs it); Playwright never downloads one.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from e2e.browsing import (
    at,
    choose_commission,
    choose_in_list,
    expect_logged_in,
    expect_picker,
    fresh_page,
    go_to_picker,
    main_frame_urls,
)
from playwright.sync_api import Page, Response, expect

from satosa_efos.demo import DEMO_IDPS

pytestmark = pytest.mark.browser

SCREENSHOT_COPY = Path("/tmp/satosa-efos-logged-in.png")
PICKER_SCREENSHOT_COPY = Path("/tmp/satosa-efos-picker-375.png")
REMEMBER_COOKIE = "satosa_efos_org"  # conf/demo/plugins/microservices/routing.yaml default
#: The picker's button for each organisation with a demo IdP (satosa_efos.demo.DEMO_IDPS).
ORGANISATION_NAMES = {"goteborg": "Göteborgs Stad", "boras": "Borås Stad"}
#: The demo lists every organisation of conf/demo/organisations/ (each offers Mobilt Efos).
ORGANISATION_COUNT = 50
#: The method page's buttons for an organisation with a demo IdP (picker.METHOD_LABELS).
OWN_LOGIN = "Med din organisations inloggning"
EFOS_LOGIN = "Med Mobilt Efos"


def expect_method_page(page: Page, stack, organisation: str) -> None:
    """The proxy asks how to log in to ``organisation``: its own IdP or Mobilt Efos."""
    expect(page).to_have_url(at(stack.urls.proxy))
    title = f"Hur vill du logga in till {ORGANISATION_NAMES[organisation]}?"
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
    expect(page.get_by_role("main").get_by_role("button")).to_have_text([OWN_LOGIN, EFOS_LOGIN])


def choose_own_login(page: Page, stack, organisation: str) -> None:
    """On the method page, take the organisation's own login (its demo IdP)."""
    expect_method_page(page, stack, organisation)
    page.get_by_role("button", name=OWN_LOGIN, exact=True).click()
    expect_idp_login(page, stack, organisation)


def expect_idp_login(page: Page, stack, organisation: str) -> None:
    """The browser is at ``organisation``'s demo IdP, on its Swedish login form."""
    expect(page).to_have_url(at(stack.urls.idps[organisation]))
    title = f"Logga in hos {DEMO_IDPS[organisation]}"
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()


def pick_organisation(page: Page, stack, organisation: str) -> None:
    """On the picker, press the organisation's button in the list, then its own login."""
    choose_in_list(page, ORGANISATION_NAMES[organisation])
    choose_own_login(page, stack, organisation)


def type_email(page: Page, stack, email: str) -> None:
    """On the picker, route by an e-mail address typed into "E-postadress"."""
    page.get_by_label("E-postadress", exact=True).fill(email)
    page.get_by_role("button", name="Fortsätt", exact=True).click()
    choose_own_login(page, stack, stack.organisation_of(email))


def go_to_idp_login(page: Page, stack, organisation: str = "goteborg") -> None:
    """From the application's start page, through the picker, to an organisation's demo IdP."""
    go_to_picker(page, stack)
    pick_organisation(page, stack, organisation)


def log_in_at_idp(page: Page, username: str, password: str = "demo") -> None:
    page.get_by_label("Användarnamn").fill(username)
    page.get_by_label("Lösenord").fill(password)
    page.get_by_role("button", name="Logga in", exact=True).click()


def test_user_logs_in_through_the_proxy_in_a_browser(stack, chromium, tmp_path):
    with fresh_page(chromium) as page:
        go_to_picker(page, stack)
        type_email(page, stack, "eva.sjoberg@goteborg.se")

        log_in_at_idp(page, "eva")
        # Eva has two commissions in HSA (Göteborg and VGR): the proxy asks which one.
        choose_commission(page, "Sjuksköterska Hemsjukvården Centrum")

        # The IdP's auto-posting form goes to the proxy, the proxy's to the application.
        expect_logged_in(
            page, stack, "Eva", "Sjöberg", "eva.sjoberg@goteborg.se", "SE2120001355-E000000000101",
            "Sjuksköterska Hemsjukvården Centrum", "Vård och behandling",
        )  # fmt: skip
        expect(page.get_by_role("note")).to_contain_text("Demo")

        screenshot = tmp_path / "logged-in.png"
        page.screenshot(path=str(screenshot), full_page=True)
        assert screenshot.stat().st_size > 0
        shutil.copyfile(screenshot, SCREENSHOT_COPY)

        # POST-redirect-GET: the login is shown by a GET page, which a reload simply shows again.
        reloaded = page.reload()
        assert reloaded is not None and reloaded.status == 200
        assert reloaded.request.method == "GET"
        expect(page.locator("table#attributes")).to_contain_text("Sjöberg")

        page.get_by_role("link", name="English", exact=True).click()
        expect(page.get_by_role("heading", name="Logged in", level=1)).to_be_visible()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.locator("table#attributes")).to_contain_text("Sjöberg")
        page.get_by_role("link", name="Svenska", exact=True).click()
        expect(page.get_by_role("heading", name="Inloggad", level=1)).to_be_visible()


def test_user_picks_an_organisation_from_the_list(stack, chromium):
    with fresh_page(chromium) as page:
        go_to_picker(page, stack)
        # Every organisation offers Mobilt Efos, so the demo lists all of them; Borås and
        # Göteborg (the two with demo IdPs) are among them, like Ale (Mobilt Efos only).
        buttons = page.get_by_role("list", name="Organisationer").get_by_role("button")
        expect(buttons).to_have_count(ORGANISATION_COUNT)
        expect(page.locator("#org-count")).to_have_text(f"{ORGANISATION_COUNT} organisationer")
        names = buttons.all_inner_texts()
        assert {"Ale kommun", "Borås Stad", "Göteborgs Stad"} <= set(names), names
        pick_organisation(page, stack, "boras")

        log_in_at_idp(page, "cecilia")

        expect_logged_in(page, stack, "Cecilia", "Holm", "cecilia.holm@boras.se", "198906059483")
        # No remember box was ticked: the proxy set no cookie for next time.
        assert REMEMBER_COOKIE not in {cookie["name"] for cookie in page.context.cookies()}


def test_user_picks_an_organisation_with_the_keyboard_only(stack, chromium):
    """DOMAIN.md §9 / the routing issue: the picker works with the keyboard alone.

    Only ``page.keyboard`` from the application's start page to its logged-in page: no clicks
    and no ``fill``. After each key the focused element is checked, so the test also pins the
    tab order of the application's start page, the picker, the method page and the IdP's login
    form.
    """
    with fresh_page(chromium) as page:
        page.goto(f"{stack.urls.app}/")
        expect(page.get_by_role("heading", name="Demoapplikation", level=1)).to_be_visible()
        keys = page.keyboard

        keys.press("Tab")
        expect(page.get_by_role("link", name="English", exact=True)).to_be_focused()
        keys.press("Tab")
        expect(page.get_by_role("button", name="Logga in", exact=True)).to_be_focused()
        keys.press("Enter")

        # The picker: the language link, the e-mail form, then the search box.
        expect_picker(page, stack)
        keys.press("Tab")
        expect(page.get_by_role("link", name="English", exact=True)).to_be_focused()
        keys.press("Tab")
        expect(page.get_by_role("textbox", name="E-postadress", exact=True)).to_be_focused()
        keys.press("Tab")
        expect(page.get_by_role("button", name="Fortsätt", exact=True)).to_be_focused()
        keys.press("Tab")
        search = page.get_by_role("searchbox", name="Sök organisation")
        expect(search).to_be_focused()
        assert page.evaluate("document.activeElement.name") == "q"

        count = page.locator("#org-count")
        expect(count).to_have_attribute("aria-live", "polite")
        expect(count).to_have_text(f"{ORGANISATION_COUNT} organisationer")
        keys.type("borås")
        expect(search).to_have_value("borås")
        buttons = page.get_by_role("list", name="Organisationer").get_by_role("button")
        expect(buttons).to_have_text(["Borås Stad"])  # the others are hidden, not just greyed
        expect(count).to_have_text("1 organisation")  # the live region announces the count

        # The (hidden) search button is skipped; the remember box comes before the list.
        keys.press("Tab")
        expect(page.get_by_role("checkbox", name="Kom ihåg mitt val")).to_be_focused()
        keys.press("Tab")
        expect(page.get_by_role("button", name="Borås Stad", exact=True)).to_be_focused()
        assert page.evaluate("[document.activeElement.name, document.activeElement.value]") == [
            "org",
            "boras",
        ]
        keys.press("Enter")

        # The method page: the language link, then one button per method, own login first.
        expect_method_page(page, stack, "boras")
        keys.press("Tab")
        expect(page.get_by_role("link", name="English", exact=True)).to_be_focused()
        keys.press("Tab")
        own_login = page.get_by_role("button", name=OWN_LOGIN, exact=True)
        expect(own_login).to_be_focused()
        assert page.evaluate("[document.activeElement.name, document.activeElement.value]") == [
            "method",
            "own_idp",
        ]
        keys.press("Tab")
        expect(page.get_by_role("button", name=EFOS_LOGIN, exact=True)).to_be_focused()
        keys.press("Shift+Tab")
        expect(own_login).to_be_focused()
        keys.press("Enter")

        # Borås's demo IdP puts the focus in the username field itself (autofocus); Shift+Tab
        # reaches its language switch, and Tab comes back.
        expect_idp_login(page, stack, "boras")
        username = page.get_by_role("textbox", name="Användarnamn")
        expect(username).to_be_focused()
        keys.press("Shift+Tab")
        expect(page.get_by_role("button", name="English", exact=True)).to_be_focused()
        keys.press("Tab")
        expect(username).to_be_focused()
        keys.type("cecilia")
        keys.press("Tab")
        expect(page.get_by_label("Lösenord")).to_be_focused()
        assert page.evaluate("document.activeElement.name") == "password"
        keys.type("demo")
        keys.press("Enter")

        expect_logged_in(page, stack, "Cecilia", "Holm", "cecilia.holm@boras.se")


def test_user_of_another_organisation_is_refused_by_the_scope_check(stack, chromium):
    """ivar works for Göteborg but is known to Borås's IdP: the proxy refuses what it asserts."""
    with fresh_page(chromium) as page:
        go_to_idp_login(page, stack, "boras")
        shown = main_frame_urls(page)
        answers: list[Response] = []
        page.on(
            "response", lambda r: answers.append(r) if r.request.is_navigation_request() else None
        )

        log_in_at_idp(page, "ivar")

        expect(page).to_have_url(at(stack.urls.proxy))
        expect(page.get_by_role("heading", name="Inloggningen nekades", level=1)).to_be_visible()
        expect(page.locator("main")).to_contain_text("inte hör till organisationen")
        expect(page.get_by_role("heading", name="Login refused", level=2)).to_be_visible()
        error_ids = page.locator(".errorid")
        expect(error_ids.first).to_have_text(re.compile(r"^[0-9a-f]{12}$"))
        error_id = error_ids.first.inner_text()
        expect(error_ids).to_have_text([error_id, error_id])
        refusal = answers[-1]
        assert at(stack.urls.proxy).match(refusal.url) and refusal.status == 403
        assert error_id in stack.logs("proxy")

        # The application never received a login: no page of it was shown, and it knows no one.
        page.wait_for_load_state("load")
        assert at(stack.urls.proxy).match(shown[-1]), shown
        assert not [url for url in shown if at(stack.urls.app).match(url)], shown
        assert page.request.get(f"{stack.urls.app}/sp/attributes.json").status == 401
        expect(page.locator("body")).not_to_contain_text("Ivar")


def test_remembered_organisation_skips_the_picker(stack, chromium):
    with fresh_page(chromium) as page:
        go_to_picker(page, stack)
        page.get_by_role("checkbox", name="Kom ihåg mitt val").check()
        pick_organisation(page, stack, "goteborg")
        log_in_at_idp(page, "eva")
        choose_commission(page, "Sjuksköterska Vårdcentralen Lundby")
        expect_logged_in(page, stack, "Eva", "Sjöberg")
        remembered = {c["name"]: c["value"] for c in page.context.cookies(stack.urls.proxy)}
        assert remembered.get(REMEMBER_COOKIE) == "goteborg"

        page.get_by_role("link", name="Logga ut", exact=True).click()
        # Single logout: the proxy also ends Göteborg's IdP login, then lists what it ended.
        expect(page.locator("#upstream")).to_have_text("Göteborgs Stad: utloggad.")
        page.get_by_role("link", name="Tillbaka till Demoapplikation").click()
        expect(page).to_have_url(f"{stack.urls.app}/")
        expect(page.get_by_role("heading", name="Demoapplikation", level=1)).to_be_visible()

        shown = main_frame_urls(page)
        page.get_by_role("button", name="Logga in", exact=True).click()

        # Straight to Göteborg's method page (the cookie remembers the organisation, not the
        # method): it is the one page the proxy showed, the picker was skipped.
        expect_method_page(page, stack, "goteborg")
        proxy_pages = [url for url in shown if at(stack.urls.proxy).match(url)]
        assert len(proxy_pages) == 1 and proxy_pages == shown[-1:], shown
        expect(page.get_by_role("heading", name="Välj organisation")).to_have_count(0)
        choose_own_login(page, stack, "goteborg")
        log_in_at_idp(page, "gustav")
        expect_logged_in(page, stack, "Gustav", "Berg", "gustav.berg@goteborg.se")
        # "Glöm mitt val" is on the picker only, and with a remembered organisation the picker
        # is never shown (nor is it on the method page): there is no page to forget the choice
        # on, so that part is not tested.


def test_login_form_puts_the_button_below_the_password_at_every_width(stack, chromium):
    with fresh_page(chromium) as page:
        go_to_idp_login(page, stack)
        for width in (375, 1000, 1400):
            page.set_viewport_size({"width": width, "height": 800})
            field = page.get_by_label("Lösenord").bounding_box()
            button = page.get_by_role("button", name="Logga in", exact=True).bounding_box()
            assert field and button
            assert button["y"] >= field["y"] + field["height"], f"beside the field at {width}"


# The header cells whose text takes more lines than it has words: a word broke inside.
BROKEN_HEADERS_JS = r"""() => [...document.querySelectorAll("th")].flatMap(th =>
    [...th.childNodes].filter(node => node.nodeType === Node.TEXT_NODE).flatMap(node => {
        const range = document.createRange();
        range.selectNodeContents(node);
        const words = node.textContent.trim().split(/\s+/).filter(Boolean);
        const lines = new Set([...range.getClientRects()].map(rect => Math.round(rect.top)));
        return lines.size > words.length ? [node.textContent.trim()] : [];
    }))"""


def test_table_headers_do_not_break_inside_words_on_a_phone(stack, chromium, tmp_path):
    with fresh_page(chromium) as page:
        page.set_viewport_size({"width": 375, "height": 800})
        go_to_picker(page, stack)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        screenshot = tmp_path / "picker-375.png"
        page.screenshot(path=str(screenshot), full_page=True)
        shutil.copyfile(screenshot, PICKER_SCREENSHOT_COPY)

        choose_in_list(page, ORGANISATION_NAMES["boras"])
        expect_method_page(page, stack, "boras")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        choose_own_login(page, stack, "boras")
        assert page.evaluate(BROKEN_HEADERS_JS) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= 375

        log_in_at_idp(page, "cecilia")
        expect(page.get_by_role("heading", name="Inloggad", level=1)).to_be_visible()

        assert page.evaluate(BROKEN_HEADERS_JS) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= 375


def test_english_is_available_on_the_login_pages(stack, chromium):
    with fresh_page(chromium) as page:
        go_to_picker(page, stack)

        page.get_by_role("link", name="English", exact=True).click()

        expect(page).to_have_url(at(stack.urls.proxy))
        heading = page.get_by_role("heading", name="Choose your organisation", level=1)
        expect(heading).to_be_visible()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        page.get_by_role("button", name="Göteborgs Stad", exact=True).click()

        # The method page stays in English; the organisation's name is Swedish (lang="sv").
        title = "How do you want to log in to Göteborgs Stad?"
        expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.locator("h1 span")).to_have_attribute("lang", "sv")
        methods = page.get_by_role("main").get_by_role("button")
        expect(methods).to_have_text(["With your organisation's login", "With Mobilt Efos"])
        page.get_by_role("button", name="With your organisation's login", exact=True).click()

        expect_idp_login(page, stack, "goteborg")  # the IdP has its own language switch
        page.get_by_role("button", name="English", exact=True).click()

        expect(page).to_have_url(at(stack.urls.idps["goteborg"]))
        title = f"Log in at {DEMO_IDPS['goteborg']}"
        expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
        expect(page.get_by_role("note")).to_contain_text("Demo – not a real service")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.get_by_role("button", name="Svenska", exact=True)).to_be_visible()

        page.get_by_label("Username").fill("eva")
        page.get_by_label("Password").fill("demo")
        page.get_by_role("button", name="Log in", exact=True).click()
        # The commission page opens in the language chosen at the picker.
        choose_commission(page, "Sjuksköterska Hemsjukvården Centrum", lang="en")

        expect(page).to_have_url(at(stack.urls.app))
        expect(page.locator("table#attributes")).to_contain_text("eva.sjoberg@goteborg.se")


def test_wrong_password_stays_at_the_idp_with_an_error(stack, chromium):
    with fresh_page(chromium) as page:
        go_to_idp_login(page, stack)
        idp = stack.urls.idps["goteborg"]
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))

        log_in_at_idp(page, "eva", "fel-lösenord")

        alert = page.get_by_role("alert")
        expect(alert).to_have_text("Fel användarnamn eller lösenord.")
        expect(page).to_have_url(at(idp))
        expect(page.get_by_label("Användarnamn")).to_have_value("eva")
        expect(page.get_by_label("Lösenord")).to_have_attribute("aria-invalid", "true")
        expect(page.get_by_label("Lösenord")).to_have_value("")
        page.wait_for_load_state("load")
        assert requested, "the login form was not submitted"
        elsewhere = [url for url in requested if not at(idp).match(url)]
        assert not elsewhere, f"the browser left the IdP after a wrong password: {elsewhere}"
