"""``/healthz`` and ``/readyz`` of the proxy under gunicorn (the demo stack)."""

from __future__ import annotations

import pytest
import requests

pytestmark = pytest.mark.flow


def test_health_endpoints_answer_before_satosa_routing(stack):
    health = requests.get(f"{stack.urls.proxy}/healthz", timeout=10)
    ready = requests.get(f"{stack.urls.proxy}/readyz", timeout=10)

    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready"
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["keys"]["items"], "the demo's keys and certificates are looked at"
