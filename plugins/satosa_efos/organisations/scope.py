"""Scope check: an organisation's own IdP may assert only its own users (DOMAIN.md §9).

Like Shibboleth's ``shibmd:Scope``: every value of every scope-bearing attribute the IdP released
must belong to the organisation (an e-mail / UPN in one of its domains, an HSA-id with its
``SE<orgnr>-`` prefix), and at least one such value must be there, since a response that proves
nothing about where the user belongs cannot be accepted on trust.
"""

from __future__ import annotations

from dataclasses import dataclass

from satosa_efos.config.models import SCOPE_KINDS, Organisation


@dataclass(frozen=True)
class ScopeViolation:
    attribute: str
    value: str | None  # None: no scope-bearing value at all

    def describe(self) -> str:
        if self.value is None:
            return "the IdP released no attribute that shows which organisation the user belongs to"
        return f"{self.attribute} value is outside the organisation's scope"


def _in_scope(organisation: Organisation, kind: str, value: str) -> bool:
    if kind == "domain":
        local, at, domain = value.strip().rpartition("@")
        return bool(local and at) and domain.lower() in organisation.domains
    prefix, dash, rest = value.strip().partition("-")
    return bool(dash and rest) and prefix.upper() == organisation.hsa_id_prefix


def check_scope(
    organisation: Organisation, attributes: dict[str, list[str]]
) -> ScopeViolation | None:
    """None when the user provably belongs to ``organisation``; else the first violation."""
    seen = False
    for name in organisation.scope_attributes:
        for value in attributes.get(name) or []:
            seen = True
            if not _in_scope(organisation, SCOPE_KINDS[name], str(value)):
                return ScopeViolation(name, str(value))
    return None if seen else ScopeViolation(",".join(organisation.scope_attributes), None)
