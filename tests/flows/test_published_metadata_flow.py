"""The running proxy serves its published IdP metadata at the entityID URL, byte for byte the
file `satosa-efos metadata publish` writes (so the checksum read out over the phone holds)."""

from __future__ import annotations

import hashlib

import pytest
import requests

pytestmark = pytest.mark.flow


def test_the_entityid_url_serves_the_published_file(stack):
    published = (stack.demo_dir / "metadata" / "proxy" / "idp.xml").read_bytes()
    for _ in range(3):  # every worker builds the same bytes
        response = requests.get(f"{stack.urls.proxy}/metadata/idp.xml", timeout=10)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/samlmetadata+xml"
        assert response.content == published
        assert response.headers["ETag"] == f'"{hashlib.sha256(published).hexdigest()}"'
