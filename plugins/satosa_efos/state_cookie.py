"""SATOSA's login state in its cookie: authenticated encryption, without LZMA.

SATOSA keeps everything a login in progress needs (which application asked, the request id sent
upstream, the routing choice, the HSA choice page's data) in one encrypted cookie that travels
with the browser. Stock ``satosa.state.State.urlstate`` compresses the JSON with LZMA, encrypts
it with AES-CBC (no MAC), and compresses the ciphertext with LZMA again. Each LZMA compressor
allocates its dictionary first: measured, the two compressions cost about 7 ms each, 15 ms of
the proxy's 36 ms of CPU per brokered login (docs/performance.md).

Here (``v2.`` cookies):

    "v2." + base64url(nonce(12) || AES-256-GCM(key, nonce, zlib(json), aad))

- AES-256-GCM with ``aad = b"satosa-efos state v2"``: the cookie is authenticated as well as
  secret; a changed byte is refused (SATOSA's CBC state has no MAC: an altered block is only
  noticed if the JSON then fails to parse).
- The key is derived from ``STATE_ENCRYPTION_KEY`` with HKDF-SHA256 for this purpose only, so the
  same configured secret can stay in place.
- zlib at level 6: the state is a few hundred bytes of JSON; zlib costs microseconds.

Reading also accepts SATOSA's own format, so logins in progress survive an upgrade from stock
SATOSA or a rolling restart with mixed versions. A cookie that is neither is a fresh state, as in
SATOSA (the login then starts again at the application).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import zlib
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

logger = logging.getLogger(__name__)

PREFIX = "v2."
_AAD = b"satosa-efos state v2"
_NONCE = 12
# A state cookie is at most 4 kB in a browser; anything much larger is not ours.
_MAX_INFLATED = 256 * 1024


class StateCookieError(ValueError):
    """The cookie is not a state this proxy wrote with this key."""


@lru_cache(maxsize=4)
def _cipher(secret: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"satosa-efos state cookie").derive(secret.encode())  # fmt: skip
    return AESGCM(key)


def encode(data: dict[str, Any], secret: str) -> str:
    """The cookie value for a state's data."""
    plain = zlib.compress(json.dumps(data, separators=(",", ":")).encode(), 6)
    nonce = os.urandom(_NONCE)
    sealed = nonce + _cipher(secret).encrypt(nonce, plain, _AAD)
    return PREFIX + base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def decode(value: str, secret: str) -> dict[str, Any]:
    """The state data of a ``v2.`` cookie value, or :class:`StateCookieError`."""
    if not value.startswith(PREFIX):
        raise StateCookieError("not a v2 state cookie")
    body = value[len(PREFIX) :]
    try:
        sealed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError) as exc:
        raise StateCookieError("state cookie is not base64url") from exc
    if len(sealed) < _NONCE + 16:
        raise StateCookieError("state cookie is too short")
    try:
        plain = _cipher(secret).decrypt(sealed[:_NONCE], sealed[_NONCE:], _AAD)
    except InvalidTag as exc:
        raise StateCookieError("state cookie was altered or written with another key") from exc
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(plain, _MAX_INFLATED)
    except zlib.error as exc:
        raise StateCookieError("state cookie does not inflate") from exc
    if inflater.unconsumed_tail:
        raise StateCookieError("state cookie inflates beyond the limit")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise StateCookieError("state cookie is not JSON") from exc
    if not isinstance(data, dict):
        raise StateCookieError("state cookie is not a JSON object")
    return data
