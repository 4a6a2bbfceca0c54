"""The deployment converged onto this machine (see conftest.py): idempotence, what it wrote,
the units and configuration it rendered, and a login through nginx and the deployed proxy."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import stat
import subprocess
import time
from pathlib import Path

import pytest
import requests
import urllib3
from ansible_helpers import SERVICE_USER, Deployment, recap, run_timed, service_ids
from helpers.browser import Browser, log_in
from lxml import etree

from satosa_efos import demo
from satosa_efos.processes import Server, stop_all

#: systemd-analyze security's exposure score (0 safest - 10): the proxy's unit must stay below.
MAX_EXPOSURE = 2.5
NS = {"md": "urn:oasis:names:tc:SAML:2.0:metadata", "ds": "http://www.w3.org/2000/09/xmldsig#"}


def test_second_converge_changes_nothing(deployment: Deployment):
    first, second = (recap(run.stdout) for run in deployment.runs)

    assert first["failed"] == 0 and first["changed"] > 0
    assert second["failed"] == 0
    assert second["changed"] == 0, [
        line for line in deployment.runs[1].stdout.splitlines() if line.startswith("changed:")
    ]


def test_keys_are_private_to_the_service_user(deployment: Deployment):
    uid, gid = service_ids()
    keys = deployment.live / "conf" / "keys"
    names = {p.name for p in keys.iterdir()}

    assert {
        "frontend.key",
        "backend.key",
        "state-encryption.key",
        "saml-nameid.key",
        "oidc-sub-salt.key",
        "oidc-signing.key",
        "frontend.crt",
        "frontend-next.crt",
    } <= names
    for path in keys.iterdir():
        info = path.stat()
        assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (0o600, uid, gid), path
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    # The rest of the configuration: root's, readable by the group only.
    proxy_conf = (deployment.live / "conf" / "proxy_conf.yaml").stat()
    assert (stat.S_IMODE(proxy_conf.st_mode), proxy_conf.st_uid) == (0o640, 0)
    tls_key = deployment.prefix / "etc/nginx/tls/satosa-efos.key"
    assert stat.S_IMODE(tls_key.stat().st_mode) == 0o600


def test_checked_configuration_is_swapped_in_whole(deployment: Deployment):
    config = deployment.prefix / "etc/satosa-efos"

    assert sorted(p.name for p in config.iterdir()) == ["live", "staging"]
    assert tree_digest(config / "staging") == tree_digest(config / "live")
    assert (deployment.state / "federation" / "test-federation.xml").exists()
    assert (deployment.state / "published" / "idp.xml").exists()
    assert (deployment.state / "published" / "orgidp.xml").exists()


def unit_verify(paths: list[Path]) -> subprocess.CompletedProcess:
    return run_timed("systemd-analyze verify", ["systemd-analyze", "verify", *map(str, paths)])


def test_systemd_units_verify(deployment: Deployment):
    """``systemd-analyze verify`` works without systemd as PID 1 (it loads the units offline);
    it exits 0 on warnings, so every line it prints counts as a failure."""
    units = sorted(deployment.units.glob("satosa-efos*"))
    names = [u.name for u in units]
    assert names == [
        "satosa-efos-metadata-test-federation.service",
        "satosa-efos-metadata-test-federation.timer",
        "satosa-efos.service",
    ]

    result = unit_verify(units)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == "", result.stderr


def test_systemd_verify_catches_a_broken_unit(deployment: Deployment, tmp_path):
    """The check above would notice: an unknown key and a missing program are reported."""
    unit = (deployment.units / "satosa-efos.service").read_text()
    broken = tmp_path / "satosa-efos.service"
    broken.write_text(
        unit.replace("NoNewPrivileges=yes", "NoNewPrivilege=yes").replace(
            str(deployment.venv / "bin/satosa-efos serve"), "/nonexistent/satosa-efos serve"
        )
    )

    result = unit_verify([broken])

    assert "Unknown key 'NoNewPrivilege'" in result.stderr
    assert "/nonexistent/satosa-efos" in result.stderr


def test_proxy_unit_is_hardened(deployment: Deployment):
    unit = deployment.units / "satosa-efos.service"
    text = unit.read_text()
    for setting in (
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "ProtectHome=yes",
        "CapabilityBoundingSet=\n",
        f"User={SERVICE_USER}",
    ):
        assert setting in text, setting
    writable = re.search(r"^ReadWritePaths=(.*)$", text, re.M).group(1).split()
    assert writable == [str(deployment.state), str(deployment.prefix / "var/log/satosa-efos")]

    result = run_timed(
        "systemd-analyze security --offline",
        [
            "systemd-analyze",
            "security",
            "--offline=true",
            f"--threshold={MAX_EXPOSURE * 10:.0f}",
            "--no-pager",
            str(unit),
        ],
    )
    score = re.search(r"Overall exposure level for \S+: ([\d.]+)", result.stdout)
    assert score, result.stdout[-2000:] + result.stderr
    assert float(score.group(1)) <= MAX_EXPOSURE, result.stdout[-3000:]


def test_logrotate_accepts_the_configuration(deployment: Deployment, tmp_path):
    conf = deployment.prefix / "etc/logrotate.d/satosa-efos"

    result = subprocess.run(
        ["logrotate", "--debug", "--state", str(tmp_path / "state"), str(conf)],
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stderr
    assert "error" not in result.stderr.lower(), result.stderr
    logs = deployment.prefix / "var/log/satosa-efos"
    assert f"rotating pattern: {logs}/proxy.log  after 1 days (30 rotations)" in result.stderr
    assert f"rotating pattern: {logs}/audit.log  after 1 days (365 rotations)" in result.stderr


def nginx_wrapper(deployment: Deployment, tmp_path: Path, *, daemon: bool = False) -> Path:
    """A main nginx configuration for this test that includes the rendered site only."""
    site = deployment.prefix / "etc/nginx/conf.d/satosa-efos.conf"
    wrapper = tmp_path / "nginx.conf"
    wrapper.write_text(f"""
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
{"daemon off;" if daemon else ""}
events {{}}
http {{
    access_log {tmp_path}/access.log;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include {site};
}}
""")
    return wrapper


def test_nginx_accepts_the_site(deployment: Deployment, tmp_path):
    wrapper = nginx_wrapper(deployment, tmp_path)

    result = run_timed("nginx -t", ["nginx", "-t", "-p", str(tmp_path), "-c", str(wrapper)])

    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    site = (deployment.prefix / "etc/nginx/conf.d/satosa-efos.conf").read_text()
    for path in ("/metrics", "/healthz", "/readyz", "/admin/"):
        block = re.search(rf"location \^~ {re.escape(path)} {{(.*?)}}", site, re.S).group(1)
        assert "allow 127.0.0.2;" in block and "deny all;" in block, block


def unit_command(unit: Path) -> tuple[list[str], dict[str, str], str, str]:
    """ExecStart, Environment, WorkingDirectory and User of a rendered unit."""
    text = unit.read_text()
    value = {k: v for k, v in re.findall(r"^(ExecStart|WorkingDirectory|User)=(.*)$", text, re.M)}
    env = dict(
        shlex.split(line)[0].split("=", 1) for line in re.findall(r"^Environment=(.*)$", text, re.M)
    )
    return shlex.split(value["ExecStart"]), env, value["WorkingDirectory"], value["User"]


@pytest.fixture(scope="module")
def running(deployment: Deployment):
    """The deployed proxy started as its unit says (as the service user, with its UMask), nginx
    in front of it, and the demo IdPs and application reading the metadata the deployment
    published."""
    logs = deployment.tmp / "running"  # nginx's workers (nobody) can traverse this one
    logs.mkdir()
    argv, env, workdir, user = unit_command(deployment.units / "satosa-efos.service")
    umask = re.search(r"^UMask=(\d+)$", (deployment.units / "satosa-efos.service").read_text(),
                      re.M).group(1)  # fmt: skip
    proxy = Server(
        "deployed-proxy",
        ["runuser", "-u", user, "--", "sh", "-c", f'umask {umask} && exec "$@"', "sh", *argv],
        "127.0.0.1",
        deployment.proxy_port,
        {**env, "HOME": workdir},
        logs / "proxy.log",
        cwd=Path(workdir),  # as the unit's WorkingDirectory: the checkout may be closed to it
    )
    nginx = Server(
        "nginx",
        ["nginx", "-p", str(logs), "-c", str(nginx_wrapper(deployment, logs, daemon=True))],
        "127.0.0.1",
        deployment.https_port,
        {},
        logs / "nginx.log",
    )
    # As `satosa-efos demo --deployed-proxy URL` starts them (docs/deploy-localhost.md).
    published = deployment.state / "published"
    peers = demo.peer_servers(deployment.urls, deployment.demo_dir, published, log_dir=logs)
    servers = [proxy, nginx, *peers]
    try:
        for server in servers:
            try:
                server.start(timeout=60)
            except RuntimeError as exc:
                log = server.log.read_text(errors="replace")[-3000:] if server.log else ""
                pytest.fail(f"{server.name}: {exc}\n{log}")
        yield servers
    finally:
        stop_all(servers)


def test_deployed_proxy_is_healthy_and_ready(deployment: Deployment, running):
    direct = f"http://127.0.0.1:{deployment.proxy_port}"

    assert requests.get(f"{direct}/healthz", timeout=10).json() == {"status": "ok"}
    ready = requests.get(f"{direct}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    metadata = ready.json()["checks"]["metadata"]["items"]
    assert any(i["name"].endswith("test-federation.xml") and i["ok"] for i in metadata), metadata


def test_nginx_keeps_internal_paths_internal(deployment: Deployment, running):
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    public = f"https://localhost:{deployment.https_port}"

    for path in ("/readyz", "/healthz", "/metrics", "/admin/x"):
        assert requests.get(f"{public}{path}", verify=False, timeout=10).status_code == 403, path
    page = requests.get(f"{public}/metadata/idp.xml", verify=False, timeout=10)
    assert page.status_code == 200 and b"EntityDescriptor" in page.content
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")


def test_login_through_nginx_and_the_deployed_proxy(deployment: Deployment, running):
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    browser = Browser()
    browser.session.verify = False
    browser.session.trust_env = False  # else REQUESTS_CA_BUNDLE would override verify=False
    state_cookies = []
    browser.session.hooks["response"].append(
        lambda r, *a, **k: state_cookies.extend(
            c for c in r.raw.headers.getlist("Set-Cookie") if c.startswith("SATOSA_EFOS_STATE=")
        )
    )

    page = log_in(deployment, browser, "eva", "eva.sjoberg@goteborg.se")

    assert page.status_code == 200, page.text[-2000:]
    assert page.url.startswith(deployment.urls.app)
    received = browser.get(f"{deployment.urls.app}/sp/attributes.json").json()["attributes"]
    assert received["givenName"] == ["Eva"]
    assert received["mail"] == ["eva.sjoberg@goteborg.se"]
    # The state cookie travels over TLS only: Secure and SameSite=None, as in production.
    assert state_cookies
    assert all("Secure" in c and "SameSite=None" in c for c in state_cookies), state_cookies
    # The login's audit line is in the audit log of its own (satosa_efos_audit_log_file).
    audit = deployment.prefix / "var/log/satosa-efos/audit.log"
    logins = [line for line in audit_lines(audit) if line.get("event") == "login"]
    assert logins and logins[-1]["outcome"] == "success", logins
    assert logins[-1]["organisation"] == "goteborg" and logins[-1]["application"] == "demo-app"
    assert "givenName" in logins[-1]["attributes"]
    assert "Eva" not in audit.read_text()  # attribute names only, never a value
    uid, gid = service_ids()
    info = audit.stat()
    assert (stat.S_IMODE(info.st_mode), info.st_uid) == (0o640, uid)


def audit_lines(path: Path, timeout: float = 10) -> list[dict]:
    """The audit log's JSON objects, once it has any (each worker appends as a login ends)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        time.sleep(0.2)
    raise AssertionError(f"{path}: no audit line within {timeout} s")


