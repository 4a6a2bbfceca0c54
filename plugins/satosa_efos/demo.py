"""The embedded demo: the proxy, a demo application and a demo organisation IdP on loopback.

``prepare`` makes everything the demo needs that must not be in the repository (keys, the state
encryption key) or that depends on the chosen ports (the peers' and the proxy's metadata);
``servers`` says how to run the three processes. Used by ``satosa-efos demo`` and by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from satosa_efos.keys import ensure_keypair, ensure_secret
from satosa_efos.metadata import write_proxy_metadata
from satosa_efos.processes import Server, gunicorn_argv
from satosa_efos.simulators import demo_idp, demo_sp

REPO = Path(__file__).resolve().parents[2]
DEMO_CONF = REPO / "conf" / "demo"
DEMO_DIR = REPO / "var" / "demo"


@dataclass(frozen=True)
class DemoUrls:
    proxy: str = "http://localhost:8080"
    app: str = "http://localhost:8090"
    idp: str = "http://localhost:8091"

    @classmethod
    def on_ports(cls, host: str, proxy: int, app: int, idp: int) -> DemoUrls:
        return cls(f"http://{host}:{proxy}", f"http://{host}:{app}", f"http://{host}:{idp}")


def proxy_env(urls: DemoUrls, demo_dir: Path) -> dict[str, str]:
    """What conf/demo's ``${...}`` references resolve to."""
    return {
        "SATOSA_EFOS_BASE_URL": urls.proxy,
        "SATOSA_EFOS_DEMO_APP_URL": urls.app,
        "SATOSA_EFOS_DEMO_DIR": str(Path(demo_dir).resolve()),
    }


def prepare(urls: DemoUrls, demo_dir: Path = DEMO_DIR, conf_dir: Path = DEMO_CONF) -> None:
    """Generate keys once, and metadata for these URLs every time (ports may change)."""
    import os

    demo_dir = Path(demo_dir).resolve()
    keys, metadata = demo_dir / "keys", demo_dir / "metadata"
    for name in ("frontend", "backend"):
        ensure_keypair(keys, name, f"satosa-efos demo proxy {name}")
    ensure_secret(keys / "state-encryption.key")
    app_key, app_cert = ensure_keypair(keys, "demo-app", "Demoapplikation (demo)")
    idp_key, idp_cert = ensure_keypair(keys, "demo-idp", "Demo-IdP (demo)")
    (metadata / "sp").mkdir(parents=True, exist_ok=True)
    (metadata / "idp").mkdir(parents=True, exist_ok=True)
    demo_sp.write_metadata(
        urls.app, str(app_key), str(app_cert), str(metadata / "sp" / "demo-app.xml")
    )
    demo_idp.write_metadata(
        urls.idp, str(idp_key), str(idp_cert), str(metadata / "idp" / "demo-idp.xml")
    )
    saved = {k: os.environ.get(k) for k in proxy_env(urls, demo_dir)}
    os.environ.update(proxy_env(urls, demo_dir))
    try:
        write_proxy_metadata(conf_dir, metadata / "proxy")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def servers(
    urls: DemoUrls,
    demo_dir: Path = DEMO_DIR,
    conf_dir: Path = DEMO_CONF,
    workers: int = 2,
    log_dir: Path | None = None,
) -> list[Server]:
    demo_dir = Path(demo_dir).resolve()
    keys, metadata = demo_dir / "keys", demo_dir / "metadata"

    def bind(url: str) -> tuple[str, int]:
        parts = urlsplit(url)
        host = "127.0.0.1" if parts.hostname == "localhost" else parts.hostname
        return host, parts.port

    def server(name: str, url: str, app: str, n: int, env: dict[str, str]) -> Server:
        host, port = bind(url)
        log = Path(log_dir) / f"{name}.log" if log_dir else None
        return Server(name, gunicorn_argv(app, f"{host}:{port}", n), host, port, env, log)

    return [
        server(
            "proxy", urls.proxy, "satosa_efos.app:create_app()", workers,
            {**proxy_env(urls, demo_dir), "SATOSA_EFOS_CONF_DIR": str(Path(conf_dir).resolve())},
        ),
        server(
            "demo-idp", urls.idp, "satosa_efos.simulators.demo_idp:create_app()", 1,
            {
                "DEMO_IDP_BASE_URL": urls.idp,
                "DEMO_IDP_KEY": str(keys / "demo-idp.key"),
                "DEMO_IDP_CERT": str(keys / "demo-idp.crt"),
                "DEMO_IDP_METADATA": str(metadata / "proxy" / "orgidp.xml"),
            },
        ),
        server(
            "demo-app", urls.app, "satosa_efos.simulators.demo_sp:create_app()", 1,
            {
                "DEMO_SP_BASE_URL": urls.app,
                "DEMO_SP_KEY": str(keys / "demo-app.key"),
                "DEMO_SP_CERT": str(keys / "demo-app.crt"),
                "DEMO_SP_METADATA": str(metadata / "proxy" / "idp.xml"),
            },
        ),
    ]  # fmt: skip
