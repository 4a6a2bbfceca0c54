"""The LoA contract of an OIDC authorization request and the ``acr`` of its answer.

DOMAIN.md §5 for OIDC: the application names the levels it accepts in ``acr_values`` (OIDC Core
§3.1.2.1) or in an ``acr`` claim request (§5.5.1.1); each must be a URI this proxy knows, else
the request is refused (``invalid_request``). Whatever was asked is honoured exactly, never "at
least": the answer's ``acr`` is one of the requested URIs, or there is no answer but
``unmet_authentication_requirements``. Without a request the application's ``required_loa``
applies and ``acr`` is its URI in the application's ``loa_profile``.

The contract itself is the state entry :data:`satosa_efos.state_keys.REQUESTED_LOA`, shared with
the SAML frontend, routing and the backends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from satosa_efos.identity.loa import LoA, UnknownLoa, answer_uri, contract, parse_loa
from satosa_efos.oidc.errors import InvalidRequest, UnmetAuthenticationRequirements


def requested_acrs(acr_values: str | None, claims: Mapping[str, Any] | None) -> list[str]:
    """The acr URIs asked for, in the application's order of preference, without repeats."""
    asked = (acr_values or "").split()
    acr_claim = ((claims or {}).get("id_token") or {}).get("acr") or {}
    if isinstance(acr_claim, Mapping):
        if acr_claim.get("value"):
            asked.append(str(acr_claim["value"]))
        asked += [str(v) for v in acr_claim.get("values") or []]
    return list(dict.fromkeys(a.strip() for a in asked if a.strip()))


def loa_contract(requested: list[str], required_loa: LoA) -> dict[str, list[str]]:
    """The REQUESTED_LOA state entry (:func:`satosa_efos.identity.loa.contract`); an unknown
    URI is the application's error: ``invalid_request``."""
    try:
        return contract(requested, required_loa)
    except UnknownLoa as exc:
        raise InvalidRequest(
            f"acr value {str(exc)!r} is not a level of assurance known here"
        ) from exc


def answer_acr(auth_class_ref: str | None, entry: Mapping[str, Any], profile: str) -> str:
    """The ``acr`` claim for this login, or UnmetAuthenticationRequirements.

    Fails closed: a login without a known LoA (backends report the internal value, e.g.
    ``loa3``, or a wire URI), or with one the application did not accept, gets no ID token
    (DOMAIN.md §5: a downgrade is refused, never passed on).
    """
    loa = parse_loa(auth_class_ref)
    if loa is None:
        raise UnmetAuthenticationRequirements("the login has no known level of assurance")
    uri = answer_uri(loa, dict(entry), profile)
    if uri is None:
        accepted = list(entry.get("accepted") or [])
        raise UnmetAuthenticationRequirements(
            f"the login has level of assurance {loa}, the application accepts {accepted}"
        )
    return uri
