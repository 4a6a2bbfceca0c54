"""SATOSA's SAMLBackend towards organisation IdPs, with no request state in worker memory.

Stock SAMLBackend keeps the ids of outstanding AuthnRequests in a dictionary of the worker that
sent them, so a response that reaches another gunicorn worker (or another node) is refused as
unsolicited, unless ``allow_unsolicited`` is switched on, which drops the InResponseTo check.
Here the request id travels in SATOSA's encrypted state, and the response must answer exactly
that request.
"""

from __future__ import annotations

import copy
import threading
from pathlib import Path

from satosa.backends.saml2 import SAMLBackend

from satosa_efos import attributemaps


def expand_metadata_paths(entries: list[str]) -> list[str]:
    """A folder stands for the ``*.xml`` files in it (pysaml2 would also read its README)."""
    files: list[str] = []
    for entry in entries:
        path = Path(entry)
        files += [str(f) for f in sorted(path.glob("*.xml"))] if path.is_dir() else [entry]
    return files


class _RequestScopedQueries(threading.local):
    """``outstanding_queries`` as seen by the current request only."""

    def __init__(self) -> None:
        self.queries: dict[str, str] = {}


class OrganisationSAMLBackend(SAMLBackend):
    _STATE_REQUEST_ID = "request_id"

    def __init__(self, outgoing, internal_attributes, config, base_url, name):
        self._scoped = _RequestScopedQueries()
        config = copy.deepcopy(config)
        sp_config = config.setdefault("sp_config", {})
        sp_config.setdefault("attribute_map_dir", attributemaps.INCOMING)
        metadata = sp_config.setdefault("metadata", {})
        metadata["local"] = expand_metadata_paths(metadata.get("local", []))
        sp_service = sp_config.setdefault("service", {}).setdefault("sp", {})
        if sp_service.get("allow_unsolicited") or sp_config.get("allow_unsolicited"):
            raise ValueError(f"backend {name}: allow_unsolicited must not be enabled")
        # Explicitly False: SATOSA only tracks request ids when the setting `is False`.
        sp_service["allow_unsolicited"] = False
        super().__init__(outgoing, internal_attributes, config, base_url, name)

    @property
    def outstanding_queries(self) -> dict[str, str]:
        return self._scoped.queries

    @outstanding_queries.setter
    def outstanding_queries(self, value: dict[str, str]) -> None:
        self._scoped.queries = value

    def authn_request(self, context, entity_id):
        self._scoped.queries = {}
        response = super().authn_request(context, entity_id)
        request_ids = list(self._scoped.queries)
        self._scoped.queries = {}
        if request_ids:
            context.state[self.name][self._STATE_REQUEST_ID] = request_ids[0]
        return response

    def authn_response(self, context, binding):
        saved = context.state.get(self.name, {})
        request_id = saved.get(self._STATE_REQUEST_ID)
        self._scoped.queries = {request_id: request_id} if request_id else {}
        try:
            return super().authn_response(context, binding)
        finally:
            self._scoped.queries = {}
