"""A demo stack whose `hsa` micro-service asks a chosen directory, and a Mobilt Efos login."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import requests

from helpers.browser import Browser
from helpers.stack import Stack, start_stack

REPO = Path(__file__).resolve().parents[2]

APPLICATIONS = """applications:
  - id: demo-app
    name: Demoapplikation
    protocol: saml
    entity_id: ${{SATOSA_EFOS_DEMO_APP_URL:-http://localhost:8090}}/sp
    metadata: ${{SATOSA_EFOS_DEMO_DIR:-../../var/demo}}/metadata/sp/demo-app.xml
    allowed_organisations: all
    released_attributes: [givenName, surname, personalIdentityNumber, employeeHsaId,
      commissionHsaId, commissionName, commissionPurpose, commissionRight,
      healthCareUnitHsaId, healthCareUnitName, healthCareProviderHsaId, healthCareProviderName]
    hsa:
      commission: one
      purposes: [{purposes}]
"""


def stack_with_hsa(
    tmp: Path, purposes: str = "", directory: dict | None = None, workers: int = 2
) -> Stack:
    """The demo with its application needing one commission; ``directory`` replaces the
    micro-service's ``directory`` block (default: the in-memory test directory)."""
    shutil.copytree(REPO / "conf", tmp / "conf", symlinks=True,
                    ignore=shutil.ignore_patterns("keys"))  # fmt: skip
    conf = tmp / "conf" / "demo"
    (conf / "applications.yaml").write_text(APPLICATIONS.format(purposes=purposes))
    if directory is not None:
        service = conf / "plugins" / "microservices" / "hsa.yaml"
        text = service.read_text()
        old = "  directory: {type: memory, ldif: null}\n"
        assert old in text, "the demo's hsa.yaml changed: update this helper"
        # JSON is YAML: the block is written on one line, whatever it holds.
        service.write_text(text.replace(old, f"  directory: {json.dumps(directory)}\n"))
    return start_stack(tmp, workers=workers, conf_dir=conf)


def efos_login(stack: Stack, user: str, organisation: str = "vgr"):
    """Mobilt Efos login approved as ``user``; returns the browser and the page after it."""
    browser = Browser()
    picker = browser.submit(browser.get(f"{stack.urls.app}/"))
    page = browser.submit(picker, having="org", org=organisation)
    page = browser.choose_method(page, "efos_mobile")
    requests.post(f"{stack.urls.efos_phone}/control/orders/latest/approve",
                  json={"user": user}, timeout=10)  # fmt: skip
    for _ in range(30):
        if browser.get(f"{stack.urls.proxy}/efos/status").json()["status"] == "complete":
            break
        time.sleep(0.3)
    return browser, browser.follow(browser.get(f"{stack.urls.proxy}/efos/complete"))
