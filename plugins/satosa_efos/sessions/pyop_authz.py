"""pyop's authorization state, changed where several workers, nodes and applications meet.

pyop's :class:`~pyop.authz_state.AuthorizationState` as SATOSA configures it has three habits a
multi-node proxy cannot keep:

1. Claims live in a per-*person* user table and are read again at the token and userinfo
   requests, so a login of the same person at another application in between changes what this
   application receives. Here the claims of one login are bound to its code and access token
   (as pyop does in its "stateless" mode), so each application gets exactly what was released
   to it at that login.
2. Subject identifiers live in a table that every token request scans linearly
   (``get_user_id_for_subject_identifier``). Here the frontend derives the pairwise ``sub``
   itself (:mod:`satosa_efos.oidc.pairwise`) and hands it to pyop as the user id: no table.
3. A code's single use is a read-check-write of ``used``: two workers redeeming one code at the
   same moment both succeed. Here redemption first *claims* the code atomically in the store
   (:meth:`~satosa_efos.sessions.pyop_sqlite.SqliteStorage.claim`, or ``SET NX`` in Redis).
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from pyop.access_token import AccessToken
from pyop.authz_state import AuthorizationState
from pyop.exceptions import InvalidAuthorizationCode, InvalidSubjectIdentifier

from satosa_efos.sessions.pyop_stores import OidcStores

logger = logging.getLogger(__name__)


class _GivenSubject:
    """pyop's subject factory interface; the user id it receives already is the ``sub``."""

    def create_public_identifier(self, user_id: str) -> str:
        return user_id

    def create_pairwise_identifier(self, user_id: str, sector_identifier: str) -> str:
        return user_id


class BoundClaimsAuthorizationState(AuthorizationState):
    """Codes and access tokens that carry the claims of their login; see the module text."""

    def __init__(self, stores: OidcStores, *, code_lifetime: int, token_lifetime: int):
        super().__init__(
            _GivenSubject(),
            stores.codes,
            stores.tokens,
            {},  # no refresh tokens: refresh_token_lifetime stays unset
            {},  # no subject table (see 2. above)
            authorization_code_lifetime=code_lifetime,
            access_token_lifetime=token_lifetime,
        )
        self.code_uses = stores.code_uses

    # -- 2. subjects: the user id is the pairwise sub --------------------------------------------

    def get_subject_identifier(
        self, subject_type: str, user_id: str, sector_identifier: str | None = None
    ) -> str:
        if not user_id:
            raise InvalidSubjectIdentifier("empty subject identifier")
        return user_id

    def get_user_id_for_subject_identifier(self, subject_identifier: str) -> str:
        if not subject_identifier:
            raise InvalidSubjectIdentifier("empty subject identifier")
        return subject_identifier

    # -- 1. claims bound to the code and the token ------------------------------------------------

    def create_authorization_code(
        self,
        authorization_request: Any,
        subject_identifier: str,
        scope: list[str] | None = None,
        user_info: dict | None = None,
        extra_id_token_claims: dict | None = None,
    ) -> str:
        code = secrets.token_urlsafe(32)
        self.authorization_codes[code] = {
            "used": False,
            "exp": int(time.time()) + self.authorization_code_lifetime,
            "sub": self.get_subject_identifier("public", subject_identifier),
            "granted_scope": " ".join(scope or authorization_request["scope"]),
            self.KEY_AUTHORIZATION_REQUEST: authorization_request.to_dict(),
            self.KEY_USER_INFO: dict(user_info or {}),
            self.KEY_EXTRA_ID_TOKEN_CLAIMS: dict(extra_id_token_claims or {}),
        }
        logger.debug("authorization code for client %s", authorization_request["client_id"])
        return code

    def _create_access_token(
        self,
        subject_identifier: str,
        auth_req: dict,
        granted_scope: str,
        current_scope: str | None = None,
        user_info: dict | None = None,
    ) -> AccessToken:
        now = int(time.time())
        value = secrets.token_urlsafe(32)
        self.access_tokens[value] = {
            "iat": now,
            "exp": now + self.access_token_lifetime,
            "sub": subject_identifier,
            "client_id": auth_req["client_id"],
            "aud": [auth_req["client_id"]],
            "scope": current_scope or granted_scope,
            "granted_scope": granted_scope,
            "token_type": AccessToken.BEARER_TOKEN_TYPE,
            self.KEY_AUTHORIZATION_REQUEST: auth_req,
            self.KEY_USER_INFO: dict(user_info or {}),
        }
        return AccessToken(value, self.access_token_lifetime)

    # -- 3. single use, atomically ----------------------------------------------------------------

    def exchange_code_for_token(self, authorization_code: str) -> AccessToken:
        if authorization_code not in self.authorization_codes:
            raise InvalidAuthorizationCode("unknown or expired authorization code")
        if not self.code_uses.claim(authorization_code):
            logger.warning("authorization code presented again (replay refused)")
            raise InvalidAuthorizationCode("authorization code has already been used")
        return super().exchange_code_for_token(authorization_code)
