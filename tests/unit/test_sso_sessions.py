"""SSO sessions: the reuse rules (DOMAIN.md §5) and both stores, SQLite and a real Redis."""

from __future__ import annotations

import multiprocessing
import time

import pytest
from helpers.redis import RedisServer

from satosa_efos.sessions.sso import (
    Participant,
    Reuse,
    SsoSession,
    UpstreamSession,
    new_session_id,
    reuse_decision,
    session_key,
)
from satosa_efos.sessions.store import (
    SqliteSessionStore,
    StoreUnavailable,
    open_store,
)

NOW = 1_800_000_000.0


def session(**changes) -> SsoSession:
    values = dict(
        session_id=new_session_id(), organisation="goteborg", method="own_idp",
        upstream="https://idp.goteborg.se", loa="loa3", authn_instant=NOW, created=NOW,
        last_seen=NOW, idle_timeout=1800, absolute_timeout=36000, subject_id="abc",
        attributes={"givenName": ["Eva"]},
    )  # fmt: skip
    values.update(changes)
    return SsoSession(**values)


# -- reuse rules -----------------------------------------------------------------------------


def test_live_session_at_the_same_loa_is_reused():
    assert reuse_decision(session(), now=NOW + 60, accepted_loas=["loa3"]) is Reuse.REUSE


@pytest.mark.parametrize(
    ("changes", "kwargs", "reason"),
    [
        ({}, {"now": NOW + 1801}, Reuse.EXPIRED),  # idle 30 min
        ({"last_seen": NOW + 36000 - 10}, {"now": NOW + 36000}, Reuse.EXPIRED),  # absolute 10 h
        ({}, {"force_authn": True}, Reuse.FORCE_AUTHN),
        ({}, {"max_age": 30, "now": NOW + 31}, Reuse.MAX_AGE),
        ({"loa": "loa4"}, {}, Reuse.DIFFERENT_LOA),  # exact: a stronger one is not "the same"
        ({}, {"accepted_loas": ["loa2"]}, Reuse.DIFFERENT_LOA),
        ({}, {"allowed_organisations": ["boras"]}, Reuse.ORGANISATION_NOT_ALLOWED),
    ],
)
def test_reasons_for_a_new_login(changes, kwargs, reason):
    arguments = {"now": NOW + 60, "accepted_loas": ["loa3"], **kwargs}
    assert reuse_decision(session(**changes), **arguments) is reason


def test_no_session_means_a_login():
    assert reuse_decision(None, now=NOW, accepted_loas=["loa3"]) is Reuse.NO_SESSION


def test_session_id_is_random_and_stored_only_as_a_hash():
    ids = {new_session_id() for _ in range(100)}
    assert len(ids) == 100 and all(len(i) >= 43 for i in ids)
    s = session()
    assert s.key == session_key(s.session_id) != s.session_id
    assert s.session_id not in str(s.to_dict())


def test_participants_one_entry_per_application():
    s = session()
    s.add_participant(Participant("saml", "https://a/sp", name_id="n1", session_index="i1"))
    s.add_participant(Participant("oidc", "client-b", sid="s1"))
    s.add_participant(Participant("saml", "https://a/sp", name_id="n1", session_index="i2"))
    assert [(p.application, p.session_index) for p in s.participants] == [
        ("client-b", None), ("https://a/sp", "i2")]  # fmt: skip


# -- stores ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    with RedisServer(tmp_path_factory.mktemp("redis"), password="test-only-password") as server:
        yield server


@pytest.fixture(params=["sqlite", "redis"])
def store(request, tmp_path, redis):
    if request.param == "sqlite":
        return open_store("sqlite:sso.sqlite3", base_dir=tmp_path)
    return open_store(redis.url)


def live(**changes) -> SsoSession:
    now = time.time()
    return session(created=now, last_seen=now, authn_instant=now, **changes)


def test_saved_session_loads_with_its_participants(store):
    s = live()
    s.add_participant(Participant("saml", "https://a/sp", name_id="n", session_index="x"))
    store.save(s)
    loaded = store.load(s.session_id)
    assert loaded == s
    assert store.load(new_session_id()) is None


