"""A loaded aggregate in a worker: refreshed when its file changes, kept when a refresh fails,
and its entities gone (unknown to pysaml2) once it expires, while other metadata still works."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time

import pytest
from helpers.aggregate import build_aggregate
from saml2 import BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig

from satosa_efos.federation.live import FederationMetadata, attach_federation, knows
from satosa_efos.federation.settings import FederationSource
from satosa_efos.keys import ensure_keypair
from satosa_efos.simulators import demo_idp

ONE, TWO, THREE = (f"https://{n}.example.se/idp" for n in ("one", "two", "three"))


class Clock:
    def __init__(self):
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fed(tmp_path):
    signer_key, signer_cert = ensure_keypair(tmp_path, "signer", "Test federation")
    entities = {}
    for name in ("one", "two", "three", "local"):
        key, cert = ensure_keypair(tmp_path, name, name)
        entities[name] = demo_idp.write_metadata(f"https://{name}.example.se", key, cert,
                                                 tmp_path / "entities" / f"{name}.xml")  # fmt: skip

    class Fed:
        dir = tmp_path
        cert = signer_cert
        file = tmp_path / "federation" / "sambi.xml"

        def publish(self, *names: str, **kwargs) -> bytes:
            """Build an aggregate and put it in place the way `metadata fetch` does."""
            built = build_aggregate([entities[n] for n in names], signer_key,
                                    tmp_path / "build.xml", **kwargs)  # fmt: skip
            self.file.parent.mkdir(exist_ok=True)
            os.replace(built, self.file)
            return self.file.read_bytes()

        def source(self, **kwargs) -> FederationSource:
            return FederationSource(file=str(self.file), signer_cert=str(signer_cert), **kwargs)

        local = entities["local"]

    return Fed()


def live(fed, clock=None, **kwargs) -> FederationMetadata:
    from saml2.attribute_converter import ac_factory

    return FederationMetadata(ac_factory(), fed.source(**kwargs), clock=clock or time.time,
                              watch=False)  # fmt: skip


def audit_events(caplog) -> list[str]:
    return [json.loads(r.getMessage())["event"] for r in caplog.records
            if r.name == "satosa_efos.audit"]  # fmt: skip


def test_a_good_aggregate_loads(fed):
    fed.publish("one", "two")
    source = live(fed)
    assert ONE in source and TWO in source and THREE not in source
    assert source.service(ONE, "idpsso_descriptor", "single_sign_on_service",
                          BINDING_HTTP_REDIRECT)  # fmt: skip


def test_a_changed_file_is_loaded_at_the_next_refresh(fed):
    fed.publish("one")
    source = live(fed)
    assert not source.refresh()  # unchanged: nothing to do
    fed.publish("one", "three")
    assert source.refresh()
    assert THREE in source


@pytest.mark.parametrize("failure", ["tampered", "expired", "removed", "garbage"])
def test_a_failed_refresh_keeps_the_last_good_copy(fed, failure, caplog):
    good = fed.publish("one", "two")
    source = live(fed)
    caplog.set_level(logging.INFO)
    if failure == "tampered":
        fed.file.write_bytes(good.replace(b"https://two.example.se/idp/sso", b"https://x/sso"))
    elif failure == "expired":
        fed.publish("one", "two", "three", valid_for=dt.timedelta(seconds=-1))
    elif failure == "removed":
        fed.file.unlink()
    else:
        fed.file.write_bytes(b"<not-xml")
    assert not source.refresh()
    assert ONE in source and TWO in source and THREE not in source
    assert source.aggregate.data == good
    assert audit_events(caplog) == ["federation_metadata_refused"]
    assert "keeping the last good copy" in caplog.text
    assert not source.refresh()  # the same bad file is reported once, not every interval
    assert audit_events(caplog) == ["federation_metadata_refused"]


def test_an_expired_aggregate_makes_its_entities_unknown(fed, caplog):
    fed.publish("one", "two", valid_for=dt.timedelta(hours=1))
    clock = Clock()
    source = live(fed, clock)
    assert ONE in source
    clock.now += 3601
    caplog.set_level(logging.INFO)
    assert ONE not in source and TWO not in source
    assert source.keys() == {}.keys()
    assert audit_events(caplog) == ["federation_metadata_expired"]
    fed.publish("one", "two", valid_for=dt.timedelta(hours=5))
    assert source.refresh()  # a fresh copy brings them back
    assert ONE in source


def test_an_entity_expires_on_its_own_valid_until(fed):
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = fed.local.read_text()  # "local" becomes a short-lived entity of the aggregate
    fed.local.write_text(text.replace('entityID="', f'validUntil="{soon}" entityID="', 1))
    fed.publish("one", "local", valid_for=dt.timedelta(days=1))
    clock = Clock()
    source = live(fed, clock)
    assert "https://local.example.se/idp" in source
    clock.now += 601
    assert "https://local.example.se/idp" not in source and ONE in source


def test_a_start_with_an_expired_file_runs_with_no_entities(fed, caplog):
    fed.publish("one", valid_for=dt.timedelta(seconds=-1))
    caplog.set_level(logging.INFO)
    source = live(fed)
    assert len(source) == 0
    assert "no copy in use" in caplog.text


def test_the_watcher_thread_picks_up_a_new_file(fed):
    from saml2.attribute_converter import ac_factory

    fed.publish("one")
    source = FederationMetadata(ac_factory(), fed.source(check_interval=0.1))
    try:
        assert THREE not in source  # the first look-up starts the watcher
        fed.publish("one", "three")
        deadline = time.monotonic() + 10
        while THREE not in source and time.monotonic() < deadline:
            time.sleep(0.05)
        assert THREE in source
    finally:
        source.close()


def test_in_a_pysaml2_sp_an_expired_idp_is_unknown_and_a_local_one_still_works(fed, tmp_path):
    fed.publish("one", valid_for=dt.timedelta(hours=1))
    key, cert = ensure_keypair(tmp_path, "sp", "sp")
    config = SPConfig().load({
        "entityid": "https://proxy.example.se/sp",
        "key_file": str(key), "cert_file": str(cert),
        "metadata": {"local": [str(fed.local)]},
        "service": {"sp": {"endpoints": {"assertion_consumer_service": [
            ("https://proxy.example.se/acs", "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST")]}}},
    })  # fmt: skip
    client = Saml2Client(config)
    clock = Clock()
    (source,) = attach_federation(client.metadata, [fed.source()])
    source._clock = clock
    source.close()
    assert knows(client.metadata, ONE) and knows(client.metadata, "https://local.example.se/idp")
    client.prepare_for_negotiated_authenticate(entityid=ONE)
    clock.now += 3601
    assert not knows(client.metadata, ONE)
    assert knows(client.metadata, "https://local.example.se/idp")
    with pytest.raises(Exception):  # noqa: B017 (pysaml2 raises its own kinds)
        client.prepare_for_negotiated_authenticate(entityid=ONE)
    client.prepare_for_negotiated_authenticate(entityid="https://local.example.se/idp")


def test_the_federation_benchmark_runs(capsys):
    """tests/bench/bench_federation.py keeps working (a smoke run; figures are not asserted)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "bench_federation.py"
    spec = importlib.util.spec_from_file_location("bench_federation", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    figures = module.main(["--entities", "20", "--repeat", "1"])
    assert "load total (ours)" in figures
    assert "ratio (ours / stock)" in capsys.readouterr().out
