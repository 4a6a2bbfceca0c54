"""The SSO backend: answers a login from the user's live single sign-on session (docs/sso.md).

No page and no upstream IdP: the ``sso`` request micro-service has already found a session that
may answer this request (DOMAIN.md §5: live, the same LoA, no ForceAuthn, the application admits
the organisation) and sent the login here. The backend rebuilds what the original login's backend
reported -- the internal LoA, the time of the authentication, the upstream IdP, the subject and
the upstream's attributes -- and the response chain runs as after any login: the scope check,
the HSA look-up *for this application* (its commission, its purposes), release, the frontend.

SATOSA offers no other way from a request micro-service to the response chain than a backend, so
this one exists; it answers only a request the ``sso`` micro-service vouched for in the same HTTP
request (the :data:`~satosa_efos.state_keys.SSO_REUSE` decoration), never one sent here by path.

Configuration: none (``config: {}``); the plugin's ``name`` is what ``sso.yaml``'s ``backend``
names (default ``sso``).
"""

from __future__ import annotations

import copy
import datetime as dt
import logging

from pydantic import BaseModel, ConfigDict
from satosa.backends.base import BackendModule
from satosa.internal import AuthenticationInformation, InternalData

from satosa_efos.config.models import LoginMethod
from satosa_efos.errors import SessionExpired
from satosa_efos.sessions.sso import SsoSession
from satosa_efos.state_keys import ROUTING, SSO_REUSE

logger = logging.getLogger(__name__)

#: ``source`` of the routing decision of a login answered from the session.
SOURCE = "sso"


class SsoBackendSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _instant(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def internal_response(session: SsoSession) -> InternalData:
    """The login as its backend reported it when the session began."""
    response = InternalData(
        auth_info=AuthenticationInformation(
            auth_class_ref=session.loa,
            timestamp=_instant(session.authn_instant),
            issuer=session.upstream,
            authority=session.authority,
        )
    )
    response.subject_id = session.subject_id
    response.attributes = copy.deepcopy(session.attributes)
    return response


class SsoBackend(BackendModule):
    CONFIG_MODEL = SsoBackendSettings

    def __init__(self, auth_callback_func, internal_attributes, config, base_url, name):
        super().__init__(auth_callback_func, internal_attributes, base_url, name)
        SsoBackendSettings.model_validate(config or {})

    def register_endpoints(self):
        return []

    def start_auth(self, context, internal_request):
        session: SsoSession | None = context.get_decoration(SSO_REUSE)
        if session is None:
            raise SessionExpired(
                "the sso backend answers only requests the sso service vouched for"
            )
        context.state[ROUTING] = {
            "organisation": session.organisation,
            "method": session.method,
            "idp": session.upstream if session.method == LoginMethod.OWN_IDP else None,
            "source": SOURCE,
            "hints": {"is_passive": False, "force_authn": False},
        }
        logger.info(
            "login for %s answered from the SSO session (%s via %s, %s)",
            internal_request.requester,
            session.organisation,
            session.method,
            session.loa,
        )
        return self.auth_callback_func(context, internal_response(session))