UPSTREAM = UpstreamSession(
    backend="orgidp",
    name_id="3f1c9a",
    name_id_format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    name_qualifier="https://idp.goteborg.se",
    sp_name_qualifier="https://login.vgregion.se/metadata/sp.xml",
    session_index="_a7e2",
)


def test_saved_session_keeps_the_upstream_nameid_and_session_index(store):
    s = live(upstream_session=UPSTREAM)
    store.save(s)
    loaded = store.load(s.session_id)
    assert loaded.upstream_session == UPSTREAM
    assert loaded == s
    # ... and still after an application is added (the read-modify-write path).
    after = store.add_participant(s.session_id, Participant("saml", "https://a/sp", name_id="n"))
    assert after.upstream_session == UPSTREAM
    assert store.load(s.session_id).upstream_session == UPSTREAM


def test_a_session_recorded_before_the_upstream_fields_still_loads():
    old = live().to_dict()
    del old["upstream_session"]  # as an earlier version wrote it
    loaded = SsoSession.from_dict("sid", old)
    assert loaded.upstream_session is None and loaded.organisation == "goteborg"
    # A field from a newer version is ignored rather than refused (rolling upgrades).
    newer = dict(live(upstream_session=UPSTREAM).to_dict(), later_field=1)
    newer["upstream_session"] = dict(newer["upstream_session"], later_too=2)
    newer["participants"] = [{"protocol": "saml", "application": "https://a/sp", "extra": 3}]
    loaded = SsoSession.from_dict("sid", newer)
    assert loaded.upstream_session == UPSTREAM
    assert loaded.participants == [Participant("saml", "https://a/sp")]


def test_delete_ends_the_session(store):
    s = live()
    store.save(s)
    store.delete(s.session_id)
    assert store.load(s.session_id) is None


def test_expired_session_is_not_loaded(store):
    s = live(idle_timeout=1)
    store.save(s)
    assert store.load(s.session_id) is not None
    time.sleep(1.2)
    assert store.load(s.session_id) is None


def _write_in_other_process(path: str, session_id: str) -> None:
    SqliteSessionStore(path).save(live(session_id=session_id))


def test_sqlite_sessions_are_shared_by_processes(tmp_path):
    path = str(tmp_path / "sso.sqlite3")
    sid = new_session_id()
    process = multiprocessing.get_context("spawn").Process(
        target=_write_in_other_process, args=(path, sid)
    )
    process.start()
    process.join(30)
    assert SqliteSessionStore(path).load(sid).organisation == "goteborg"


def test_redis_is_shared_by_two_nodes(redis):
    s = live()
    open_store(redis.url).save(s)
    assert open_store(redis.url).load(s.session_id) == s


def test_redis_record_expires_with_the_session(redis):
    s = live(idle_timeout=1)
    store = open_store(redis.url)
    store.save(s)
    time.sleep(1.3)
    assert store.count() == 0 or store.load(s.session_id) is None


def test_redis_wrong_password_is_unavailable_without_the_password_in_the_message(redis):
    store = open_store(redis.url.replace("test-only-password", "wrong"))
    with pytest.raises(StoreUnavailable) as refused:
        store.load(new_session_id())
    assert "wrong" not in str(refused.value) and "***" in str(refused.value)


def test_stopped_or_paused_redis_is_unavailable_within_the_timeout(tmp_path):
    with RedisServer(tmp_path / "r") as server:
        store = open_store(server.url, timeout=0.5)
        store.save(live())
        server.pause()
        start = time.monotonic()
        with pytest.raises(StoreUnavailable):
            store.load(new_session_id())
        assert time.monotonic() - start < 1.5
        server.resume()
        store.ping()
        server.stop()
        with pytest.raises(StoreUnavailable):
            store.save(live())


def test_unusable_sqlite_path_is_unavailable(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreUnavailable):
        open_store("sqlite:file/sso.sqlite3", base_dir=tmp_path)


@pytest.mark.parametrize("uri", ["sqlite:", "memcached://h", "postgres://u:secret@h/db"])
def test_unknown_store_uri_is_refused_clearly(uri):
    with pytest.raises(ValueError) as refused:
        open_store(uri)
    assert "secret" not in str(refused.value)
