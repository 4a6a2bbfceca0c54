"""The folder where gunicorn's workers keep their metrics (prometheus_client multiprocess mode).

Used by the gunicorn master (``gunicorn_conf``'s hooks), so this module must not import
``prometheus_client`` at import time: it chooses between per-process and multiprocess values
once, when first imported, and the workers forked from the master would inherit the choice made
before ``PROMETHEUS_MULTIPROC_DIR`` was set.

- ``on_starting``: use ``PROMETHEUS_MULTIPROC_DIR`` when the environment sets it (the unit
  file, for a folder of its own), emptied of an earlier run's files; else a new private folder
  under the temporary directory, for this gunicorn instance only (two instances on one machine,
  like the tests' two "nodes", must not add up each other's counts).
- ``child_exit``: a worker that ended leaves its counters (they still count), and its live
  gauges are removed (``mark_process_dead``).
- ``on_exit``: the private folder is removed; one named by the environment is left for the
  next start to empty.

A configuration reload (``HUP``) keeps the folder: counters survive it, as they survive a worker
being replaced.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
_created: list[Path] = []


def prepare() -> Path:
    """Set up (and empty) this instance's folder and point ``PROMETHEUS_MULTIPROC_DIR`` at it."""
    configured = os.environ.get(ENV)
    if configured:
        folder = Path(configured)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink(missing_ok=True)
    else:
        folder = Path(tempfile.mkdtemp(prefix="satosa-efos-metrics-"))
        _created.append(folder)
        os.environ[ENV] = str(folder)
    return folder


def worker_exited(pid: int) -> None:
    if not os.environ.get(ENV):
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)


def remove() -> None:
    while _created:
        shutil.rmtree(_created.pop(), ignore_errors=True)
