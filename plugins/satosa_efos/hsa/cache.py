"""A short-lived, per-process cache of directory answers, so a burst of logins does not hammer HSA.

Monday 07:00 a whole shift logs in, and the commission choice page looks the same person up a
second time: the answer of the first look-up is reused for ``ttl`` seconds (default 60).

What is cached, and what is not:

* a person found, and a person *not* found (both are answers of the directory), per identifier
  as asked (the same person looked up by HSA-id and by personnummer is two entries);
* never :class:`~.model.DirectoryUnavailable`: an outage is not an answer, the next login asks
  again (and gets the outage page within the client's timeout);
* never across processes or a configuration change: the cache is an attribute of one directory
  object, which the HSA micro-service builds from its configuration when the worker starts
  (a configuration change means new workers, so an empty cache).

The cache is bounded (``max_entries``, oldest evicted first) and thread-safe (gunicorn may run
threaded workers).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from .model import Directory, Person, lookup_key

__all__ = ["CachedDirectory"]


class CachedDirectory:
    """A :class:`~.model.Directory` that remembers another directory's answers for a while."""

    def __init__(
        self,
        directory: Directory,
        *,
        ttl: float = 60.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be positive (use the directory itself for no cache)")
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.directory = directory
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], tuple[float, Person | None]] = OrderedDict()
        #: Counters for benchmarks and health pages: answers served from the cache / asked.
        self.hits = 0
        self.misses = 0

    def find_person(
        self,
        *,
        hsa_id: str | None = None,
        personal_identity_number: str | None = None,
        mail: str | None = None,
    ) -> Person | None:
        """The directory's answer for this one identifier, from the cache while it is fresh."""
        key = lookup_key(
            hsa_id=hsa_id, personal_identity_number=personal_identity_number, mail=mail
        )
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > now:
                self.hits += 1
                return entry[1]
            self.misses += 1
        # Ask outside the lock: a slow directory must not hold up look-ups of other people.
        person = self.directory.find_person(**{key[0]: key[1]})
        with self._lock:
            self._entries[key] = (self._clock() + self.ttl, person)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return person

    def clear(self) -> None:
        """Forget every answer."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def close(self) -> None:
        """Close the underlying directory's connections, if it has any."""
        close = getattr(self.directory, "close", None)
        if close is not None:
            close()
