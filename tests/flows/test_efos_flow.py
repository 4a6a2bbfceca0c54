"""Mobilt Efos over real HTTP: the proxy under gunicorn (3 workers) and the Efos SIMULATOR.

The simulator's control API plays the user's phone: it approves the newest order as a demo user,
with a good certificate or a broken one, or makes the service slow or failing.
"""

from __future__ import annotations

import re
import time

import pytest
import requests
from helpers.browser import Browser

pytestmark = pytest.mark.flow


def control(stack, path: str, **body) -> dict:
    reply = requests.post(f"{stack.urls.efos_phone}/control/{path}", json=body, timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.json() if reply.content else {}


@pytest.fixture(autouse=True)
def reset_simulator(stack):
    control(stack, "reset")
    yield
    control(stack, "reset")


def start_efos_login(stack, browser: Browser, organisation: str = "ale") -> requests.Response:
    picker = browser.submit(browser.get(f"{stack.urls.app}/"))
    page = browser.submit(picker, having="org", org=organisation)
    if 'name="method"' in page.text:
        page = browser.submit(page, having="method", method="efos_mobile")
    assert page.url.startswith(f"{stack.urls.proxy}/efos/page"), page.url
    return page


def wait_for(browser: Browser, stack, status: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = browser.get(f"{stack.urls.proxy}/efos/status").json()
        if answer["status"] == status:
            return answer
        time.sleep(0.3)
    raise AssertionError(f"order never reached {status}: {answer}")


def finish(browser: Browser, stack) -> requests.Response:
    return browser.follow(browser.get(f"{stack.urls.proxy}/efos/complete"))


def test_efos_login_reaches_the_application_with_certificate_attributes(stack):
    browser = Browser()
    page = start_efos_login(stack, browser)
    assert "<svg" in page.text and "Öppna Efos-appen på den här enheten" in page.text
    assert "Starta Efos-appen på din mobil och skanna QR-koden." in page.text
    control(stack, "orders/latest/approve", user="david")
    wait_for(browser, stack, "complete")
    result = finish(browser, stack)
    assert result.status_code == 200, result.text
    received = browser.get(f"{stack.urls.app}/sp/attributes.json").json()
    attributes = received["attributes"]
    assert attributes["personalIdentityNumber"] == ["197010632391"]  # a samordningsnummer
    assert attributes["givenName"] == ["David"]
    # The certificate policy's LoA (loa3), in the application's profile (Sambi by default).
    assert received["authn_context_class_ref"] == "http://id.sambi.se/loa/loa3"
    assert "197010632391" not in stack.logs("proxy")


def test_qr_code_changes_every_second(stack):
    browser = Browser()
    start_efos_login(stack, browser)
    first = browser.get(f"{stack.urls.proxy}/efos/qr").text
    time.sleep(1.2)
    second = browser.get(f"{stack.urls.proxy}/efos/qr").text
    assert first.startswith("<svg") and second.startswith("<svg") and first != second


@pytest.mark.parametrize(
    ("variant", "reason"),
    [
        ("foreign_ca", "efos.untrusted"),
        ("expired", "efos.expired"),
        ("revoked", "efos.revoked"),
        ("wrong_policy", "efos.policy"),
        ("bad_signature", "efos.bad_signature"),
    ],
)
def test_refuses_certificate_or_signature_that_does_not_hold(stack, variant, reason):
    browser = Browser()
    start_efos_login(stack, browser)
    control(stack, "orders/latest/approve", user="david", variant=variant)
    wait_for(browser, stack, "complete")
    page = finish(browser, stack)
    assert page.status_code == 403
    assert "Inloggningen nekades" in page.text
    error_id = re.search(r'class="errorid">([0-9a-f]{12})<', page.text).group(1)
    log = stack.logs("proxy")
    assert error_id in log and reason in log
    assert browser.get(f"{stack.urls.app}/sp/attributes.json").status_code == 401


def test_order_cannot_be_polled_or_completed_from_another_session(stack):
    owner = Browser()
    start_efos_login(stack, owner)
    control(stack, "orders/latest/approve", user="david")
    stranger = Browser()
    for endpoint in ("status", "complete", "qr"):
        reply = stranger.get(f"{stack.urls.proxy}/efos/{endpoint}")
        assert reply.status_code == 400, endpoint
        assert "Inloggningen avbröts" in reply.text


def test_completed_order_is_consumed_once(stack):
    browser = Browser()
    start_efos_login(stack, browser)
    control(stack, "orders/latest/approve", user="david")
    wait_for(browser, stack, "complete")
    saved = dict(browser.session.cookies.get_dict())
    assert finish(browser, stack).status_code == 200
    replay = requests.get(f"{stack.urls.proxy}/efos/complete", cookies=saved, timeout=10)
    assert replay.status_code == 403
    assert "redan använd" in replay.text or "redan" in replay.text


@pytest.mark.parametrize("hint", ["outstandingTransaction", "noClient", "started", "userSign"])
def test_status_shows_the_message_of_each_pending_hint(stack, hint):
    from satosa_efos.web.efos_texts import hint_message

    browser = Browser()
    start_efos_login(stack, browser)
    order = control(stack, "orders")
    ref = order["orders"][0]["orderRef"] if isinstance(order, dict) else order[0]["orderRef"]
    control(stack, f"orders/{ref}/hint", hintCode=hint)
    answer = wait_for(browser, stack, "pending")
    assert answer["message"] == hint_message("pending", hint, "sv")


def test_user_who_denies_sees_why_and_can_try_again(stack):
    browser = Browser()
    start_efos_login(stack, browser)
    control(stack, "orders/latest/deny")
    answer = wait_for(browser, stack, "failed")
    assert answer["message"] == "Inloggningen avbröts i Efos-appen."
    page = browser.get(f"{stack.urls.proxy}/efos/page")
    assert "Försök igen" in page.text
    again = browser.get(f"{stack.urls.proxy}/efos/retry")
    assert again.status_code == 200 and "<svg" in again.text


@pytest.mark.parametrize("behaviour", [{"status": 503}, {"delay_seconds": 8}])
def test_service_down_or_slow_shows_unavailable_within_the_timeout(stack, behaviour):
    control(stack, "behaviour", **behaviour)
    browser = Browser()
    picker = browser.submit(browser.get(f"{stack.urls.app}/"))
    started = time.monotonic()
    page = browser.submit(picker, having="org", org="ale")
    elapsed = time.monotonic() - started
    assert page.status_code == 503
    assert "Mobilt Efos är inte tillgängligt just nu" in page.text
    assert elapsed < 5 + 2.5, f"took {elapsed:.1f} s; the timeout is 5 s"
