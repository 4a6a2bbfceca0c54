"""Levels of assurance (DOMAIN.md §5).

Internally a login has exactly one LoA value; wire URIs are a per-application matter. The
internal values are ordered only within one family: a certified loa3 is stronger than loa2, but
an uncertified (self-declared) loa3 is not a certified one.
"""

from __future__ import annotations

from enum import StrEnum


class LoA(StrEnum):
    LOA2 = "loa2"
    LOA3 = "loa3"
    LOA4 = "loa4"
    UNCERTIFIED_LOA2 = "uncertified-loa2"
    UNCERTIFIED_LOA3 = "uncertified-loa3"


#: Wire URIs per profile (DOMAIN.md §5). Configuration may add more; these are the defaults.
SWEDISH_EID_URIS: dict[LoA, str] = {
    LoA.LOA2: "http://id.elegnamnden.se/loa/1.0/loa2",
    LoA.LOA3: "http://id.elegnamnden.se/loa/1.0/loa3",
    LoA.LOA4: "http://id.elegnamnden.se/loa/1.0/loa4",
    LoA.UNCERTIFIED_LOA2: "http://id.swedenconnect.se/loa/1.0/uncertified-loa2",
    LoA.UNCERTIFIED_LOA3: "http://id.swedenconnect.se/loa/1.0/uncertified-loa3",
}
SAMBI_URIS: dict[LoA, str] = {
    LoA.LOA2: "http://id.sambi.se/loa/loa2",
    LoA.LOA3: "http://id.sambi.se/loa/loa3",
}

#: Every wire URI this project knows, to its internal value (both profiles).
_BY_URI: dict[str, LoA] = {
    **{uri: loa for loa, uri in SWEDISH_EID_URIS.items()},
    **{uri: loa for loa, uri in SAMBI_URIS.items()},
}
PROFILES: dict[str, dict[LoA, str]] = {"swedish_eid": SWEDISH_EID_URIS, "sambi": SAMBI_URIS}


def loa_from_uri(uri: str, extra: dict[str, LoA] | None = None) -> LoA | None:
    """The internal LoA of a wire URI (either profile, plus configured ``extra``), or None."""
    uri = uri.strip()
    if extra and uri in extra:
        return extra[uri]
    return _BY_URI.get(uri)


def uri_for(loa: LoA, profile: str = "sambi", extra: dict[LoA, str] | None = None) -> str | None:
    """The wire URI of ``loa`` in ``profile`` (``sambi`` or ``swedish_eid``), or None if none."""
    if extra and loa in extra:
        return extra[loa]
    return PROFILES[profile].get(loa)


# -- the LoA contract of one login (DOMAIN.md §5) -----------------------------------------------


class UnknownLoa(ValueError):
    """A URI that names no level of assurance this project knows."""


def parse_loa(value: str | None) -> LoA | None:
    """The internal LoA of a value a backend reports: the internal name (``loa3``) or a URI."""
    if not value:
        return None
    value = value.strip()
    if value in LoA.__members__.values():
        return LoA(value)
    return loa_from_uri(value)


def contract(requested: list[str], required_loa: LoA) -> dict[str, list[str]]:
    """The ``REQUESTED_LOA`` state entry of a login (see :mod:`satosa_efos.state_keys`).

    ``requested`` are the wire URIs the application asked for, in its order of preference; each
    must be known (else :class:`UnknownLoa`). Nothing requested: the application's configured
    ``required_loa`` is the one accepted level. Never "at least": a login is acceptable when its
    LoA is one of ``accepted``.
    """
    if not requested:
        return {"accepted": [str(required_loa)], "requested": []}
    accepted: list[str] = []
    for uri in requested:
        loa = loa_from_uri(uri)
        if loa is None:
            raise UnknownLoa(uri)
        accepted.append(str(loa))
    return {"accepted": list(dict.fromkeys(accepted)), "requested": list(requested)}


def accepted_loas(entry: dict | None) -> list[LoA]:
    """The accepted levels of a contract entry (empty when there is none: accept nothing)."""
    values = (entry or {}).get("accepted") or []
    return [LoA(v) for v in values if v in LoA.__members__.values()]


def answer_uri(loa: LoA, entry: dict, profile: str) -> str | None:
    """The URI that tells the application its login's LoA, or None if ``loa`` is not accepted.

    One of the URIs the application requested when it requested any (Swedish eID deployment
    profile §5.4.4: "exclusively ... one of the requested"), else ``loa`` in the application's
    profile; Sambi names only loa2 and loa3, other levels fall back to the Swedish eID URI.
    """
    if loa not in accepted_loas(entry):
        return None
    for uri in entry.get("requested") or []:
        if loa_from_uri(uri) == loa:
            return uri
    return uri_for(loa, profile) or uri_for(loa, "swedish_eid")


def upstream_uris(accepted: list[LoA], profile: str) -> list[str]:
    """What to ask an upstream IdP of ``profile`` for: each accepted level it has a URI for."""
    return [uri for loa in accepted if (uri := uri_for(loa, profile))]
