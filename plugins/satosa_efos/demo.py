"""The embedded demo: the proxy, two demo applications (SAML) of different organisations, a demo
OIDC application, two demo organisation IdPs and the Mobilt Efos simulator, on loopback.

``prepare`` makes everything the demo needs that must not be in the repository (keys, the state
encryption key) or that depends on the chosen ports (the peers' and the proxy's metadata);
``servers`` says how to run the processes. Used by ``satosa-efos demo`` and by the tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from satosa_efos.keys import ensure_keypair, ensure_proxy_keys, ensure_secret
from satosa_efos.metadata import write_proxy_metadata
from satosa_efos.processes import Server, free_ports, gunicorn_argv
from satosa_efos.simulators import demo_idp, demo_rp, demo_sp
from satosa_efos.simulators.efos_pki import prepare_pki

REPO = Path(__file__).resolve().parents[2]
DEMO_CONF = REPO / "conf" / "demo"
DEMO_DIR = REPO / "var" / "demo"
#: The demo peers of a deployed proxy (``satosa-efos demo --deployed-proxy``,
#: docs/deploy-localhost.md): their keys, and the registry the deployment is given.
DEPLOYMENT_DIR = REPO / "var" / "demo-deployment"
#: Where a deployed proxy publishes its own metadata (the role's ``published/``).
PUBLISHED_DIR = Path("/var/lib/satosa-efos/published")

#: Organisations with a demo IdP (conf/demo/organisations/10-demo-idps.yaml): id -> page title.
DEMO_IDPS = {"goteborg": "Göteborgs Stad (demo-IdP)", "boras": "Borås Stad (demo-IdP)"}
#: The second demo application (Swedish, English name), Göteborg's: see conf/demo/applications.yaml.
APP2_NAMES = ("Omsorgsjournalen, Göteborgs Stad (demo)", "Care records, City of Gothenburg (demo)")


@dataclass(frozen=True)
class DemoUrls:
    proxy: str = "http://localhost:8080"
    app: str = "http://localhost:8090"
    idps: dict[str, str] = field(
        default_factory=lambda: {
            "goteborg": "http://localhost:8091",
            "boras": "http://localhost:8092",
        }
    )
    #: The Mobilt Efos simulator: RP API (HTTPS, mutual TLS), phone page, OCSP responder.
    efos_api: str = "https://localhost:8443"
    efos_phone: str = "http://localhost:8093"
    efos_ocsp: str = "http://127.0.0.1:8094"
    #: The demo OIDC application (relying party), client_id ``demo-oidc-app``.
    rp: str = "http://localhost:8095"
    #: The second demo application (SAML), Göteborg's, to see single sign-on and logout.
    app2: str = "http://localhost:8096"

    @classmethod
    def on_ports(
        cls,
        host: str,
        proxy: int,
        app: int,
        idps: Sequence[int],
        efos: Sequence[int],
        rp: int = 8095,
        app2: int = 8096,
    ) -> DemoUrls:
        api, phone, ocsp = efos
        return cls(
            f"http://{host}:{proxy}",
            f"http://{host}:{app}",
            {org: f"http://{host}:{port}" for org, port in zip(DEMO_IDPS, idps, strict=True)},
            f"https://{host}:{api}",
            f"http://{host}:{phone}",
            f"http://127.0.0.1:{ocsp}",
            f"http://{host}:{rp}",
            f"http://{host}:{app2}",
        )

    @classmethod
    def free(cls, host: str = "127.0.0.1") -> DemoUrls:
        """Every part of the demo on a free loopback port (for tests)."""
        proxy, app, rp, app2, *rest = free_ports(4 + 3 + len(DEMO_IDPS), host)
        return cls.on_ports(host, proxy, app, rest[3:], rest[:3], rp, app2)


def proxy_env(urls: DemoUrls, demo_dir: Path) -> dict[str, str]:
    """What conf/demo's ``${...}`` references resolve to."""
    return {
        "SATOSA_EFOS_BASE_URL": urls.proxy,
        "SATOSA_EFOS_DEMO_APP_URL": urls.app,
        "SATOSA_EFOS_DEMO_DIR": str(Path(demo_dir).resolve()),
        **{f"SATOSA_EFOS_DEMO_IDP_{org.upper()}": url for org, url in urls.idps.items()},
        "SATOSA_EFOS_DEMO_EFOS_API": urls.efos_api,
        "SATOSA_EFOS_DEMO_EFOS_OCSP": urls.efos_ocsp,
        "SATOSA_EFOS_DEMO_RP_URL": urls.rp,
        "SATOSA_EFOS_DEMO_APP2_URL": urls.app2,
        "SATOSA_EFOS_SSO_STORE": f"sqlite:{Path(demo_dir).resolve() / 'sso.sqlite3'}",
    }


