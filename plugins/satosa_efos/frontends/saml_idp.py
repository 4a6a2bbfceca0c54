"""The proxy's SAML IdP towards applications: SATOSA's SAMLFrontend, driven by the registry.

Applications are connected in ``applications.yaml`` only: this frontend adds each SAML
application's metadata file to pysaml2's metadata and builds its release policy from
``released_attributes``, so an admin never edits pysaml2 policy by hand. Requests that do not
parse or come from an application that is not in the registry are refused with a page, never
answered with a stack trace.

Configuration (``config`` of the plugin file): SATOSA's SAMLFrontend settings, plus
``registry_dir`` (default ``.``, the configuration directory) and ``policy_defaults``.
"""

from __future__ import annotations

import copy
import logging

from saml2.saml import NAME_FORMAT_URI
from satosa.frontends.saml2 import SAMLFrontend

from satosa_efos import attributemaps
from satosa_efos.config.registries import cached_registries
from satosa_efos.errors import BadSamlMessage, UnknownApplication
from satosa_efos.state_keys import REQUEST_HINTS
from satosa_efos.web.autopost import localised_post_form

logger = logging.getLogger(__name__)

PRINCIPAL_SELECTION_NS = "http://id.swedenconnect.se/authn/1.0/principal-selection/ns"

#: Applied to every application (Swedish eID profile §8: SHA-256 or stronger, both signed).
SIGNING_POLICY = {
    "sign_response": True,
    "sign_assertion": True,
    "name_form": NAME_FORMAT_URI,
    "lifetime": {"minutes": 5},
}


def release_restrictions(released: list[str], internal_attributes: dict) -> dict[str, None]:
    """pysaml2 attribute restrictions: the wire FriendlyNames of the released internal names."""
    mapping = internal_attributes.get("attributes", {})
    names: dict[str, None] = {}
    for internal in released:
        for external in mapping.get(internal, {}).get("saml", []):
            names[external.lower()] = None
    return names


class EfosSAMLFrontend(SAMLFrontend):
    def __init__(self, auth_req_callback_func, internal_attributes, config, base_url, name):
        config = copy.deepcopy(config)
        registries = cached_registries(config.pop("registry_dir", "."))
        self.applications = registries.applications
        defaults = {**SIGNING_POLICY, **config.pop("policy_defaults", {})}
        idp_config = config.setdefault("idp_config", {})
        idp_config.setdefault("attribute_map_dir", attributemaps.SAMBI)
        metadata = idp_config.setdefault("metadata", {})
        local = list(metadata.get("local", []))
        policy = {"default": {**defaults, "attribute_restrictions": {}}}
        for app in self.applications.applications:
            if app.protocol != "saml":
                continue
            local.append(app.metadata)
            policy[app.entity_id] = {
                **defaults,
                "attribute_restrictions": release_restrictions(
                    app.released_attributes, internal_attributes
                ),
            }
        metadata["local"] = local
        idp_config.setdefault("service", {}).setdefault("idp", {})["policy"] = policy
        super().__init__(auth_req_callback_func, internal_attributes, config, base_url, name)

    def handle_authn_response(self, context, internal_response):
        return localised_post_form(super().handle_authn_response(context, internal_response))

    def handle_backend_error(self, exception):
        return localised_post_form(super().handle_backend_error(exception))

    def _handle_authn_request(self, context, binding_in, idp):
        request = context.request or {}
        if "SAMLRequest" not in request:
            raise BadSamlMessage("no SAMLRequest in the request")
        try:
            parsed = idp.parse_authn_request(request["SAMLRequest"], binding_in)
        except Exception as exc:  # pysaml2 raises many types for one fact: unusable input
            raise BadSamlMessage(f"AuthnRequest rejected: {type(exc).__name__}: {exc}") from exc
        issuer = parsed.message.issuer.text.strip() if parsed.message.issuer else None
        if not issuer or self.applications.for_requester(issuer) is None:
            raise UnknownApplication(f"AuthnRequest from unregistered issuer {issuer!r}")
        context.decorate(REQUEST_HINTS, request_hints(parsed.message, context))
        return super()._handle_authn_request(context, binding_in, idp)


def _truthy(value: object) -> bool:
    return str(value).lower() in ("true", "1")


def request_hints(authn_request, context) -> dict:
    """What the AuthnRequest (and the URL) say about where the user should log in.

    Routing (DOMAIN.md §9) reads these: the ``org`` URL parameter, ``<Scoping><IDPList>``, and
    the Principal Selection extension (Swedish eID framework, namespace in PRINCIPAL_SELECTION_NS).
    """
    params = {**(context.request or {}), **(context.qs_params or {})}
    idp_list = []
    scoping = authn_request.scoping
    if scoping is not None and scoping.idp_list is not None:
        idp_list = [e.provider_id for e in scoping.idp_list.idp_entry or [] if e.provider_id]
    principal = []
    extensions = authn_request.extensions
    for element in getattr(extensions, "extension_elements", None) or []:
        if element.tag == "PrincipalSelection" and element.namespace == PRINCIPAL_SELECTION_NS:
            principal += [
                (child.text or "").strip()
                for child in element.children or []
                if child.tag == "MatchValue" and (child.text or "").strip()
            ]
    return {
        "org": str(params["org"]).strip() if params.get("org") else None,
        "idp_list": idp_list,
        "principal": principal,
        "is_passive": _truthy(authn_request.is_passive),
        "force_authn": _truthy(authn_request.force_authn),
    }
