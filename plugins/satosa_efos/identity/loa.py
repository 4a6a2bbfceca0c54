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
