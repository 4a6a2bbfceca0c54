"""Mobilt Efos in a real browser: headless Chromium, the proxy's QR page and the Efos SIMULATOR.

The user picks Ale kommun (Mobilt Efos is its only login method), so the proxy goes straight to
its QR page: an animated QR code that the page's script renews every second, and the order's
status, polled every two seconds. The simulator's control API plays the user's phone (approve as
a demo user, deny); the page must notice by itself and take the browser on, to the application
or to a "Försök igen" link. Without JavaScript the page refreshes itself instead.

tests/flows/test_efos_flow.py covers the same backend over plain HTTP (certificates, errors);
here the browser's own HTML, script and cookies are under test.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest
import requests
from e2e.browsing import choose_in_list, expect_logged_in, fresh_page, go_to_picker
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

QR_SCREENSHOT_COPY = Path("/tmp/satosa-efos-qr-375.png")
ORGANISATION = "Ale kommun"  # conf/demo/organisations: login_methods [efos_mobile] only
USER, PERSONNUMMER = "david", "197010632391"  # simulators/demo_users.yaml (a samordningsnummer)
LOA3 = "http://id.sambi.se/loa/loa3"  # the Efos policy's LoA, in the demo app's (Sambi) profile
#: The page polls the status every 2 s (without script it refreshes every 2 s): it must be on
#: its way within a few seconds of the phone's answer (about 2.4 s at worst here).
NOTICE_MS = 5_000

SWEDISH = {
    "heading": "Logga in med Mobilt Efos",
    "qr": "QR-kod för Mobilt Efos",
    "open_app": "Öppna Efos-appen på den här enheten",
    "cancel": "Avbryt",
    "waiting": "Starta Efos-appen på din mobil och skanna QR-koden.",
    "user_sign": "Skriv in din säkerhetskod i Efos-appen.",
    "denied": "Inloggningen avbröts i Efos-appen.",
    "retry": "Försök igen",
    "switch": "English",
}
ENGLISH = {
    "heading": "Log in with Mobilt Efos",
    "qr": "QR code for Mobilt Efos",
    "open_app": "Open the Efos app on this device",
    "cancel": "Cancel",
    "waiting": "Start the Efos app on your phone and scan the QR code.",
    "user_sign": "Enter your security code in the Efos app.",
    "denied": "The login was cancelled in the Efos app.",
    "retry": "Try again",
    "switch": "Svenska",
}


def control(stack, path: str, **body) -> dict:
    """A call to the simulator's control API (the pretend phone), e.g. ``orders/latest/deny``."""
    reply = requests.post(f"{stack.urls.efos_phone}/control/{path}", json=body, timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.json() if reply.content else {}


def pending_orders(stack) -> list[dict]:
    reply = requests.get(f"{stack.urls.efos_phone}/control/orders", timeout=10)
    reply.raise_for_status()
    return [order for order in reply.json()["orders"] if order["status"] == "pending"]


@pytest.fixture(autouse=True)
def reset_simulator(stack):
    """No orders and normal behaviour before (and after) each test."""
    control(stack, "reset")
    yield
    control(stack, "reset")


def qr_page_url(stack) -> str:
    return f"{stack.urls.proxy}/efos/page"


def at_qr_page(stack) -> re.Pattern[str]:
    """The QR page's URL, in either language (``?lang=en``)."""
    return re.compile("^" + re.escape(qr_page_url(stack)) + r"(\?lang=en)?$")


def expect_qr_page(page: Page, stack, texts: dict[str, str] = SWEDISH) -> None:
    """The proxy's Mobilt Efos page, waiting for the app: QR code, app button, status."""
    expect(page).to_have_url(at_qr_page(stack))
    expect(page.get_by_role("heading", name=texts["heading"], level=1)).to_be_visible()
    qr = page.get_by_role("img", name=texts["qr"], exact=True)
    expect(qr).to_be_visible()
    expect(page.locator("#qr svg")).to_have_count(1)
    open_app = page.get_by_role("link", name=texts["open_app"], exact=True)
    expect(open_app).to_be_visible()
    expect(open_app).to_have_attribute("href", re.compile(r"^efos:///\?autostarttoken=[\w-]+"))
    expect(page.get_by_role("button", name=texts["cancel"], exact=True)).to_be_visible()
    expect(page.get_by_role("status")).to_have_text(texts["waiting"])


def go_to_qr_page(page: Page, stack) -> None:
    """From the application's start page, through the picker, to Ale's Mobilt Efos page."""
    go_to_picker(page, stack)
    choose_in_list(page, ORGANISATION)
    expect_qr_page(page, stack)
    assert len(pending_orders(stack)) == 1, "the page did not start exactly one order"


def qr_svg(page: Page) -> str:
    return page.locator("#qr").inner_html()


def expect_logged_in_with_efos(page: Page, stack) -> None:
    """The application's logged-in page: David's personnummer, and LoA 3 from the policy."""
    expect_logged_in(page, stack, PERSONNUMMER, "David", "Nordin")
    expect(page.locator("table#login")).to_contain_text(LOA3)


def test_efos_login_in_a_browser_with_the_qr_page_visible(stack, chromium, tmp_path):
    with fresh_page(chromium) as page:
        go_to_qr_page(page, stack)

        # The QR code is animated: the script fetches a new frame every second.
        first = qr_svg(page)
        assert first.startswith("<svg") and 'role="img"' in first, first[:200]
        page.wait_for_timeout(1_200)
        changed = "([qr, before]) => qr.innerHTML !== before && qr.innerHTML.startsWith('<svg')"
        qr = page.locator("#qr").element_handle()
        page.wait_for_function(changed, arg=[qr, first], timeout=1_000)  # a late fetch at most
        assert qr_svg(page) != first

        # At a phone's width: nothing wider than the screen, the QR code inside it.
        page.set_viewport_size({"width": 375, "height": 800})
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        box = page.get_by_role("img", name=SWEDISH["qr"]).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 375, box
        screenshot = tmp_path / "qr-375.png"
        page.screenshot(path=str(screenshot), full_page=True)
        shutil.copyfile(screenshot, QR_SCREENSHOT_COPY)

        # The app found the order and asks for the code: the page says so, without a reload.
        control(stack, "orders/latest/hint", hintCode="userSign")
        expect(page.get_by_role("status")).to_have_text(SWEDISH["user_sign"], timeout=NOTICE_MS)

        approved = time.monotonic()
        control(stack, "orders/latest/approve", user=USER)

        # The script notices within a poll or two and leaves for the application.
        expect(page).to_have_url(f"{stack.urls.app}/sp/loggedin", timeout=NOTICE_MS)
        noticed = time.monotonic() - approved
        expect_logged_in_with_efos(page, stack)
        assert noticed * 1000 <= NOTICE_MS, f"the page took {noticed:.1f} s to notice"
        assert pending_orders(stack) == []


def test_efos_page_says_when_the_user_denies(stack, chromium):
    with fresh_page(chromium) as page:
        go_to_qr_page(page, stack)

        control(stack, "orders/latest/deny")

        # The script reloads the page on failure: the message, no QR code, a new try.
        status = page.get_by_role("status")
        expect(status).to_have_text(SWEDISH["denied"], timeout=NOTICE_MS)
        retry = page.get_by_role("link", name=SWEDISH["retry"], exact=True)
        expect(retry).to_be_visible()
        expect(page).to_have_url(at_qr_page(stack))
        expect(page.locator("#qr")).to_have_count(0)
        expect(page.get_by_role("link", name=SWEDISH["open_app"])).to_have_count(0)
        expect(page.get_by_role("button", name=SWEDISH["cancel"], exact=True)).to_be_visible()

        # "Försök igen" starts a new order: a new QR code, waiting for the app again.
        retry.click()
        expect_qr_page(page, stack)
        assert len(pending_orders(stack)) == 1


def test_efos_page_works_without_javascript(stack, chromium):
    with fresh_page(chromium, java_script_enabled=False) as page:
        # Without script every auto-posting form shows its button, and the user presses it.
        page.goto(f"{stack.urls.app}/")
        page.get_by_role("button", name="Logga in", exact=True).click()
        page.get_by_role("button", name="Fortsätt", exact=True).click()
        expect(page.get_by_role("heading", name="Välj organisation", level=1)).to_be_visible()
        choose_in_list(page, ORGANISATION)

        expect_qr_page(page, stack)
        # Without script, <noscript> in the head is markup: the page refreshes itself.
        expect(page.locator('meta[http-equiv="refresh"]')).to_have_attribute("content", "2")
        first = qr_svg(page)
        with page.expect_event("load", timeout=NOTICE_MS):
            pass  # the next self-refresh: the same order, a new QR frame
        expect_qr_page(page, stack)
        assert qr_svg(page) != first
        assert len(pending_orders(stack)) == 1, "a refresh started another order"

        control(stack, "orders/latest/approve", user=USER)

        # The next refresh finds the order complete and goes on to the proxy's response to the
        # application: the proxy's own POST-binding page, whose no-script button says
        # "Fortsätt / Continue", with a Swedish and an English explanation.
        expect(page.get_by_text("Om inget händer: tryck på knappen")).to_be_visible(
            timeout=NOTICE_MS
        )
        proceed = page.get_by_role("button", name="Fortsätt / Continue")
        expect(proceed).to_be_visible(timeout=NOTICE_MS)
        proceed.click()
        expect_logged_in_with_efos(page, stack)


def test_efos_page_in_english(stack, chromium):
    with fresh_page(chromium) as page:
        go_to_qr_page(page, stack)
        switch = page.get_by_role("link", name=SWEDISH["switch"], exact=True)
        expect(switch).to_have_attribute("href", f"{qr_page_url(stack)}?lang=en")

        page.goto(f"{qr_page_url(stack)}?lang=en")

        expect_qr_page(page, stack, ENGLISH)
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page).to_have_title("Log in with Mobilt Efos – Login service")
        expect(page.get_by_role("listitem").first).to_have_text("Open the Efos app on your phone.")
        expect(page.get_by_role("link", name=ENGLISH["switch"], exact=True)).to_be_visible()
        assert len(pending_orders(stack)) == 1, "the language switch started another order"

        # The script's polls and new QR frames stay in English too.
        control(stack, "orders/latest/hint", hintCode="userSign")
        expect(page.get_by_role("status")).to_have_text(ENGLISH["user_sign"], timeout=NOTICE_MS)
        expect(page.get_by_role("img", name=ENGLISH["qr"], exact=True)).to_be_visible()
        control(stack, "orders/latest/deny")
        expect(page.get_by_role("status")).to_have_text(ENGLISH["denied"], timeout=NOTICE_MS)
        expect(page.get_by_role("link", name=ENGLISH["retry"], exact=True)).to_be_visible()
