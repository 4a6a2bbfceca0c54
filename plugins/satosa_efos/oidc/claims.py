"""Which claims an application receives: exactly its ``released_attributes``, under OIDC names.

DOMAIN.md §4 names the claims; ``internal_attributes.yaml`` holds them (``openid:``, the first
name is the one sent). The release list is the only policy: scopes and the ``claims`` request
parameter can choose among released claims but never add one (an application asking for
``scope=openid profile email`` gets what the registry says, no more, no less).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: Claims the OP sets itself (OIDC Core §2, §5.1; RFC 7519 §4.1). An attribute released under
#: one of these names would shadow the proxy's own value, so check-config refuses it.
RESERVED_CLAIMS = frozenset(
    {"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "auth_time", "nonce", "acr", "amr", "azp",
     "at_hash", "c_hash", "sid"}
)  # fmt: skip

#: Internal attributes that are lists by nature (DOMAIN.md §4, marked M): sent as JSON arrays.
#: Every other claim is a single string (the first value), so its type never depends on how many
#: values one person happens to have.
MULTI_VALUED = ("allEmployeeHsaIds", "orgAffiliation", "commissionRight", "systemRole",
                "paTitleCode")  # fmt: skip


def openid_names(internal_attributes: Mapping[str, Any]) -> dict[str, list[str]]:
    """Internal name -> its OIDC claim names, from SATOSA's ``internal_attributes`` data."""
    attributes = internal_attributes.get("attributes", internal_attributes) or {}
    return {
        name: list(spec.get("openid") or [])
        for name, spec in attributes.items()
        if isinstance(spec, Mapping)
    }


def release_problem(internal: str, names: Mapping[str, Sequence[str]]) -> str | None:
    """Why ``internal`` cannot be released to an OIDC application, or None when it can."""
    claim = (names.get(internal) or [None])[0]
    if claim is None:
        return (
            f"attribute '{internal}' has no OIDC claim name (add 'openid: [...]' to it in "
            "internal_attributes.yaml, or do not release it to an OIDC application)"
        )
    if claim in RESERVED_CLAIMS:
        return f"attribute '{internal}' would be sent as '{claim}', a claim the proxy sets itself"
    return None


def released_claims(
    attributes: Mapping[str, Iterable[Any]],
    released: Iterable[str],
    names: Mapping[str, Sequence[str]],
    multi_valued: Iterable[str] = MULTI_VALUED,
) -> dict[str, str | list[str]]:
    """The claims of one login for one application; attributes without a value are left out."""
    lists = set(multi_valued)
    claims: dict[str, str | list[str]] = {}
    for internal in released:
        claim_names = names.get(internal) or []
        values = [str(v) for v in attributes.get(internal) or [] if v is not None and str(v)]
        if not claim_names or not values or claim_names[0] in RESERVED_CLAIMS:
            continue
        claims[claim_names[0]] = values if internal in lists else values[0]
    return claims
