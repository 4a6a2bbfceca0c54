"""Pairwise subject identifiers (OIDC Core §8.1) that survive restarts and agree across nodes.

``sub`` is HMAC-SHA256 over the sector and the login's subject id, keyed with a secret salt from
configuration. Stock SATOSA draws a random salt at every start unless configured (every ``sub``
changes on restart) and pyop takes the sector from the host of the redirect_uri (two clients on
one host would share ``sub``s); here the sector is the client_id, so every application gets its
own identifier for a person, and only a salt change (never a restart) changes it. The salt is
the one secret that links identifiers across applications: keep it like a signing key.
"""

from __future__ import annotations

import hashlib
import hmac

MIN_SALT_LENGTH = 32


def pairwise_sub(salt: str, sector: str, subject_id: str) -> str:
    """The ``sub`` of ``subject_id`` for ``sector`` (the client_id): 64 hex characters."""
    if len(salt) < MIN_SALT_LENGTH:
        raise ValueError(f"the sub salt must have at least {MIN_SALT_LENGTH} characters")
    if not subject_id:
        raise ValueError("a login without a subject id cannot get a sub")
    message = b"oidc-sub\0" + sector.encode() + b"\0" + subject_id.encode()
    return hmac.new(salt.encode(), message, hashlib.sha256).hexdigest()
