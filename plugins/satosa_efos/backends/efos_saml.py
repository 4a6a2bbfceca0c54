"""Mobilt Efos, ``saml`` adapter: an upstream Efos-capable SAML IdP (e.g. Inera's IdP).

The other way to reach the national service (DOMAIN.md §2–3): instead of speaking the collect
API (``backends/efos_mobile.py``), the proxy sends the user to an upstream IdP that offers the
mobile method and asks it for exactly the configured levels of assurance. Which adapter serves
the ``efos_mobile`` login method is configuration: the routing micro-service's ``backends``
names this backend or the collect one.

It is the organisation IdP backend (request ids in the state, the answer only from the IdP asked,
signed requests) with a fixed IdP and exact LoA handling (DOMAIN.md §5): the request carries the
configured AuthnContextClassRefs with ``Comparison="exact"``, and an answer whose class is not
one of them (a weaker LoA, or none) is refused, never passed on.

Extra configuration (beside SATOSA's SAMLBackend settings)::

    idp_entity_id: https://idp.inera.se/...          # the upstream IdP
    requested_loa: [http://id.sambi.se/loa/loa3]     # exact, in this order of preference
"""

from __future__ import annotations

import copy

from satosa.context import Context

from satosa_efos.backends.organisation_idp import OrganisationSAMLBackend
from satosa_efos.efos.attributes import EFOS_MOBILE_METHOD
from satosa_efos.errors import ProxyError


class WeakerLoa(ProxyError):
    """The upstream IdP answered with another (weaker) level of assurance than was asked."""

    code, status = "weaker_loa", 403


class EfosSamlBackend(OrganisationSAMLBackend):
    def __init__(self, outgoing, internal_attributes, config, base_url, name):
        config = copy.deepcopy(config)
        self.idp_entity_id = config.pop("idp_entity_id")
        self.requested_loa = list(config.pop("requested_loa"))
        if not self.requested_loa:
            raise ValueError(f"backend {name}: requested_loa lists no AuthnContextClassRef")
        super().__init__(outgoing, internal_attributes, config, base_url, name)

    def get_idp_entity_id(self, context):
        return self.idp_entity_id

    def authn_request(self, context, entity_id):
        context.state[Context.KEY_TARGET_AUTHN_CONTEXT_CLASS_REF] = {
            "class_ref": self.requested_loa,
            "comparison": "exact",
        }
        return super().authn_request(context, entity_id)

    def _translate_response(self, response, state):
        internal = super()._translate_response(response, state)
        answered = internal.auth_info.auth_class_ref
        if answered not in self.requested_loa:
            raise WeakerLoa(
                f"{self.idp_entity_id} answered AuthnContextClassRef {answered!r}, "
                f"but exactly one of {self.requested_loa} was requested"
            )
        internal.attributes["levelOfAssurance"] = [answered]
        internal.attributes["authnMethod"] = [EFOS_MOBILE_METHOD]
        return internal
