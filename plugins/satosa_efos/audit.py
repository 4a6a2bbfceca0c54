"""Audit lines: what happened to a login, with attribute names and hashed subjects only.

DESIGN.md §7: personnummer never appear in logs in clear. Subjects are pseudonymised with a
keyed hash (HMAC-SHA256), since a plain hash of a personnummer is reversed by trying the ~10^8
possible numbers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

logger = logging.getLogger("satosa_efos.audit")


def pseudonym(key: bytes, subject: str | None) -> str | None:
    if not subject:
        return None
    return hmac.new(key, subject.encode(), hashlib.sha256).hexdigest()[:32]


def audit(event: str, **fields: object) -> None:
    """One JSON object in the log message, so that log shippers can index its fields."""
    logger.info(json.dumps({"event": event, **fields}, ensure_ascii=False, default=str))
