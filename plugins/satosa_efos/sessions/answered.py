"""What a frontend tells the SSO session when it answers an application (one call each).

Single logout needs to know, per application, what that application was given: a SAML
application's NameID (value and format) and SessionIndex, an OIDC application's ``sid``. Only
the frontend knows these, and only once its answer is built; it hands them on as a context
decoration (:data:`~satosa_efos.state_keys.SSO_PARTICIPANT`), which the ``sso_record``
micro-service (last in the response chain) stores in the session. A frontend that answers with
an error calls nothing, and no session is recorded.

Duck-typed on SATOSA's ``Context`` (``decorate`` / ``get_decoration``); no SATOSA import.
"""

from __future__ import annotations

import secrets

from satosa_efos.sessions.sso import Participant, participant_sid
from satosa_efos.state_keys import SSO_PARTICIPANT, SSO_SESSION

__all__ = ["new_session_index", "oidc_answer", "saml_answer"]


def new_session_index() -> str:
    """A SessionIndex (an xs:ID-shaped value, 160 random bits), one per assertion: it links the
    assertion to this session for the application, and to nothing else."""
    return "_" + secrets.token_hex(20)


def saml_answer(
    context, entity_id: str, name_id: str, name_id_format: str, session_index: str
) -> None:
    """The SAML frontend built an assertion for ``entity_id``."""
    context.decorate(
        SSO_PARTICIPANT,
        Participant("saml", entity_id, name_id, name_id_format, session_index),
    )


def oidc_answer(context, client_id: str) -> dict[str, str]:
    """The OIDC frontend is issuing a code for ``client_id``: the ID token's extra claims.

    With a session, ``sid`` (OpenID Connect Front-Channel Logout 1.0 §3), which the proxy sends
    back with ``iss`` when it logs the user out of this client.
    """
    session = context.get_decoration(SSO_SESSION)
    sid = participant_sid(session.session_id, client_id) if session is not None else None
    context.decorate(SSO_PARTICIPANT, Participant("oidc", client_id, sid=sid))
    return {"sid": sid} if sid else {}
