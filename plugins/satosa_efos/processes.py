"""Start, watch and stop the servers of the demo and the tests (gunicorn on loopback).

One place that knows how to run a WSGI app under gunicorn for this project, so the demo, the
flow tests and the browser tests run the proxy exactly the way ``satosa-efos serve`` does.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

GUNICORN_CONF = "python:satosa_efos.gunicorn_conf"


def free_port(host: str = "127.0.0.1") -> int:
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` different free ports: all are held open until every one is chosen (one at a
    time, the kernel may hand out a port it just gave, and two servers would share it)."""
    with contextlib.ExitStack() as held:
        socks = [held.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in socks]


def gunicorn_argv(app: str, bind: str, workers: int) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn",
        "--config", GUNICORN_CONF,
        "--bind", bind,
        "--workers", str(workers),
        "--no-control-socket",
        app,
    ]  # fmt: skip


def wait_for_port(host: str, port: int, timeout: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode} before listening")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s")


@dataclass
class Server:
    name: str
    argv: list[str]
    host: str
    port: int
    env: dict[str, str] = field(default_factory=dict)
    log: Path | None = None
    process: subprocess.Popen | None = None
    #: Working directory (default: the caller's); a server running as another user needs one
    #: it may enter, as gunicorn changes back to it at start.
    cwd: Path | None = None

    def start(self, timeout: float = 30) -> Server:
        out = open(self.log, "ab") if self.log else None  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            self.argv,
            env={**os.environ, **self.env},
            cwd=self.cwd,
            stdout=out or None,
            stderr=subprocess.STDOUT if out else None,
            start_new_session=True,
        )
        wait_for_port(self.host, self.port, timeout, self.process)
        return self

    def stop(self, timeout: float = 10) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def stop_all(servers: list[Server]) -> None:
    for server in reversed(servers):
        server.stop()
