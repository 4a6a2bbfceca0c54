"""The demo login in a real browser: headless Chromium, driven by Playwright.

The same journey as tests/flows/test_login_flow.py, but with a browser's own HTML, JavaScript and
cookies: the demo application's "Logga in" posts to the application, whose page posts the SAML
request to the proxy by script, the proxy sends the browser to the demo IdP, and after the login
the IdP's and the proxy's auto-posting forms carry the responses back to the application.

The browser is Debian's Chromium (``make test`` installs it); Playwright never downloads one.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000
SCREENSHOT_COPY = Path("/tmp/satosa-efos-logged-in.png")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser | None]:
    """One headless Chromium for the module; None when it is not installed (the tests fail)."""
    if not CHROMIUM.exists():
        yield None
        return
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@contextmanager
def fresh_page(chromium: Browser | None) -> Iterator[Page]:
    """A page in a new browser context: no cookies or storage from another test."""
    if chromium is None:
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium. "
            "`make test` installs it (Debian package chromium)."
        )
    context = chromium.new_context(locale="sv-SE", viewport={"width": 1000, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def at(base_url: str) -> re.Pattern[str]:
    """A URL pattern for any page of the server at ``base_url``."""
    return re.compile("^" + re.escape(base_url) + "(/|$)")


def go_to_idp_login(page: Page, stack) -> None:
    """From the application's start page to the demo IdP's login form (in Swedish)."""
    page.goto(f"{stack.urls.app}/")
    expect(page.get_by_role("heading", name="Demoapplikation", level=1)).to_be_visible()
    page.get_by_role("button", name="Logga in", exact=True).click()
    expect(page).to_have_url(at(stack.urls.idp))
    expect(page.get_by_role("heading", name="Logga in hos Demo-IdP", level=1)).to_be_visible()


def test_user_logs_in_through_the_proxy_in_a_browser(stack, chromium, tmp_path):
    with fresh_page(chromium) as page:
        go_to_idp_login(page, stack)

        page.get_by_label("Användarnamn").fill("anna")
        page.get_by_label("Lösenord").fill("demo")
        page.get_by_role("button", name="Logga in", exact=True).click()

        # The IdP's auto-posting form goes to the proxy, the proxy's to the application.
        expect(page).to_have_url(at(stack.urls.app))
        expect(page.get_by_role("heading", name="Inloggad", level=1)).to_be_visible()
        attributes = page.locator("table#attributes")
        for value in ("Anna", "Lindqvist", "anna.lindqvist@vgregion.se"):
            expect(attributes).to_contain_text(value)
        expect(page.get_by_role("note")).to_contain_text("Demo")

        screenshot = tmp_path / "logged-in.png"
        page.screenshot(path=str(screenshot), full_page=True)
        assert screenshot.stat().st_size > 0
        shutil.copyfile(screenshot, SCREENSHOT_COPY)

        # POST-redirect-GET: the login is shown by a GET page, which a reload simply shows again.
        expect(page).to_have_url(f"{stack.urls.app}/sp/loggedin")
        reloaded = page.reload()
        assert reloaded is not None and reloaded.status == 200
        assert reloaded.request.method == "GET"
        expect(page.locator("table#attributes")).to_contain_text("Lindqvist")

        page.get_by_role("link", name="English", exact=True).click()
        expect(page.get_by_role("heading", name="Logged in", level=1)).to_be_visible()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.locator("table#attributes")).to_contain_text("Lindqvist")
        page.get_by_role("link", name="Svenska", exact=True).click()
        expect(page.get_by_role("heading", name="Inloggad", level=1)).to_be_visible()


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


def test_table_headers_do_not_break_inside_words_on_a_phone(stack, chromium):
    with fresh_page(chromium) as page:
        page.set_viewport_size({"width": 375, "height": 800})
        go_to_idp_login(page, stack)
        assert page.evaluate(BROKEN_HEADERS_JS) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= 375

        page.get_by_label("Användarnamn").fill("anna")
        page.get_by_label("Lösenord").fill("demo")
        page.get_by_role("button", name="Logga in", exact=True).click()
        expect(page.get_by_role("heading", name="Inloggad", level=1)).to_be_visible()

        assert page.evaluate(BROKEN_HEADERS_JS) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= 375


def test_english_is_available_on_the_login_pages(stack, chromium):
    with fresh_page(chromium) as page:
        go_to_idp_login(page, stack)

        page.get_by_role("button", name="English", exact=True).click()

        expect(page).to_have_url(at(stack.urls.idp))
        expect(page.get_by_role("heading", name="Log in at Demo IdP", level=1)).to_be_visible()
        expect(page.get_by_role("note")).to_contain_text("Demo – not a real service")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.get_by_role("button", name="Svenska", exact=True)).to_be_visible()

        page.get_by_label("Username").fill("anna")
        page.get_by_label("Password").fill("demo")
        page.get_by_role("button", name="Log in", exact=True).click()

        expect(page).to_have_url(at(stack.urls.app))
        expect(page.locator("table#attributes")).to_contain_text("anna.lindqvist@vgregion.se")


def test_wrong_password_stays_at_the_idp_with_an_error(stack, chromium):
    with fresh_page(chromium) as page:
        go_to_idp_login(page, stack)
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))

        page.get_by_label("Användarnamn").fill("anna")
        page.get_by_label("Lösenord").fill("fel-lösenord")
        page.get_by_role("button", name="Logga in", exact=True).click()

        alert = page.get_by_role("alert")
        expect(alert).to_have_text("Fel användarnamn eller lösenord.")
        expect(page).to_have_url(at(stack.urls.idp))
        expect(page.get_by_label("Användarnamn")).to_have_value("anna")
        expect(page.get_by_label("Lösenord")).to_have_attribute("aria-invalid", "true")
        expect(page.get_by_label("Lösenord")).to_have_value("")
        page.wait_for_load_state("load")
        assert requested, "the login form was not submitted"
        elsewhere = [url for url in requested if not at(stack.urls.idp).match(url)]
        assert not elsewhere, f"the browser left the IdP after a wrong password: {elsewhere}"
