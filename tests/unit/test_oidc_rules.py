"""The OIDC OP's rules without SATOSA: PKCE, pairwise sub, the LoA contract, claim release."""

from __future__ import annotations

import pytest

from satosa_efos.frontends.oidc_op import request_hints
from satosa_efos.identity.loa import LoA
from satosa_efos.oidc import pkce
from satosa_efos.oidc.acr import answer_acr, loa_contract, requested_acrs
from satosa_efos.oidc.claims import release_problem, released_claims
from satosa_efos.oidc.errors import InvalidGrant, InvalidRequest, UnmetAuthenticationRequirements
from satosa_efos.oidc.pairwise import pairwise_sub

SAMBI3 = "http://id.sambi.se/loa/loa3"
EID3 = "http://id.elegnamnden.se/loa/1.0/loa3"
EID4 = "http://id.elegnamnden.se/loa/1.0/loa4"
SALT = "0123456789abcdef0123456789abcdef"

# RFC 7636 Appendix B
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_s256_matches_rfc_7636_appendix_b():
    assert pkce.s256(VERIFIER) == CHALLENGE


def test_public_client_must_send_an_s256_challenge():
    pkce.check_challenge(CHALLENGE, "S256", public_client=True)
    for challenge, method in ((None, None), (CHALLENGE, None), (CHALLENGE, "plain"),
                              (VERIFIER, "plain"), ("short", "S256")):  # fmt: skip
        with pytest.raises(InvalidRequest):
            pkce.check_challenge(challenge, method, public_client=True)


def test_confidential_client_may_omit_pkce_but_never_use_plain():
    pkce.check_challenge(None, None, public_client=False)
    pkce.check_challenge(CHALLENGE, "S256", public_client=False)
    with pytest.raises(InvalidRequest):
        pkce.check_challenge(VERIFIER, "plain", public_client=False)


def test_verifier_must_be_present_and_match():
    pkce.verify(VERIFIER, CHALLENGE)
    for verifier in (None, "", "x" * 42, VERIFIER[:-1] + "A", "ä" * 43):
        with pytest.raises(InvalidGrant):
            pkce.verify(verifier, CHALLENGE)


def test_pairwise_sub_is_stable_per_client_and_differs_between_clients():
    sub = pairwise_sub(SALT, "journal", "subject-1")
    assert sub == pairwise_sub(SALT, "journal", "subject-1")
    assert sub != pairwise_sub(SALT, "samsa", "subject-1")
    assert sub != pairwise_sub(SALT, "journal", "subject-2")
    assert sub != pairwise_sub(SALT[::-1], "journal", "subject-1")
    # no ambiguity from concatenation: ("ab", "c") and ("a", "bc") differ
    assert pairwise_sub(SALT, "ab", "c") != pairwise_sub(SALT, "a", "bc")
    with pytest.raises(ValueError):
        pairwise_sub("short", "journal", "subject-1")


def test_requested_acrs_come_from_acr_values_and_the_claims_parameter():
    claims = {"id_token": {"acr": {"essential": True, "values": [EID4, SAMBI3]}}}
    assert requested_acrs(f"{SAMBI3}  {EID3}", claims) == [SAMBI3, EID3, EID4]
    assert requested_acrs(None, {"id_token": {"acr": {"value": EID3}}}) == [EID3]
    assert requested_acrs("", None) == []


def test_contract_from_request_or_application_default():
    assert loa_contract([], LoA.LOA3) == {"accepted": ["loa3"], "requested": []}
    assert loa_contract([SAMBI3, EID3], LoA.LOA2) == {
        "accepted": ["loa3"],
        "requested": [SAMBI3, EID3],
    }
    with pytest.raises(InvalidRequest):
        loa_contract(["http://example.org/loa/high"], LoA.LOA3)


def test_login_loa_may_be_an_internal_value_or_a_wire_uri():
    contract = loa_contract([], LoA.LOA3)
    assert answer_acr("loa3", contract, "sambi") == answer_acr(EID3, contract, "sambi") == SAMBI3


def test_acr_answers_the_requested_uri_exactly():
    contract = loa_contract([EID3, SAMBI3], LoA.LOA3)
    assert answer_acr("loa3", contract, "sambi") == EID3
    assert answer_acr(SAMBI3, loa_contract([SAMBI3], LoA.LOA3), "swedish_eid") == SAMBI3


def test_acr_without_request_uses_the_application_profile():
    contract = loa_contract([], LoA.LOA3)
    assert answer_acr(EID3, contract, "sambi") == SAMBI3
    assert answer_acr(EID3, contract, "swedish_eid") == EID3
    assert answer_acr("loa4", loa_contract([], LoA.LOA4), "sambi") == EID4  # Sambi has no loa4


def test_a_weaker_or_unknown_login_gets_no_acr():
    for login, contract in (
        ("loa3", loa_contract([EID4], LoA.LOA3)),
        ("loa2", loa_contract([], LoA.LOA3)),
        ("loa4", loa_contract([EID3], LoA.LOA3)),  # exact, not "at least"
        ("uncertified-loa3", loa_contract([], LoA.LOA3)),
        (None, loa_contract([], LoA.LOA3)),
        ("urn:unknown", loa_contract([], LoA.LOA3)),
    ):
        with pytest.raises(UnmetAuthenticationRequirements):
            answer_acr(login, contract, "sambi")


NAMES = {
    "givenName": ["given_name"],
    "commissionRight": ["commissionRight"],
    "employeeHsaId": ["employeeHsaId"],
    "organizationName": [],
    "levelOfAssurance": ["acr"],
}


def test_released_claims_are_exactly_the_released_attributes():
    attributes = {
        "givenName": ["Eva", "Maria"],
        "commissionRight": ["Läsa;alla;SJF"],
        "employeeHsaId": ["SE2321000131-E1"],
        "personalIdentityNumber": ["191212121212"],
    }
    claims = released_claims(attributes, ["givenName", "commissionRight"], NAMES)
    assert claims == {"given_name": "Eva", "commissionRight": ["Läsa;alla;SJF"]}


def test_attributes_without_oidc_name_or_with_a_reserved_one_cannot_be_released():
    assert release_problem("givenName", NAMES) is None
    assert "no OIDC claim name" in release_problem("organizationName", NAMES)
    assert "no OIDC claim name" in release_problem("shoeSize", NAMES)
    assert "the proxy sets itself" in release_problem("levelOfAssurance", NAMES)


def test_request_hints_for_routing():
    hints = request_hints(
        {"org": "boras", "login_hint": "SE2321000131-E1", "prompt": "login", "max_age": "600"}
    )
    assert hints == {
        "org": "boras",
        "idp_list": [],
        "principal": ["SE2321000131-E1"],
        "is_passive": False,
        "force_authn": True,
        "max_age": "600",  # the SSO session answers only a login at most this old (docs/sso.md)
    }
    assert request_hints({"login_hint": "eva@goteborg.se", "prompt": "none"})["principal"] == []
    assert request_hints({"prompt": "none"})["is_passive"] is True
    assert request_hints({"max_age": "0"})["force_authn"] is True