@contextlib.contextmanager
def environment(values: dict[str, str]):
    """Set environment variables for the duration of a block (the proxy config reads them)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def prepare(urls: DemoUrls, demo_dir: Path = DEMO_DIR, conf_dir: Path = DEMO_CONF) -> None:
    """Generate keys once, and metadata for these URLs every time (ports may change)."""
    demo_dir = Path(demo_dir).resolve()
    keys, metadata = demo_dir / "keys", demo_dir / "metadata"
    ensure_proxy_keys(keys, "satosa-efos demo proxy")
    ensure_secret(keys / "demo-rp-cookie.key")
    app_key, app_cert = ensure_keypair(keys, "demo-app", "Demoapplikation (demo)")
    demo_sp.write_metadata(urls.app, app_key, app_cert, metadata / "sp" / "demo-app.xml")
    app2_key, app2_cert = ensure_keypair(keys, "demo-app-2", APP2_NAMES[0])
    demo_sp.write_metadata(urls.app2, app2_key, app2_cert, metadata / "sp" / "demo-app-2.xml",
                           *APP2_NAMES)  # fmt: skip
    # Every run writes all peer metadata anew; a file left from an older demo (another port,
    # another key) would describe the same entityID twice.
    for stale in (metadata / "idp").glob("*.xml"):
        stale.unlink()
    for org, url in urls.idps.items():
        key, cert = ensure_keypair(keys, f"demo-idp-{org}", DEMO_IDPS[org])
        demo_idp.write_metadata(url, key, cert, metadata / "idp" / f"{org}.xml")
    prepare_pki(demo_dir / "efos", ocsp_url=urls.efos_ocsp, server_names=["localhost", "127.0.0.1"])
    with environment(proxy_env(urls, demo_dir)):
        write_proxy_metadata(conf_dir, metadata / "proxy")


def _bind(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return ("127.0.0.1" if parts.hostname == "localhost" else parts.hostname), parts.port


def servers(
    urls: DemoUrls,
    demo_dir: Path = DEMO_DIR,
    conf_dir: Path = DEMO_CONF,
    workers: int = 2,
    log_dir: Path | None = None,
) -> list[Server]:
    demo_dir = Path(demo_dir).resolve()
    keys, metadata = demo_dir / "keys", demo_dir / "metadata"

    def server(name: str, url: str, app: str, n: int, env: dict[str, str]) -> Server:
        host, port = _bind(url)
        log = Path(log_dir) / f"{name}.log" if log_dir else None
        return Server(name, gunicorn_argv(app, f"{host}:{port}", n), host, port, env, log)

    proxy_vars = {
        **proxy_env(urls, demo_dir),
        "SATOSA_EFOS_CONF_DIR": str(Path(conf_dir).resolve()),
    }
    idps = [
        server(
            f"demo-idp-{org}", url, "satosa_efos.simulators.demo_idp:create_app()", 1,
            {
                "DEMO_IDP_BASE_URL": url,
                "DEMO_IDP_KEY": str(keys / f"demo-idp-{org}.key"),
                "DEMO_IDP_CERT": str(keys / f"demo-idp-{org}.crt"),
                "DEMO_IDP_METADATA": str(metadata / "proxy" / "orgidp.xml"),
                "DEMO_IDP_ORGANISATION": org,
                "DEMO_IDP_TITLE": DEMO_IDPS[org],
            },
        )
        for org, url in urls.idps.items()
    ]  # fmt: skip
    app = server(
        "demo-app", urls.app, "satosa_efos.simulators.demo_sp:create_app()", 1,
        {
            "DEMO_SP_BASE_URL": urls.app,
            "DEMO_SP_KEY": str(keys / "demo-app.key"),
            "DEMO_SP_CERT": str(keys / "demo-app.crt"),
            "DEMO_SP_METADATA": str(metadata / "proxy" / "idp.xml"),
        },
    )  # fmt: skip
    rp = server(
        "demo-rp", urls.rp, "satosa_efos.simulators.demo_rp:create_app()", 1,
        {
            "DEMO_RP_BASE_URL": urls.rp,
            "DEMO_RP_ISSUER": urls.proxy,
            "DEMO_RP_CLIENT_ID": demo_rp.CLIENT_ID,
            "DEMO_RP_COOKIE_KEY": str(keys / "demo-rp-cookie.key"),
        },
    )  # fmt: skip
    app2 = server(
        "demo-app-2", urls.app2, "satosa_efos.simulators.demo_sp:create_app()", 1,
        {
            "DEMO_SP_BASE_URL": urls.app2,
            "DEMO_SP_KEY": str(keys / "demo-app-2.key"),
            "DEMO_SP_CERT": str(keys / "demo-app-2.crt"),
            "DEMO_SP_METADATA": str(metadata / "proxy" / "idp.xml"),
            "DEMO_SP_NAME": APP2_NAMES[0],
            "DEMO_SP_NAME_EN": APP2_NAMES[1],
            "DEMO_SP_COOKIE_SUFFIX": "_2",  # cookies ignore ports: not the first one's names
        },
    )  # fmt: skip
    proxy = server("proxy", urls.proxy, "satosa_efos.app:create_app()", workers, proxy_vars)
    return [efos_simulator(urls, demo_dir, log_dir), proxy, *idps, rp, app, app2]


# -- the demo peers of a deployed proxy (docs/deploy-localhost.md, tests/ansible/) --------------


def write_deployment_registry(
    urls: DemoUrls, demo_dir: Path, out: Path, *, idp_metadata: bool = True
) -> tuple[Path, Path]:
    """The organisation admins' files for a deployment that logs in through the demo peers:
    ``out/registry/`` (the regional registry unchanged, the demo IdPs as Göteborg's and Borås's
    own IdPs, the demo application) and ``out/metadata/`` (the application's metadata and, with
    ``idp_metadata``, the IdPs'; without, a federation aggregate has to bring them).
    ``prepare(urls, demo_dir)`` first."""
    registry, metadata = Path(out) / "registry", Path(out) / "metadata"
    for folder in (registry / "organisations", metadata / "sp", metadata / "idp"):
        folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "conf" / "organisations.yaml",
                registry / "organisations" / "00-regional.yaml")  # fmt: skip
    changes = {
        "changes": [
            {"id": org, "login_methods": ["own_idp"], "own_idp": {"entity_id": f"{url}/idp"}}
            for org, url in urls.idps.items()
        ]
    }
    (registry / "organisations" / "10-demo-idps.yaml").write_text(yaml.safe_dump(changes))
    demo_apps = yaml.safe_load((DEMO_CONF / "applications.yaml").read_text())
    app = next(a for a in demo_apps["applications"] if a["id"] == "demo-app")
    app.update(entity_id=f"{urls.app}/sp", metadata="../metadata/sp/demo-app.xml")
    (registry / "applications.yaml").write_text(yaml.safe_dump({"applications": [app]}))
    peers = Path(demo_dir) / "metadata"
    shutil.copy(peers / "sp" / "demo-app.xml", metadata / "sp" / "demo-app.xml")
    for stale in (metadata / "idp").glob("*.xml"):
        stale.unlink()
    if idp_metadata:
        for org in urls.idps:
            shutil.copy(peers / "idp" / f"{org}.xml", metadata / "idp" / f"{org}.xml")
    return registry, metadata


def deployment_vars(registry: Path, metadata: Path) -> dict[str, str]:
    """The role variables that give a deployment the registry above."""
    return {
        "satosa_efos_registry_dir": str(Path(registry).resolve()),
        "satosa_efos_metadata_dir": str(Path(metadata).resolve()),
        "satosa_efos_loa_profile": "swedish_eid",  # what the demo IdPs speak
    }


def peer_servers(
    urls: DemoUrls, demo_dir: Path, published: Path, log_dir: Path | None = None
) -> list[Server]:
    """The demo IdPs and the demo application, trusting a deployed proxy: they read its
    published metadata (``published/idp.xml`` and ``orgidp.xml``)."""
    peers = [s for s in servers(urls, demo_dir, log_dir=log_dir)
             if s.name == "demo-app" or s.name.startswith("demo-idp-")]  # fmt: skip
    for peer in peers:
        if "DEMO_IDP_METADATA" in peer.env:
            peer.env["DEMO_IDP_METADATA"] = str(Path(published) / "orgidp.xml")
        if "DEMO_SP_METADATA" in peer.env:
            peer.env["DEMO_SP_METADATA"] = str(Path(published) / "idp.xml")
    return peers


def efos_simulator(urls: DemoUrls, demo_dir: Path, log_dir: Path | None = None) -> Server:
    """The Mobilt Efos simulator (a separate process, labelled SIMULATOR everywhere)."""
    host, phone = _bind(urls.efos_phone)
    ports = [str(_bind(url)[1]) for url in (urls.efos_api, urls.efos_phone, urls.efos_ocsp)]
    argv = [
        sys.executable, "-m", "satosa_efos.simulators.efos_service",
        "--state-dir", str(Path(demo_dir).resolve() / "efos"), "--host", host,
        "--api-port", ports[0], "--phone-port", ports[1], "--ocsp-port", ports[2],
    ]  # fmt: skip
    log = Path(log_dir) / "efos-simulator.log" if log_dir else None
    return Server("efos-simulator", argv, host, phone, {}, log)
