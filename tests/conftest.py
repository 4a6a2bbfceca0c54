"""Shared fixtures: the demo stack (proxy under gunicorn, demo application, demo IdP)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from satosa_efos import demo
from satosa_efos.keys import ensure_keypair, ensure_secret
from satosa_efos.processes import Server, stop_all

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


@dataclass
class Stack:
    urls: demo.DemoUrls
    demo_dir: Path
    log_dir: Path
    servers: list[Server]

    def organisation_of(self, email: str) -> str:
        return {"goteborg.se": "goteborg", "boras.se": "boras"}[email.rpartition("@")[2]]

    def logs(self, name: str = "proxy") -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")


def start_stack(
    tmp: Path, workers: int = 3, conf_dir: Path = demo.DEMO_CONF, urls: demo.DemoUrls | None = None
) -> Stack:
    urls = urls or demo.DemoUrls.free()
    demo_dir, log_dir = tmp / "demo", tmp / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    demo.prepare(urls, demo_dir, conf_dir)
    servers = demo.servers(urls, demo_dir, conf_dir, workers=workers, log_dir=log_dir)
    try:
        for server in servers:
            server.start()
    except Exception:
        stop_all(servers)
        raise
    return Stack(urls, demo_dir, log_dir, servers)


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Stack:
    """The demo on free loopback ports, the proxy with three gunicorn workers."""
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    stop_all(running.servers)
