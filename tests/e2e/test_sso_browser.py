"""Single sign-on and single logout in a real browser (headless Chromium, Playwright).

Eva logs in at the regional demo application, then opens Göteborg's application: no picker, no
IdP, she is in. The proxy's session page shows both applications. She logs out at Göteborg's
application: the proxy's logout page tells the regional application in a frame (its script waits
for the answers and goes on by itself), logs her out at Göteborg's IdP, lists both applications
and the IdP as logged out, and takes her back.
"""

from __future__ import annotations

import pytest
from e2e.browsing import (
    at,
    choose_commission,
    expect_logged_in,
    fresh_page,
    go_to_picker,
    main_frame_urls,
)
from e2e.test_demo_browser import log_in_at_idp, type_email
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

APP2 = "Omsorgsjournalen, Göteborgs Stad (demo)"


def test_sso_across_two_applications_and_logout_from_one(stack, chromium):
    with fresh_page(chromium) as page:
        go_to_picker(page, stack)
        type_email(page, stack, "eva.sjoberg@goteborg.se")
        log_in_at_idp(page, "eva")
        choose_commission(page, "Sjuksköterska Hemsjukvården Centrum")
        expect_logged_in(page, stack, "Eva", "Sjöberg")

        shown = main_frame_urls(page)
        page.goto(f"{stack.urls.app2}/")
        expect(page.get_by_role("heading", name=APP2, level=1)).to_be_visible()
        page.get_by_role("button", name="Logga in", exact=True).click()

        # In at once: the proxy answered from the session (no picker, no IdP, no question).
        expect(page).to_have_url(f"{stack.urls.app2}/sp/loggedin")
        expect(page.locator("table#attributes")).to_contain_text("Sjöberg")
        assert not [u for u in shown if at(stack.urls.idps["goteborg"]).match(u)]
        assert not [u for u in shown if "/routing/" in u]

        page.goto(f"{stack.urls.proxy}/session")
        summary = page.locator("#session-summary")
        expect(summary).to_contain_text("Inloggad som Eva Sjöberg via Göteborgs Stad")
        expect(summary).to_contain_text("Demoapplikation")
        expect(summary).to_contain_text(APP2)

        page.goto(f"{stack.urls.app2}/sp/loggedin")
        page.get_by_role("link", name="Logga ut", exact=True).click()
        # The logout page waits for the frames' answers, then shows the result by itself.
        expect(page.get_by_role("heading", name="Du är utloggad", level=1)).to_be_visible()
        expect(page.locator("#logged-out")).to_contain_text("Demoapplikation")
        expect(page.locator("#logged-out")).to_contain_text(APP2)
        # ... and on from there to Göteborg's IdP and back: its own login has ended too.
        expect(page.locator("#upstream")).to_have_text("Göteborgs Stad: utloggad.")
        page.get_by_role("link", name=f"Tillbaka till {APP2}").click()
        expect(page).to_have_url(at(stack.urls.app2))
        expect(page.locator("#logged-out")).to_be_visible()

        # Logged out of the regional application too, and of the proxy.
        assert page.request.get(f"{stack.urls.app}/sp/attributes.json").status == 401
        page.goto(f"{stack.urls.proxy}/session")
        expect(page.get_by_role("heading", name="Du är inte inloggad", level=1)).to_be_visible()
