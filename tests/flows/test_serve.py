"""``satosa-efos serve``: refuses a broken configuration with check-config's messages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers.certs import write_expired_certificate

from satosa_efos.processes import free_port

pytestmark = pytest.mark.flow


@pytest.fixture
def conf(prod_conf: Path) -> Path:
    return prod_conf


def run(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "satosa_efos.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def problem_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ".yaml:" in line]


@pytest.mark.parametrize(
    "breakage",
    ["broken_yaml", "missing_key_file", "expired_certificate"],
)
def test_serve_refuses_to_start_with_check_config_messages(conf, breakage):
    if breakage == "broken_yaml":
        path = conf / "organisations.yaml"
        path.write_text(path.read_text().replace("name: Ale kommun", "name: [Ale kommun"))
    elif breakage == "missing_key_file":
        (conf / "keys" / "frontend.key").unlink()
    else:
        write_expired_certificate(conf / "keys" / "backend.crt")

    checked = run("check-config", str(conf))
    served = run("serve", str(conf), "--bind", f"127.0.0.1:{free_port()}", "--workers", "2")

    assert checked.returncode == 1 and served.returncode == 1
    assert problem_lines(checked.stderr)
    assert problem_lines(served.stderr) == problem_lines(checked.stderr)
    assert "refusing to start" in served.stderr
