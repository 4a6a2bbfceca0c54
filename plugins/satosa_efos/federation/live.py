"""A verified federation aggregate as a pysaml2 metadata source, kept fresh per worker.

How the pieces meet (docs/metadata.md, "Refresh"):

- ``satosa-efos metadata fetch`` (a timer, one per node) downloads the aggregate, verifies it and
  replaces the file atomically; it never writes a file that did not verify.
- Every gunicorn worker holds one :class:`FederationMetadata` per configured aggregate, parsed
  once (DESIGN.md §6), and a daemon thread that looks at the file's inode, size and mtime every
  ``check_interval`` seconds. A changed file is verified again (never trust the file system
  more than the network) and parsed off the request path, then swapped in with one assignment.
  A file that fails (bad signature, expired, unreadable, unparsable) leaves the last good copy in
  use, is logged and audited once, and is looked at again only when it changes.
- Expiry is checked on every look-up, not by the thread: once the loaded aggregate's
  ``validUntil`` (or an entity's own, earlier one) has passed, its entities are simply not
  there, so pysaml2 treats them as unknown and the login is refused with a page, while every
  other metadata source and the proxy itself keep working.

The thread is started lazily in the process that uses the source, so a gunicorn ``--preload``
master that forks workers still gets one watcher per worker.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saml2.mdstore import InMemoryMetaData, MetadataStore

from satosa_efos.audit import audit
from satosa_efos.federation.settings import FederationSource
from satosa_efos.xmlsec.metadata import Aggregate, MetadataRejected, verify_aggregate_file

logger = logging.getLogger(__name__)

Stamp = tuple[int, int, int]


def _stamp(path: Path) -> Stamp:
    info = path.stat()
    return info.st_ino, info.st_size, info.st_mtime_ns


@dataclass(frozen=True)
class _Loaded:
    aggregate: Aggregate
    entities: dict[str, Any]
    stamp: Stamp
    #: Epoch seconds after which an entity is gone (the root's validUntil unless earlier).
    until: float
    entity_until: dict[str, float]


class FederationMetadata(InMemoryMetaData):
    """pysaml2 reads ``self.entity`` (and ``self[...]``) for everything; here that is a view
    of the last good aggregate that leaves out whatever has expired."""

    def __init__(
        self,
        attrc: Any,
        source: FederationSource,
        base_dir: Path = Path("."),
        *,
        clock: Callable[[], float] = time.time,
        watch: bool = True,
    ) -> None:
        super().__init__(attrc, metadata="")
        self.file = Path(base_dir) / source.file
        self.signer_cert = Path(base_dir) / source.signer_cert
        self.interval = source.check_interval
        self._clock = clock
        self._loaded: _Loaded | None = None
        self._view: tuple[dict[str, Any], float | None] = ({}, None)
        self._refused: Stamp | None = None
        self._unreadable: str | None = None
        self._expired_logged: Stamp | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher_pid: int | None = None if watch else -1
        self.refresh()

    # -- what pysaml2 sees ------------------------------------------------------------------

    @property
    def entity(self) -> dict[str, Any]:  # type: ignore[override]
        self._ensure_watcher()
        entities, next_change = self._view
        if next_change is not None and self._clock() >= next_change:
            with self._lock:
                self._view = self._compute_view(self._loaded)
            entities = self._view[0]
        return entities

    @entity.setter
    def entity(self, value: dict[str, Any]) -> None:
        """InMemoryMetaData.__init__ assigns ``{}``; the contents only come from :meth:`refresh`."""

    @property
    def aggregate(self) -> Aggregate | None:
        """The last good aggregate (also when it has expired since)."""
        return self._loaded.aggregate if self._loaded else None

    def _compute_view(self, loaded: _Loaded | None) -> tuple[dict[str, Any], float | None]:
        if loaded is None:
            return {}, None
        now = self._clock()
        if now >= loaded.until:
            if self._expired_logged != loaded.stamp:
                self._expired_logged = loaded.stamp
                self._report(
                    "federation_metadata_expired",
                    logging.ERROR,
                    f"{len(loaded.entities)} entities are unknown until a fresh copy arrives",
                    valid_until=loaded.aggregate.valid_until.isoformat(),
                    entities=len(loaded.entities),
                )
            return {}, None
        if not loaded.entity_until:
            return loaded.entities, loaded.until
        visible = {
            entity_id: data
            for entity_id, data in loaded.entities.items()
            if loaded.entity_until.get(entity_id, loaded.until) > now
        }
        later = [t for t in loaded.entity_until.values() if t > now]
        return visible, min([loaded.until, *later])

    # -- loading ------------------------------------------------------------------------------

    def refresh(self) -> bool:
        """Load the file if it changed and verifies; True when a new copy is in use.

        Never raises: a failure keeps the previous copy (or none, at start) and is reported.
        """
        try:
            stamp = _stamp(self.file)
        except OSError as exc:
            if self._unreadable != exc.strerror:
                self._unreadable = exc.strerror
                self._report("federation_metadata_refused", logging.ERROR,
                             f"cannot be read: {exc.strerror}")  # fmt: skip
            return False
        self._unreadable = None
        if (self._loaded and stamp == self._loaded.stamp) or stamp == self._refused:
            return False
        now = self._clock()
        try:
            aggregate = verify_aggregate_file(
                self.file, self.signer_cert, now=dt.datetime.fromtimestamp(now, dt.UTC)
            )
            parser = InMemoryMetaData(self.attrc, aggregate.text)
            parser.load()
            if aggregate.entity_ids and not parser.entity:
                raise MetadataRejected("verifies, but pysaml2 could not use any of its entities")
        except Exception as exc:  # MetadataRejected, or pysaml2 refusing the document
            self._refused = stamp
            self._report("federation_metadata_refused", logging.ERROR, str(exc))
            return False
        loaded = _Loaded(
            aggregate,
            dict(parser.entity),
            stamp,
            aggregate.valid_until.timestamp(),
            {e: t.timestamp() for e, t in aggregate.entity_expiry.items()},
        )
        with self._lock:
            self._loaded, self._refused = loaded, None
            self._view = self._compute_view(loaded)
        self._report(
            "federation_metadata_loaded",
            logging.INFO,
            f"{len(loaded.entities)} entities, valid until {aggregate.valid_until.isoformat()}",
            entities=len(loaded.entities),
            valid_until=aggregate.valid_until.isoformat(),
            sha256=aggregate.sha256,
        )
        return True

    def _report(self, event: str, level: int, message: str, **fields: object) -> None:
        kept = self._loaded.aggregate.sha256 if self._loaded else None
        if event == "federation_metadata_refused":
            message += f"; {'keeping the last good copy' if kept else 'no copy in use'}"
            fields["kept_sha256"] = kept
        logger.log(level, "federation metadata %s: %s", self.file, message,
                   extra={"error_code": event} if level >= logging.WARNING else None)  # fmt: skip
        audit(event, file=str(self.file), detail=message, **fields)

    # -- the watcher thread -----------------------------------------------------------------

    def _ensure_watcher(self) -> None:
        pid = self._watcher_pid
        if pid == -1 or pid == os.getpid():
            return
        with self._lock:
            if self._watcher_pid == os.getpid():
                return
            self._watcher_pid = os.getpid()
            threading.Thread(target=self._watch, args=(os.getpid(),), daemon=True,
                             name=f"federation-metadata {self.file.name}").start()  # fmt: skip

    def _watch(self, pid: int) -> None:
        while not self._stop.wait(self.interval) and self._watcher_pid == pid:
            try:
                self.refresh()
            except Exception:  # the watcher must outlive any surprise
                logger.exception("federation metadata %s: refresh failed", self.file)

    def close(self) -> None:
        """Stop the watcher (tests; a worker's daemon thread ends with the worker)."""
        self._stop.set()


def attach_federation(
    store: MetadataStore, sources: Iterable[FederationSource | dict], base_dir: Path = Path(".")
) -> list[FederationMetadata]:
    """Add one live source per aggregate to a pysaml2 metadata store (an SP's or an IdP's)."""
    attached = []
    for source in sources:
        if not isinstance(source, FederationSource):
            source = FederationSource.model_validate(source)
        live = FederationMetadata(store.attrc, source, base_dir)
        store.metadata[f"federation:{live.file}"] = live
        attached.append(live)
    return attached


def knows(store: MetadataStore, entity_id: str) -> bool:
    """Whether any source of ``store`` describes ``entity_id`` now (a look-up per source, not a
    scan of every entity as ``entity_id in store.keys()`` would be)."""
    return any(entity_id in source for source in store.metadata.values())
