"""The browser tests' fixture: one headless Chromium per test module (never downloaded)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from e2e.browsing import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS
from playwright.sync_api import Browser, expect, sync_playwright


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
