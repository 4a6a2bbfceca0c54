"""Shared fixtures: the demo stack (proxy under gunicorn, demo application, demo IdP)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import pnr_scan
from helpers.stack import Stack, start_stack

from satosa_efos.keys import ensure_proxy_keys
from satosa_efos.processes import stop_all

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def prod_conf(tmp_path: Path) -> Path:
    """A copy of the production-shaped conf/ (and metadata/) with development keys."""
    ignore = shutil.ignore_patterns("keys", "demo")
    shutil.copytree(REPO / "conf", tmp_path / "conf", ignore=ignore)
    shutil.copytree(REPO / "metadata", tmp_path / "metadata")
    ensure_proxy_keys(tmp_path / "conf" / "keys")
    return tmp_path / "conf"


@pytest.fixture(scope="session", autouse=True)
def no_personnummer_in_logs(tmp_path_factory):
    """DESIGN.md §7: after the whole session, no log file any test wrote under pytest's temporary
    folders holds a test user's personnummer in clear (an error of the last test if one does)."""
    yield
    found = pnr_scan.leaks(pnr_scan.log_files(tmp_path_factory.getbasetemp()))
    assert not found, "personnummer in clear in log files:\n" + "\n".join(found[:50])


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Stack:
    """The demo on free loopback ports, the proxy with three gunicorn workers."""
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    stop_all(running.servers)
