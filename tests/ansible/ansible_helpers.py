"""Helpers of the Ansible tests (fixtures are in conftest.py)."""

from __future__ import annotations

import dataclasses
import grp
import os
import pwd
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.aggregate import build_aggregate

from satosa_efos import demo
from satosa_efos.keys import generate_self_signed

REPO = Path(__file__).resolve().parents[2]
ANSIBLE = REPO / "ansible"
EXAMPLE = ANSIBLE / "inventories" / "example"
VAULT_PASSWORD = EXAMPLE / "vault-password.txt"
BIN = Path(sys.executable).parent
SERVICE_USER = "satosa-efos-test"
NODE = "node1.example.se"

#: Wall times of the Ansible steps (name -> seconds), reported at the end of the session.
TIMINGS: dict[str, float] = {}


def tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(
            f"{path} is missing: `make test` installs the Ansible tools (setup.cfg [ansible])"
        )
    return str(path)


def ansible_env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "ANSIBLE_CONFIG": str(ANSIBLE / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_HOME": str(Path(os.environ.get("TMPDIR", "/tmp")) / "satosa-efos-ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(
            Path(os.environ.get("TMPDIR", "/tmp")) / "satosa-efos-ansible-tmp"
        ),
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        **extra,
    }


def run_timed(name: str, argv: list[str], *, cwd: Path = ANSIBLE, timeout: float = 600, **kw):
    start = time.monotonic()
    result = subprocess.run(
        argv,
        cwd=cwd,
        env=kw.pop("env", None) or ansible_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )
    TIMINGS[name] = time.monotonic() - start
    return result


def recap(output: str) -> dict[str, int]:
    """The PLAY RECAP counters of the one node."""
    line = next(line for line in output.splitlines() if line.startswith(NODE) and "ok=" in line)
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line)}


@dataclasses.dataclass
class Deployment:
    tmp: Path
    prefix: Path
    vars_file: Path
    urls: demo.DemoUrls
    proxy_port: int
    https_port: int
    demo_dir: Path
    runs: list[subprocess.CompletedProcess]

    @property
    def venv(self) -> Path:
        return self.prefix / "opt/satosa-efos/venv"

    @property
    def live(self) -> Path:
        return self.prefix / "etc/satosa-efos/live"

    @property
    def units(self) -> Path:
        return self.prefix / "etc/systemd/system"

    @property
    def state(self) -> Path:
        return self.prefix / "var/lib/satosa-efos"

    def organisation_of(self, email: str) -> str:
        return {"goteborg.se": "goteborg", "boras.se": "boras"}[email.rpartition("@")[2]]

    def converge(self, name: str, *extra: str) -> subprocess.CompletedProcess:
        return converge(name, self.vars_file, *extra)


def converge_argv(vars_file: Path) -> list[str]:
    """ansible-playbook's arguments of a converge, run from ansible/ (docs/deploy-localhost.md
    gives the same ones, checked by test_docs.py)."""
    return [
        "site.yml",
        "--limit",
        NODE,
        "--vault-password-file",
        str(VAULT_PASSWORD),
        "-e",
        f"@{vars_file}",
    ]


def converge(name: str, vars_file: Path, *extra: str) -> subprocess.CompletedProcess:
    return run_timed(name, [tool("ansible-playbook"), *converge_argv(vars_file), *extra])


def write_federation(tmp: Path, demo_dir: Path) -> tuple[Path, str]:
    """The demo IdPs' metadata as a signed aggregate, as Sambi publishes its members'."""
    key_pem, cert_pem = generate_self_signed("test federation signer")
    fed = tmp / "federation"
    fed.mkdir()
    (fed / "signer.key").write_bytes(key_pem)
    (fed / "signer.crt").write_bytes(cert_pem)
    idps = sorted((demo_dir / "metadata" / "idp").glob("*.xml"))
    aggregate = build_aggregate(
        idps, fed / "signer.key", fed / "aggregate.xml", cert=fed / "signer.crt"
    )
    return aggregate, cert_pem.decode()


def remove_service_user() -> None:
    for command, name in (("userdel", SERVICE_USER), ("groupdel", SERVICE_USER)):
        subprocess.run([command, name], capture_output=True)


def service_ids() -> tuple[int, int]:
    return pwd.getpwnam(SERVICE_USER).pw_uid, grp.getgrnam(SERVICE_USER).gr_gid
