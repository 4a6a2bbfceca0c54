"""HSA enrichment over real HTTP: a Mobilt Efos login, then the person's HSA data.

The demo's `hsa` micro-service (in-memory directory with the packaged test LDIF), with the
demo application's HSA settings replaced per test module.
"""

from __future__ import annotations

import re

import pytest
from helpers.hsa import efos_login, stack_with_hsa

from satosa_efos.processes import stop_all

pytestmark = pytest.mark.flow


@pytest.fixture(scope="module")
def hsa_stack(tmp_path_factory):
    running = stack_with_hsa(tmp_path_factory.mktemp("hsa"), purposes="")
    yield running
    stop_all(running.servers)


def test_user_with_several_commissions_chooses_one_and_the_application_gets_it(hsa_stack):
    browser, page = efos_login(hsa_stack, "anna", "vgr")
    assert page.status_code == 200
    assert "Välj medarbetaruppdrag" in page.text
    offered = re.findall(r'name="commission" value="([^"]+)"', page.text)
    assert offered == [
        "SE2321000131-C000000000001",
        "SE2321000131-C000000000002",
        "SE2321000131-C000000000003",
    ]  # archived and feigned ones dropped
    result = browser.submit(page, having="commission", commission="SE2321000131-C000000000002")
    assert result.status_code == 200, result.text
    login = browser.get(f"{hsa_stack.urls.app}/sp/attributes.json").json()
    attributes = login["attributes"]
    assert attributes["employeeHsaId"] == ["SE2321000131-E000000001001"]
    assert attributes["commissionHsaId"] == ["SE2321000131-C000000000002"]
    # On the wire, the commission's fields carry their Sambi names (DOMAIN.md §4).
    for name in ("employeeHsaId", "commissionHsaId", "commissionName", "commissionPurpose",
                 "commissionRight", "healthCareUnitHsaId", "healthCareProviderName"):  # fmt: skip
        assert login["attribute_uris"][name] == f"http://sambi.se/attributes/1/{name}"
    assert attributes["commissionName"] == ["Verksamhetschef Vårdcentralen Kungsportsavenyen"]
    assert attributes["commissionPurpose"] == ["Administration"]
    assert attributes["personalIdentityNumber"] == ["195006262546"]


def test_single_fitting_commission_is_used_without_asking(hsa_stack):
    browser, page = efos_login(hsa_stack, "bertil", "vgr")
    assert "Välj medarbetaruppdrag" not in page.text
    attributes = browser.get(f"{hsa_stack.urls.app}/sp/attributes.json").json()["attributes"]
    assert attributes["commissionHsaId"] == ["SE2321000131-C000000000006"]
    assert attributes["commissionRight"]  # activity;informationClass;scope values


def test_commission_not_offered_is_refused_and_the_page_shown_again(hsa_stack):
    browser, page = efos_login(hsa_stack, "anna", "vgr")
    again = browser.submit(page, having="commission", commission="SE2321000131-C000000000005")
    assert "Välj medarbetaruppdrag" in again.text  # the feigned one cannot be picked
    assert browser.get(f"{hsa_stack.urls.app}/sp/attributes.json").status_code == 401
