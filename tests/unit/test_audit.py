"""satosa_efos.audit and its formatter: pseudonyms, the logout line, one JSON object a line."""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from types import SimpleNamespace

import pytest

from satosa_efos import audit
from satosa_efos.logging_json import AuditFormatter
from satosa_efos.metrics import LOCAL_REGISTRY
from satosa_efos.sessions.sso import Participant, SsoSession

KEY = b"0123456789abcdef0123456789abcdef"
ANNA_PNR = "195006262546"
ANNA_HSA_ID = "SE2321000131-E000000001001"


@pytest.fixture(autouse=True)
def configured():
    saved = (audit._settings.key, audit._settings.trusted_proxies)
    audit.configure(KEY, [ipaddress.ip_network("127.0.0.1/32")])
    yield
    audit._settings.key, audit._settings.trusted_proxies = saved


def lines(caplog) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "satosa_efos.audit"]


def session() -> SsoSession:
    return SsoSession(
        session_id="cookie-value-secret",
        organisation="vgr",
        method="efos_mobile",
        upstream="https://efos.example/idp",
        loa="loa3",
        authn_instant=1.0,
        created=1.0,
        last_seen=1.0,
        idle_timeout=1800,
        absolute_timeout=36000,
        subject_id="efos-subject",
        attributes={"personalIdentityNumber": [ANNA_PNR], "givenName": ["Anna"]},
        participants=[Participant("saml", "https://app.example/sp")],
    )


def test_subject_pseudonym_is_keyed_and_the_same_for_one_person_across_methods():
    by_efos = audit.subject_pseudonym({"employeeHsaId": [ANNA_HSA_ID]}, "efos-x", "efos")
    by_idp = audit.subject_pseudonym({"employeeHsaId": [f" {ANNA_HSA_ID} "]}, "nameid", "idp")
    assert by_efos == by_idp and re.fullmatch(r"[0-9a-f]{32}", by_efos)
    unkeyed = audit.pseudonym(b"another key", f"hsa:{ANNA_HSA_ID}")
    assert by_efos != unkeyed
    assert audit.subject_pseudonym({}, None, None) is None


def test_logout_line_names_the_session_and_person_by_pseudonyms_only(caplog):
    caplog.set_level(logging.INFO, "satosa_efos.audit")
    context = SimpleNamespace(
        http_headers={"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"},
        state=SimpleNamespace(session_id="urn:uuid:1"),
    )
    logouts = ("satosa_efos_logouts_total", {"initiator": "saml", "outcome": "partial"})
    before = LOCAL_REGISTRY.get_sample_value(*logouts) or 0
    audit.audit_logout(context, session=session(), initiator="saml",
                       application="https://app.example/sp", notified=["demo-rp"],
                       outcome="partial")  # fmt: skip
    (line,) = lines(caplog)
    assert line["event"] == "logout" and line["outcome"] == "partial"
    assert line["client_address"] == "203.0.113.9"  # from the trusted proxy's header
    assert line["session_id"] == "urn:uuid:1"
    assert (line["organisation"], line["method"], line["loa"]) == ("vgr", "efos_mobile", "loa3")
    assert re.fullmatch(r"[0-9a-f]{32}", line["subject"])
    assert re.fullmatch(r"[0-9a-f]{32}", line["sso_session"])
    text = caplog.records[0].getMessage()
    for secret in (ANNA_PNR, "Anna", "cookie-value-secret", session().key):
        assert secret not in text
    assert LOCAL_REGISTRY.get_sample_value(*logouts) == before + 1


def test_logout_without_a_session_or_context(caplog):
    caplog.set_level(logging.INFO, "satosa_efos.audit")
    audit.audit_logout(session=None, initiator="user")
    (line,) = lines(caplog)
    assert line["had_session"] is False and line["subject"] is None
    assert line["client_address"] is None


def test_untrusted_peer_is_the_client_whatever_it_says():
    context = SimpleNamespace(http_headers={"REMOTE_ADDR": "198.51.100.1",
                                            "HTTP_X_FORWARDED_FOR": "10.0.0.1"})  # fmt: skip
    assert audit.client_address_of(context) == "198.51.100.1"


def test_audit_formatter_writes_the_object_alone_and_redacts():
    formatter = AuditFormatter()

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("satosa_efos.audit", logging.INFO, __file__, 1, message, None,
                                 None)  # fmt: skip

    line = formatter.format(record(json.dumps({"event": "login", "note": ANNA_PNR})))
    assert json.loads(line) == {"event": "login", "note": "[pnr]"}
    other = json.loads(formatter.format(record(f"plain text {ANNA_PNR}")))
    assert other["event"] == "log" and other["message"] == "plain text [pnr]"
