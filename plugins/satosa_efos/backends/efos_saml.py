"""Mobilt Efos, ``saml`` adapter: an upstream Efos-capable SAML IdP (e.g. Inera's IdP).

The other way to reach the national service (DOMAIN.md §2–3): instead of speaking the collect
API (``backends/efos_mobile.py``), the proxy sends the user to an upstream IdP that offers the
mobile method. Which adapter serves the ``efos_mobile`` login method is configuration: the
routing micro-service's ``backends`` names this backend or the collect one.

It is the organisation IdP backend (request ids in the state, the answer only from the IdP asked,
signed requests, exact LoA) with a fixed IdP whose levels are the configured URIs: the request
asks, with ``Comparison="exact"``, for those of them that the application accepts (none: the
login ends with NoAuthnContext before the user is sent anywhere), and an answer that is not one
of them is refused, never passed on.

Extra configuration (beside SATOSA's SAMLBackend settings)::

    idp_entity_id: https://idp.inera.se/...          # the upstream IdP
    requested_loa: [http://id.sambi.se/loa/loa3]     # the URIs it may be asked for, in order
"""

from __future__ import annotations

import copy

from satosa_efos.backends.organisation_idp import OrganisationSAMLBackend
from satosa_efos.efos.attributes import EFOS_MOBILE_METHOD
from satosa_efos.identity.loa import LoA, loa_from_uri


class EfosSamlBackend(OrganisationSAMLBackend):
    def __init__(self, outgoing, internal_attributes, config, base_url, name):
        config = copy.deepcopy(config)
        self.idp_entity_id = config.pop("idp_entity_id")
        self.requested_loa = list(config.pop("requested_loa"))
        if not self.requested_loa:
            raise ValueError(f"backend {name}: requested_loa lists no AuthnContextClassRef")
        unknown = [uri for uri in self.requested_loa if loa_from_uri(uri) is None]
        if unknown:
            raise ValueError(f"backend {name}: {unknown[0]} is not a level of assurance")
        super().__init__(outgoing, internal_attributes, config, base_url, name)

    def get_idp_entity_id(self, context):
        return self.idp_entity_id

    def loa_class_refs(self, entity_id: str, accepted: list[LoA]) -> list[str]:
        return [uri for uri in self.requested_loa if loa_from_uri(uri) in accepted]

    def _translate_response(self, response, state):
        internal = super()._translate_response(response, state)
        internal.attributes["authnMethod"] = [EFOS_MOBILE_METHOD]
        return internal
