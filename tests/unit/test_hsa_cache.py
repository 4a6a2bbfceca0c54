"""The per-person cache of directory answers (hsa/cache.py) and the directory settings."""

from __future__ import annotations

import threading

import pytest
from pydantic import TypeAdapter, ValidationError

from satosa_efos.hsa import DirectoryUnavailable, InMemoryDirectory
from satosa_efos.hsa.cache import CachedDirectory
from satosa_efos.hsa.settings import DirectorySettings, open_directory

ANNA_PNR = "195006262546"
ANNA_HSA_ID = "SE2321000131-E000000001001"


class Counting:
    """A directory that counts the questions it is asked, and can be made to fail."""

    def __init__(self) -> None:
        self.inner = InMemoryDirectory.from_ldif()
        self.asked = 0
        self.down = False

    def find_person(self, **key):
        self.asked += 1
        if self.down:
            raise DirectoryUnavailable("down")
        return self.inner.find_person(**key)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_second_lookup_within_ttl_does_not_ask_the_directory() -> None:
    directory, clock = Counting(), Clock()
    cache = CachedDirectory(directory, ttl=60, clock=clock)
    first = cache.find_person(personal_identity_number=ANNA_PNR)
    clock.now += 59
    # The same identifier written differently is the same question.
    second = cache.find_person(personal_identity_number="19500626-2546")
    assert first is second and first.hsa_id == ANNA_HSA_ID
    assert directory.asked == 1 and (cache.hits, cache.misses) == (1, 1)


def test_answer_expires_after_ttl() -> None:
    directory, clock = Counting(), Clock()
    cache = CachedDirectory(directory, ttl=60, clock=clock)
    cache.find_person(hsa_id=ANNA_HSA_ID)
    clock.now += 60
    cache.find_person(hsa_id=ANNA_HSA_ID)
    assert directory.asked == 2


def test_not_found_is_an_answer_and_is_cached() -> None:
    directory = Counting()
    cache = CachedDirectory(directory, clock=Clock())
    assert cache.find_person(mail="nobody@vgregion.se") is None
    assert cache.find_person(mail="NOBODY@vgregion.se") is None
    assert directory.asked == 1


def test_outage_is_never_cached() -> None:
    directory = Counting()
    cache = CachedDirectory(directory, clock=Clock())
    directory.down = True
    with pytest.raises(DirectoryUnavailable):
        cache.find_person(hsa_id=ANNA_HSA_ID)
    directory.down = False
    assert cache.find_person(hsa_id=ANNA_HSA_ID).hsa_id == ANNA_HSA_ID
    assert directory.asked == 2


def test_cache_is_bounded_oldest_first() -> None:
    directory = Counting()
    cache = CachedDirectory(directory, max_entries=2, clock=Clock())
    for mail in ("a@x.se", "b@x.se", "c@x.se"):
        cache.find_person(mail=mail)
    assert len(cache) == 2
    cache.find_person(mail="c@x.se")  # still there
    cache.find_person(mail="a@x.se")  # evicted: asked again
    assert directory.asked == 4


def test_bad_identifier_is_refused_before_the_directory_is_asked() -> None:
    directory = Counting()
    cache = CachedDirectory(directory)
    with pytest.raises(ValueError):
        cache.find_person(personal_identity_number="195006262547")  # wrong check digit
    assert directory.asked == 0


def test_concurrent_lookups_are_safe() -> None:
    cache = CachedDirectory(Counting(), max_entries=5)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(200):
                cache.find_person(mail=f"p{(n * 7 + i) % 20}@x.se")
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(cache) <= 5


SETTINGS = TypeAdapter(DirectorySettings)


def test_settings_default_timeout_and_cache() -> None:
    ldap = SETTINGS.validate_python({"type": "ldap", "urls": ["ldaps://hsa.example.se"]})
    assert ldap.timeout == 3.0 and ldap.cache_seconds == 60


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"type": "ldap", "urls": ["http://hsa"]}, "not an ldap://"),
        ({"type": "ldap", "urls": []}, "at least 1"),
        ({"type": "ldap", "urls": ["ldap://h"], "timeout": 0}, "greater than 0"),
        ({"type": "riv", "url": "http://x", "logical_address": "a"}, "https"),
        ({"type": "memory", "ldif": None, "colour": "red"}, "Extra inputs"),
        ({"type": "x500"}, "does not match any of the expected tags"),
    ],
)
def test_settings_errors_say_what_is_wrong(config: dict, fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        SETTINGS.validate_python(config)


def test_open_directory_caches_unless_told_not_to() -> None:
    cached = open_directory(SETTINGS.validate_python({"type": "memory"}))
    assert isinstance(cached, CachedDirectory)
    plain = open_directory(SETTINGS.validate_python({"type": "memory", "cache_seconds": 0}))
    assert not isinstance(plain, CachedDirectory)
    assert isinstance(plain.directory, InMemoryDirectory)  # timed for the metrics, not cached
    assert plain.find_person(hsa_id=ANNA_HSA_ID).given_name == "Anna"


@pytest.mark.parametrize("secret", [{"bind_dn": "cn=x,c=SE"}, {"bind_dn": "cn=x", "password": ""},
                                    {"password": "s3cret"}])  # fmt: skip
def test_ldap_bind_needs_dn_and_non_empty_password_together(secret: dict) -> None:
    with pytest.raises(ValidationError, match="go together"):
        SETTINGS.validate_python({"type": "ldap", "urls": ["ldap://h"], **secret})
