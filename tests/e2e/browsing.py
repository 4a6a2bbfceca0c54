"""What the browser tests share: a fresh browser context per test and the demo's common pages.

The application's start page, the proxy's organisation picker and the application's logged-in
page are the same whichever login method the user takes; the pages of one method (the demo
IdP's form, the Mobilt Efos QR page) belong to that method's test module.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

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


@contextmanager
def fresh_page(chromium: Browser | None, **options: Any) -> Iterator[Page]:
    """A page in a new browser context: no cookies or storage from another test.

    ``options`` go to ``Browser.new_context`` (e.g. ``java_script_enabled=False``).
    """
    if chromium is None:
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium. "
            "`make test` installs it (Debian package chromium)."
        )
    options = {"locale": "sv-SE", "viewport": {"width": 1000, "height": 800}, **options}
    context = chromium.new_context(**options)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def at(base_url: str) -> re.Pattern[str]:
    """A URL pattern for any page of the server at ``base_url``."""
    return re.compile("^" + re.escape(base_url) + "(/|$)")


def go_to_picker(page: Page, stack) -> None:
    """From the application's start page to the proxy's organisation picker (in Swedish)."""
    page.goto(f"{stack.urls.app}/")
    expect(page.get_by_role("heading", name="Demoapplikation", level=1)).to_be_visible()
    page.get_by_role("button", name="Logga in", exact=True).click()
    expect_picker(page, stack)


def expect_picker(page: Page, stack) -> None:
    expect(page).to_have_url(at(stack.urls.proxy))
    expect(page.get_by_role("heading", name="Välj organisation", level=1)).to_be_visible()


def choose_in_list(page: Page, name: str) -> None:
    """On the picker, press the button of the organisation called ``name`` in the list."""
    organisations = page.get_by_role("list", name="Organisationer")
    organisations.get_by_role("button", name=name, exact=True).click()


def expect_logged_in(page: Page, stack, *values: str) -> None:
    """The application's logged-in page, showing ``values`` among the attributes."""
    expect(page).to_have_url(f"{stack.urls.app}/sp/loggedin")
    expect(page.get_by_role("heading", name="Inloggad", level=1)).to_be_visible()
    attributes = page.locator("table#attributes")
    for value in values:
        expect(attributes).to_contain_text(value)


def main_frame_urls(page: Page) -> list[str]:
    """Every URL the page's main frame commits from now on (pages shown, not redirects)."""
    urls: list[str] = []

    def committed(frame) -> None:
        if frame == page.main_frame:
            urls.append(frame.url)

    page.on("framenavigated", committed)
    return urls


def choose_commission(page: Page, name: str, lang: str = "sv") -> None:
    """The proxy's commission choice page (HSA): press the commission called ``name``."""
    title, label = {"sv": ("Välj medarbetaruppdrag", "Medarbetaruppdrag"),
                    "en": ("Choose your commission", "Commissions")}[lang]  # fmt: skip
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", lang)
    commissions = page.get_by_role("list", name=label)
    commissions.get_by_role("button", name=name, exact=True).click()
