"""Proof Key for Code Exchange (RFC 7636), as this OP requires it.

Public clients (no secret) must send a ``code_challenge`` with ``code_challenge_method=S256``;
``plain`` is refused for every client (it protects nothing against an attacker who can read the
authorization request). A confidential client may omit PKCE; if it sends a challenge, the same
rules hold. The verifier is checked at the token endpoint before any token is issued.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from satosa_efos.oidc.errors import InvalidGrant, InvalidRequest

S256 = "S256"

#: RFC 7636 §4.1: 43-128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
#: §4.2: BASE64URL(SHA256(verifier)) without padding is always 43 characters.
_S256_CHALLENGE = re.compile(r"^[A-Za-z0-9\-_]{43}$")


def s256(verifier: str) -> str:
    """The S256 challenge of a verifier (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def check_challenge(challenge: str | None, method: str | None, *, public_client: bool) -> None:
    """At the authorization endpoint: is the request's PKCE acceptable? Raises InvalidRequest.

    RFC 7636 §4.4.1: a server that requires PKCE answers ``invalid_request`` when the challenge
    is missing or its method is not supported. An absent method means ``plain`` (§4.3).
    """
    if not challenge:
        if public_client:
            raise InvalidRequest("code_challenge is required (PKCE with S256, RFC 7636)")
        if method:
            raise InvalidRequest("code_challenge_method without code_challenge")
        return
    if (method or "plain") != S256:
        raise InvalidRequest(f"code_challenge_method must be S256, not {method or 'plain'}")
    if not _S256_CHALLENGE.match(challenge):
        raise InvalidRequest("code_challenge is not a base64url SHA-256 value (43 characters)")


def verify(verifier: str | None, challenge: str) -> None:
    """At the token endpoint: the verifier must match the challenge (RFC 7636 §4.6).

    Both a missing and a wrong verifier are ``invalid_grant``: the code is not usable without
    the secret that goes with it.
    """
    if not verifier:
        raise InvalidGrant("code_verifier is required for this code (PKCE)")
    if not _VERIFIER.match(verifier):
        raise InvalidGrant("code_verifier is not 43-128 unreserved characters (RFC 7636 §4.1)")
    if not hmac.compare_digest(s256(verifier), challenge):
        raise InvalidGrant("code_verifier does not match the code_challenge")
