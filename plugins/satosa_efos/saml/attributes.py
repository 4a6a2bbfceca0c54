"""Which attributes an application gets, and under which names (DOMAIN.md §4).

Release rule (issue 6, item 6; Swedish eID deployment profile §6.2.1): an application receives
exactly the internal attributes listed in its ``released_attributes``; when its metadata has an
``AttributeConsumingService`` (the one the AuthnRequest names by index, else the default one),
only those of them that it requests there — *listed ∩ requested*, or *listed* when the metadata
requests nothing. Nothing else, ever: no shared default policy from which one application's
release could reach another (stock SATOSA merges every SP's policy into a shared ``default``
dictionary it mutates per response).

Names: every attribute is one ``<saml:Attribute>`` with NameFormat ``uri``, a FriendlyName, and
all its values as ``<saml:AttributeValue>`` children. The URI is the application's
``attribute_profile``'s (``sambi`` or ``swedish_eid``); an attribute the profile has no name for
goes under the other profile's name rather than being dropped silently (check-config lists
attributes with no name at all).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from satosa_efos.attributemaps import names
from satosa_efos.saml.response import WireAttribute

PROFILES: dict[str, dict[str, str]] = {"sambi": names.SAMBI, "swedish_eid": names.SWEDISH_EID}


@dataclass(frozen=True)
class WireName:
    name: str
    friendly_name: str


def wire_names(internal_attributes: Mapping, profile: str) -> dict[str, WireName]:
    """Internal attribute name -> its SAML name in ``profile`` (falling back to the other)."""
    order = [PROFILES[profile]] + [m for p, m in PROFILES.items() if p != profile]
    found: dict[str, WireName] = {}
    for internal, spec in (internal_attributes.get("attributes") or {}).items():
        friendly_names = list((spec or {}).get("saml") or [])
        for table in order:
            match = next((f for f in friendly_names if f in table), None)
            if match:
                found[internal] = WireName(table[match], match)
                break
    return found


def requested_internal_names(internal_attributes: Mapping, requested: Iterable[str]) -> set[str]:
    """The internal names behind RequestedAttribute ``Name`` URIs of either profile."""
    by_uri: dict[str, str] = {}
    for profile in PROFILES:
        for internal, wire in wire_names(internal_attributes, profile).items():
            by_uri.setdefault(wire.name, internal)
    # An ADFS-style or other name a profile does not know maps to nothing: not requested.
    return {by_uri[uri] for uri in requested if uri in by_uri}


def released(listed: Sequence[str], requested: set[str] | None) -> list[str]:
    """The release rule: listed ∩ requested, or listed when the metadata requests nothing."""
    return [name for name in listed if requested is None or name in requested]


def wire_attributes(
    values: Mapping[str, Sequence[object]], release: Sequence[str], names_: Mapping[str, WireName]
) -> list[WireAttribute]:
    """The released attributes that have values, each as one multi-valued SAML attribute."""
    found = []
    for internal in release:
        wire = names_.get(internal)
        texts = tuple(str(v) for v in values.get(internal) or [] if v is not None and str(v) != "")
        if wire is not None and texts:
            found.append(WireAttribute(wire.name, wire.friendly_name, tuple(dict.fromkeys(texts))))
    return found
