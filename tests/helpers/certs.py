"""Certificates for tests that need a broken one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from satosa_efos.keys import generate_self_signed


def write_expired_certificate(path: Path) -> None:
    """A certificate that was valid for a year and expired yesterday."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=366)
    _, cert_pem = generate_self_signed("expired", days=365, not_before=start)
    path.write_bytes(cert_pem)