def test_published_metadata_carries_the_next_signing_certificate(deployment: Deployment):
    """satosa_efos_frontend_next_cert: a second signing certificate, published ahead of a key
    rollover (the login above verified the proxy's answer with this very document)."""
    document = etree.parse(str(deployment.state / "published" / "idp.xml"))
    signing = document.findall(
        ".//md:IDPSSODescriptor/md:KeyDescriptor[@use='signing']//ds:X509Certificate", NS
    )
    current, following = (
        "".join((deployment.live / "conf/keys" / name).read_text().strip().splitlines()[1:-1])
        for name in ("frontend.crt", "frontend-next.crt")
    )
    assert ["".join(c.text.split()) for c in signing] == [current, following]
    frontend = (deployment.live / "conf/plugins/frontends/saml_idp.yaml").read_text()
    assert "next_signing_cert_file: keys/frontend-next.crt" in frontend


def test_metadata_timer_command_refreshes_the_aggregate(deployment: Deployment, running):
    """What the timer runs, run as its user: the aggregate is fetched, verified, replaced."""
    text = (deployment.units / "satosa-efos-metadata-test-federation.service").read_text()
    argv = shlex.split(re.search(r"^ExecStart=(.*)$", text, re.M).group(1))
    user = re.search(r"^User=(.*)$", text, re.M).group(1)
    aggregate = deployment.state / "federation" / "test-federation.xml"
    before = aggregate.stat().st_ino

    result = subprocess.run(
        ["runuser", "-u", user, "--", *argv], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert "written from" in result.stdout
    assert aggregate.stat().st_ino != before, "replaced by a rename, not rewritten in place"


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        digest.update(
            f"{path.relative_to(root)} {stat.S_IMODE(info.st_mode)} {info.st_uid}".encode()
        )
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_a_change_that_fails_check_config_never_goes_live(deployment: Deployment, running):
    """Runs last: it leaves a broken staging directory behind (as a failed run would)."""
    live_before = tree_digest(deployment.live)
    registry = deployment.tmp / "broken-registry"
    subprocess.run(["cp", "-r", str(deployment.tmp / "registry"), str(registry)], check=True)
    apps = registry / "applications.yaml"
    apps.write_text(
        apps.read_text().replace(
            "allowed_organisations: all", "allowed_organisations: [no-such-organisation]"
        )
    )

    result = deployment.converge(
        "converge with a bad registry (must fail)", "-e", f"satosa_efos_registry_dir={registry}"
    )

    assert result.returncode != 0
    assert "Check the staged configuration" in result.stdout
    assert "no-such-organisation" in result.stdout
    assert tree_digest(deployment.live) == live_before
    direct = f"http://127.0.0.1:{deployment.proxy_port}/readyz"
    assert requests.get(direct, timeout=10).status_code == 200
