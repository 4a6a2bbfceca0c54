"""The login-state cookie: this proxy's AES-GCM format, and SATOSA's format still read."""

from __future__ import annotations

import base64
from http.cookies import SimpleCookie

import pytest
from satosa.context import Context
from satosa.state import State

from satosa_efos import state_cookie
from satosa_efos.app import StateCookie

KEY = "a state encryption key from the configuration"


def test_round_trip_keeps_the_data():
    data = {"SESSION_ID": "urn:uuid:1", "SAML2": {"relay_state": "å/ä?ö&", "n": [1, 2]}}
    value = state_cookie.encode(data, KEY)
    assert value.startswith("v2.")
    assert state_cookie.decode(value, KEY) == data


def test_each_cookie_has_its_own_nonce():
    data = {"SESSION_ID": "urn:uuid:1"}
    assert state_cookie.encode(data, KEY) != state_cookie.encode(data, KEY)


def _flip(value: str, index: int) -> str:
    body = value[3:]
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[index] ^= 1
    return "v2." + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


@pytest.mark.parametrize("index", [0, 12, 20, -1])
def test_an_altered_byte_is_refused(index):
    value = state_cookie.encode({"SESSION_ID": "urn:uuid:1", "target": "https://idp"}, KEY)
    with pytest.raises(state_cookie.StateCookieError, match="altered"):
        state_cookie.decode(_flip(value, index), KEY)


def test_another_key_is_refused():
    value = state_cookie.encode({"SESSION_ID": "urn:uuid:1"}, KEY)
    with pytest.raises(state_cookie.StateCookieError, match="another key"):
        state_cookie.decode(value, "another key")


@pytest.mark.parametrize("value", ["", "v1.abc", "v2.", "v2.!!!", "v2.AAAA"])
def test_garbage_is_refused(value):
    with pytest.raises(state_cookie.StateCookieError):
        state_cookie.decode(value, KEY)


class _Proxy(StateCookie):
    config = {"COOKIE_STATE_NAME": "SATOSA_STATE", "STATE_ENCRYPTION_KEY": KEY,
              "COOKIE_SECURE": True}  # fmt: skip


class _Resp:
    headers: list


def _context(cookie: str | None) -> Context:
    context = Context()
    context.cookie = cookie
    return context


def _saved(state: State) -> str:
    context, resp = _context(None), _Resp()
    context.state, resp.headers = state, [("Set-Cookie", "SATOSA_STATE=old")]
    _Proxy()._save_state(resp, context)
    [(name, header)] = resp.headers
    assert name == "Set-Cookie"
    assert "Secure" in header and "SameSite=None" in header
    if state.delete:
        assert "Max-Age=0" in header
    return header.split(";", 1)[0]


def test_the_proxy_reads_back_what_it_wrote():
    state = State()
    state["frontend"] = {"requester": "https://app.example/sp"}
    cookie = _saved(state)
    assert cookie.startswith("SATOSA_STATE=v2.")
    context = _context(f"other=1; {cookie}")
    _Proxy()._load_state(context)
    assert context.state.session_id == state.session_id
    assert context.state["frontend"] == {"requester": "https://app.example/sp"}


def test_satosa_s_own_cookie_is_still_read():
    """A login in progress when the proxy is upgraded from stock SATOSA's format."""
    state = State()
    state["frontend"] = {"requester": "https://app.example/sp"}
    cookie = SimpleCookie()
    cookie["SATOSA_STATE"] = state.urlstate(KEY)
    context = _context(cookie.output(header="").strip())
    _Proxy()._load_state(context)
    assert context.state["frontend"] == {"requester": "https://app.example/sp"}


@pytest.mark.parametrize(
    "cookie",
    [
        None,
        "",
        "SATOSA_STATE=v2.AAAA",
        "SATOSA_STATE=junk",
        "unrelated=1",
        'SATOSA_STATE="unterminated',
    ],
)
def test_a_bad_or_missing_cookie_is_a_fresh_state(cookie):
    context = _context(cookie)
    _Proxy()._load_state(context)
    assert context.state.session_id and set(context.state.data) == {"SESSION_ID"}


def test_a_deleted_state_clears_the_cookie():
    state = State()
    state.delete = True
    assert _saved(state) == 'SATOSA_STATE=""'
