"""The demo, started on free loopback ports: what the flow, browser and benchmark runs drive.

A helper module, not a conftest, so that benchmark scripts and test modules import it by one
name (several conftest.py files would shadow each other as the module ``conftest``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from satosa_efos import demo
from satosa_efos.processes import Server, free_port, gunicorn_argv, stop_all


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
    tmp: Path,
    workers: int = 3,
    conf_dir: Path = demo.DEMO_CONF,
    urls: demo.DemoUrls | None = None,
    proxy_env: dict[str, str] | None = None,
    prepared: Callable[[Path], None] | None = None,
) -> Stack:
    """``proxy_env``: more environment for the proxy (e.g. SATOSA_EFOS_SSO_STORE);
    ``prepared``: called with the demo directory once it is prepared, before anything starts
    (e.g. to rewrite a peer's metadata)."""
    urls = urls or demo.DemoUrls.free()
    demo_dir, log_dir = tmp / "demo", tmp / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    demo.prepare(urls, demo_dir, conf_dir)
    if prepared is not None:
        prepared(demo_dir)
    servers = demo.servers(urls, demo_dir, conf_dir, workers=workers, log_dir=log_dir)
    for server in servers:
        if server.name == "proxy":
            server.env.update(proxy_env or {})
    try:
        for server in servers:
            server.start()
    except Exception:
        stop_all(servers)
        raise
    return Stack(urls, demo_dir, log_dir, servers)


def start_second_node(stack: Stack, workers: int = 2, name: str = "proxy2") -> Server:
    """Another gunicorn instance ("node") of the same proxy: configuration, keys, environment."""
    proxy = next(s for s in stack.servers if s.name == "proxy")
    port = free_port()
    argv = gunicorn_argv("satosa_efos.app:create_app()", f"127.0.0.1:{port}", workers)
    return Server(
        name, argv, "127.0.0.1", port, dict(proxy.env), stack.log_dir / f"{name}.log"
    ).start()
