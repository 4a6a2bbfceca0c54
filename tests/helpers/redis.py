"""A real ``redis-server`` (Debian package) on a free loopback port, for store tests.

A missing server is a failure with the install hint, not a skip: CI installs it via the Makefile.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

from satosa_efos.processes import Server, free_port


class RedisServer:
    """Start with ``with RedisServer(work_dir) as redis: redis.url``; stop, pause, restart."""

    def __init__(self, work_dir: Path, password: str | None = None) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is missing: run `make test-setup` (Debian redis-server)"
        self.port = free_port()
        self.password = password
        work_dir.mkdir(parents=True, exist_ok=True)
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--dir", str(work_dir)]  # fmt: skip
        if password:
            command += ["--requirepass", password]
        self.server = Server("redis", command, "127.0.0.1", self.port, {}, work_dir / "redis.log")

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.server.start()
        return self

    def stop(self) -> None:
        self.resume()
        self.server.stop()

    def pause(self) -> None:
        os.kill(self.server.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.server.process is not None and self.server.process.poll() is None:
            os.kill(self.server.process.pid, signal.SIGCONT)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
