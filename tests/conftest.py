"""Shared fixtures: the demo stack (proxy under gunicorn, demo application, demo IdP)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers.stack import Stack, start_stack

from satosa_efos.keys import ensure_keypair, ensure_secret
from satosa_efos.processes import stop_all

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def prod_conf(tmp_path: Path) -> Path:
    """A copy of the production-shaped conf/ (and metadata/) with development keys."""
    ignore = shutil.ignore_patterns("keys", "demo")
    shutil.copytree(REPO / "conf", tmp_path / "conf", ignore=ignore)
    shutil.copytree(REPO / "metadata", tmp_path / "metadata")
    for name in ("frontend", "backend"):
        ensure_keypair(tmp_path / "conf" / "keys", name, name)
    ensure_secret(tmp_path / "conf" / "keys" / "state-encryption.key")
    return tmp_path / "conf"


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Stack:
    """The demo on free loopback ports, the proxy with three gunicorn workers."""
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    stop_all(running.servers)
