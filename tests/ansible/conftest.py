"""The Ansible deployment, converged onto this machine: no Docker, no systemd as PID 1.

``deployment`` (once per test session) builds the wheels of this checkout, prepares demo peers
(two organisation IdPs, published through a signed test federation aggregate, and the demo
application), writes a registry for them, and converges ``ansible/site.yml`` with the example
inventory (its vault, TEST password) onto localhost (``connection: local``) into a temporary
prefix with service management switched off - twice; the second run must change nothing. The
tests then verify the rendered units, logrotate and nginx configuration, start the deployed
proxy from the prefix exactly as its unit says, put nginx in front of it, and log in.

Each Ansible step's wall time is written to the terminal summary (``pytest -rA`` not needed).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from ansible_helpers import (
    SERVICE_USER,
    TIMINGS,
    Deployment,
    converge,
    remove_service_user,
    run_timed,
    write_federation,
)

from satosa_efos import demo
from satosa_efos.keys import generate_self_signed
from satosa_efos.processes import free_ports

REPO = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.fixture(scope="session")
def base() -> Path:
    """A folder the service user can traverse (pytest's own temporary folders are root's, 0700):
    the deployed proxy runs as that user from the prefix inside."""
    folder = Path(tempfile.mkdtemp(prefix="satosa-efos-ansible-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def wheelhouse(base: Path) -> Path:
    """Wheels of this checkout and its dependencies for the system Python (the role's default
    interpreter, which the service user can run), built once; pip's cache makes it quick. The
    deployment installs from them with --no-index, as a node without an index would."""
    builder, out = base / "builder", base / "wheelhouse"
    steps = [
        [SYSTEM_PYTHON, "-m", "venv", str(builder)],
        [
            str(builder / "bin" / "pip"),
            "wheel",
            "-q",
            "--disable-pip-version-check",
            "-w",
            str(out),
            f"{REPO}[redis]",
        ],
    ]
    for name, step in zip(["venv for building wheels", "pip wheel (checkout + deps)"], steps):
        result = run_timed(name, step, cwd=REPO, env=dict(os.environ))
        assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.fixture(scope="session")
def deployment(base: Path, wheelhouse: Path) -> Deployment:
    if os.geteuid() != 0:
        pytest.fail("the converge creates a system user and chowns files: run as root (CI does)")
    tmp = base / "deployment"
    tmp.mkdir()
    prefix = tmp / "root"
    proxy_port, https_port, http_port = free_ports(3)
    urls = dataclasses.replace(demo.DemoUrls.free(), proxy=f"https://localhost:{https_port}")
    demo_dir = tmp / "demo"
    demo.prepare(urls, demo_dir, demo.DEMO_CONF)
    # What `satosa-efos demo --deployed-proxy URL --prepare-only` writes (docs/deploy-localhost.md),
    # but the IdPs' metadata comes in a signed federation aggregate here.
    registry, metadata = demo.write_deployment_registry(urls, demo_dir, tmp, idp_metadata=False)
    aggregate, signer_cert = write_federation(tmp, demo_dir)
    # A key rollover in progress: the next signing certificate is published beside the current
    # one, and the login below verifies with that metadata (docs/operations.md).
    _, next_cert = generate_self_signed("next frontend signing key (test)")
    settings = {
        # this machine, a temporary prefix, no systemd and no package manager
        "ansible_connection": "local",
        "ansible_become": False,
        "ansible_python_interpreter": sys.executable,
        "satosa_efos_prefix": str(prefix),
        "satosa_efos_manage_services": False,
        "satosa_efos_manage_packages": False,
        "satosa_efos_user": SERVICE_USER,
        "satosa_efos_group": SERVICE_USER,
        "satosa_efos_nginx_prefix": str(prefix),
        "satosa_efos_nginx_manage_services": False,
        "satosa_efos_nginx_manage_packages": False,
        # the package: wheels of this checkout (the default interpreter: /usr/bin/python3)
        "satosa_efos_package_file": "",
        "satosa_efos_package_spec": "satosa-efos",
        "satosa_efos_pip_extra_args": f"--no-index --find-links {wheelhouse}",
        # the proxy behind nginx on loopback, talking to the demo peers
        "satosa_efos_base_url": urls.proxy,
        "satosa_efos_listen_port": proxy_port,
        "satosa_efos_workers": 2,
        **demo.deployment_vars(registry, metadata),
        "satosa_efos_oidc_db_uri": "",
        "satosa_efos_frontend_next_cert": next_cert.decode(),
        "satosa_efos_hsa_directory": {"type": "memory", "ldif": None},
        "satosa_efos_federation": [
            {"name": "test-federation", "url": str(aggregate), "signer_cert": signer_cert}
        ],
        "satosa_efos_nginx_server_name": "localhost",
        "satosa_efos_nginx_upstream": f"127.0.0.1:{proxy_port}",
        "satosa_efos_nginx_https_port": https_port,
        "satosa_efos_nginx_http_port": http_port,
        # Only the "load balancer" may read /readyz and /metrics through nginx; the tests'
        # requests come from 127.0.0.1 and must be refused.
        "satosa_efos_nginx_internal_allow": ["127.0.0.2"],
    }
    vars_file = tmp / "test-vars.yml"
    vars_file.write_text(yaml.safe_dump(settings, sort_keys=False))
    first = converge("converge", vars_file)
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-3000:]
    second = converge("converge again (idempotence)", vars_file)
    assert second.returncode == 0, second.stdout[-6000:] + second.stderr[-3000:]
    yield Deployment(
        tmp, prefix, vars_file, urls, proxy_port, https_port, demo_dir, [first, second]
    )
    remove_service_user()


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        terminalreporter.section("Ansible steps (wall time)")
        for name, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{seconds:7.1f} s  {name}")


def pytest_collection_modifyitems(items):
    """The first test that needs the deployment pays for two converges (1-3 minutes)."""
    for item in items:
        if "tests/ansible/" in str(item.fspath):
            item.add_marker(pytest.mark.timeout(900))
