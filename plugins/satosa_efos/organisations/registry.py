"""Organisation and application registries as dictionary look-ups.

Built once per worker from the validated YAML (see :mod:`satosa_efos.config.registries`);
routing, scope checks and attribute release ask these, never the raw files. Every look-up is a
dictionary access so that a 300-organisation registry costs what a 50-organisation one does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from satosa_efos.config.models import Application, Organisation


@dataclass(frozen=True)
class OrganisationRegistry:
    organisations: tuple[Organisation, ...]
    by_id: dict[str, Organisation] = field(init=False)
    by_domain: dict[str, Organisation] = field(init=False)
    by_idp_entity_id: dict[str, Organisation] = field(init=False)
    by_hsa_id_prefix: dict[str, Organisation] = field(init=False)

    def __post_init__(self) -> None:
        orgs = self.organisations
        object.__setattr__(self, "by_id", {o.id: o for o in orgs})
        object.__setattr__(self, "by_domain", {d: o for o in orgs for d in o.domains})
        object.__setattr__(
            self, "by_idp_entity_id", {o.own_idp.entity_id: o for o in orgs if o.own_idp}
        )
        object.__setattr__(self, "by_hsa_id_prefix", {o.hsa_id_prefix: o for o in orgs})

    def __len__(self) -> int:
        return len(self.organisations)

    def for_hsa_id(self, hsa_id: str) -> Organisation | None:
        prefix, sep, _ = hsa_id.partition("-")
        return self.by_hsa_id_prefix.get(prefix.upper()) if sep else None


@dataclass(frozen=True)
class ApplicationRegistry:
    applications: tuple[Application, ...]
    by_id: dict[str, Application] = field(init=False)
    by_entity_id: dict[str, Application] = field(init=False)
    by_client_id: dict[str, Application] = field(init=False)

    def __post_init__(self) -> None:
        apps = self.applications
        object.__setattr__(self, "by_id", {a.id: a for a in apps})
        object.__setattr__(self, "by_entity_id", {a.entity_id: a for a in apps if a.entity_id})
        object.__setattr__(self, "by_client_id", {a.client_id: a for a in apps if a.client_id})

    def __len__(self) -> int:
        return len(self.applications)

    def for_requester(self, requester: str) -> Application | None:
        """The application behind a SAML entityID or an OIDC client_id."""
        return self.by_entity_id.get(requester) or self.by_client_id.get(requester)
