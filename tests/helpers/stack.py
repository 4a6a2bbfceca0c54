"""The demo, started on free loopback ports: what the flow, browser and benchmark runs drive.

A helper module, not a conftest, so that benchmark scripts and test modules import it by one
name (several conftest.py files would shadow each other as the module ``conftest``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from satosa_efos import demo
from satosa_efos.processes import Server, stop_all


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
