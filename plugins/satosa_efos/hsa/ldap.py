"""An HSA directory client over LDAP (ldap3), for a regional or local copy of HSA.

It answers exactly like :class:`~.memory.InMemoryDirectory`: the same one-identifier rule and
normalisation (:func:`~.model.lookup_key`), the same entry-to-model mapping
(:func:`~.ldif.person_from_entry`, shared with the LDIF reader), feigned people not found unless
``include_feigned``. What it adds is what a network brings, and the rule for it is DESIGN.md §6-7:
an outage is :class:`~.model.DirectoryUnavailable`, never "person not found", and it is
reported within ``timeout`` per server tried, so a login page does not hang on a dead directory.

Two look-ups per person: the person by one indexed identifier, then the commission entries
naming that person (by DN or HSA-id) in ``hsaCommissionMember``. Commissions come back sorted by
HSA-id: LDAP does not define the order of search results (RFC 4511 §4.5.2), and the commission
choice page should not change order when a server is rebuilt. Where the server, not this code,
decides, it is stricter than the LDIF reader in two corners: a person needs objectClass
``hsaPerson`` (the reader also guesses from the attributes), and a member DN must be written as
the server spells the person's DN, give or take case (the reader also ignores spaces around
``,`` and ``=``).

Connections are pooled per process (thread-safe, created lazily, at most ``pool_size``) and bound
once. A pooled connection found dead (the server restarted) is replaced and the look-up retried
once; a server that times out or refuses is marked down for a while so the next connections go
to the next URL. A connection stays with the server it was opened to until it fails, so after a
failover the first URL gets traffic again only as connections are replaced.

Failover is done here rather than by ldap3's ``ServerPool``: in ldap3 2.9 a pool in which no
server answers sleeps ``POOLING_LOOP_TIMEOUT`` (10 s, a process-wide setting) before giving up,
its availability check is a bare TCP connect that a hung server passes, and its state is shared
between connections without a lock.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

import ldap3
from ldap3.core.exceptions import LDAPException, LDAPSessionTerminatedByServerError
from ldap3.core.tls import Tls
from ldap3.utils.conv import escape_filter_chars

from .ldif import COMMISSION_ATTRIBUTES, PERSON_ATTRIBUTES, LdifEntry, person_from_entry
from .model import DirectoryUnavailable, HsaDataError, Person, lookup_key

__all__ = ["LdapDirectory"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: lookup_key's kinds, as LDAP attributes and as words for error messages.
_ATTRIBUTE = {
    "hsa_id": "hsaIdentity",
    "personal_identity_number": "personalIdentityNumber",
    "mail": "mail",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_WORD = {"hsa_id": "HSA-id", "personal_identity_number": "personnummer", "mail": "mail"}

# RFC 4511 §4.1.9 result codes that say "this server, not the query": try another one.
_TIME_LIMIT_EXCEEDED = 3
_SIZE_LIMIT_EXCEEDED = 4
_NO_SUCH_OBJECT = 32
_SERVER_TROUBLE = {3, 11, 51, 52, 53, 80}  # timeLimit, adminLimit, busy, unavailable, unwilling


class _VerifiedTls(Tls):
    """ldap3's TLS settings, but verified by OpenSSL itself: CERT_REQUIRED, host name, TLS ≥ 1.2.

    ldap3 2.9 turns ``SSLContext.check_hostname`` off and compares names itself with
    ``ssl.match_hostname``, deprecated and removed in Python 3.12, whose bundled replacement
    refuses IP addresses. One context is built here and shared (wrapping is thread-safe).
    """

    def __init__(self, ca_file: str | None) -> None:
        super().__init__(validate=ssl.CERT_REQUIRED)
        try:
            self.context = ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as error:
            raise ValueError(f"ca_file {ca_file!r} cannot be used: {error}") from error
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.context.check_hostname = True
        self.context.verify_mode = ssl.CERT_REQUIRED

    def wrap_socket(self, connection: ldap3.Connection, do_handshake: bool = False) -> None:
        connection.socket = self.context.wrap_socket(
            connection.socket,
            server_side=False,
            do_handshake_on_connect=do_handshake,
            server_hostname=connection.server.host,
        )


class _Failure(Exception):
    """One server could not answer one attempt. Internal: turned into DirectoryUnavailable.

    ``retry``: another attempt on a fresh connection may help (a dead pooled connection, a
    timeout or a busy server when there is another URL). ``server_down``: mark the server down
    and do not try it again in this look-up.
    """

    def __init__(self, url: str, what: str, *, retry: bool, server_down: bool) -> None:
        super().__init__(f"LDAP {url}: {what}")
        self.retry = retry
        self.server_down = server_down


@dataclass
class _Pooled:
    connection: ldap3.Connection
    server: int  # index into LdapDirectory.urls
    opened: float  # time.monotonic() when bound
    fresh: bool = True  # not yet returned to the pool once


class LdapDirectory:
    """A :class:`~.model.Directory` over LDAP, for one or more servers holding the same data.

    ``urls`` are tried in order (``ldap://`` or ``ldaps://``); ``timeout`` bounds the connect,
    every receive and the server-side time limit, and so one attempt on one server.
    ``bind_dn``/``password`` together or neither (anonymous); a DN without a password would be
    an "unauthenticated bind" that most servers treat as anonymous, so it is refused. TLS
    (``ldaps://`` or ``start_tls``) always verifies the server certificate and name, against
    ``ca_file`` or else the system's trust store.
    """

    #: A server that failed is tried last for this many seconds (first if no other answers).
    RETRY_DOWN_SERVER_AFTER = 30.0

    def __init__(
        self,
        urls: Sequence[str] | str,
        *,
        base: str = "c=SE",
        bind_dn: str | None = None,
        password: str | None = None,
        timeout: float = 3.0,
        ca_file: str | None = None,
        start_tls: bool = False,
        pool_size: int = 4,
        include_feigned: bool = False,
    ) -> None:
        self.urls = tuple([urls] if isinstance(urls, str) else urls)
        if not self.urls:
            raise ValueError("LdapDirectory needs at least one URL")
        schemes = [_scheme(url) for url in self.urls]
        if start_tls and "ldaps" in schemes:
            raise ValueError("start_tls is for ldap:// URLs; ldaps:// is TLS already")
        uses_tls = start_tls or "ldaps" in schemes
        if ca_file is not None and not uses_tls:
            raise ValueError("ca_file is only used with ldaps:// URLs or start_tls")
        if (bind_dn is None) != (password is None) or password == "":
            raise ValueError("give bind_dn and a non-empty password together, or neither")
        if not timeout > 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        if pool_size < 1:
            raise ValueError(f"pool_size must be at least 1, got {pool_size}")
        self.base = base
        self.bind_dn = bind_dn
        self._password = password
        self.timeout = float(timeout)
        self.start_tls = start_tls
        self.pool_size = pool_size
        self.include_feigned = include_feigned
        self._tls = _VerifiedTls(ca_file) if uses_tls else None
        self._slots = threading.BoundedSemaphore(pool_size)
        self._lock = threading.Lock()
        self._idle: list[_Pooled] = []
        self._down_since: dict[int, float] = {}
        self._pid = os.getpid()

    def __repr__(self) -> str:
        who = self.bind_dn or "anonymous"
        return f"<LdapDirectory {', '.join(self.urls)} base={self.base!r} as {who}>"

    # ------------------------------------------------------------------------- look-up

    def find_person(
        self,
        *,
        hsa_id: str | None = None,
        personal_identity_number: str | None = None,
        mail: str | None = None,
    ) -> Person | None:
        """Return the person with this one identifier, or None (see ``model.lookup_key``).

        Raises ``ValueError`` for a malformed query, :class:`~.model.HsaDataError` for data the
        model refuses or an identifier shared by two people, and
        :class:`~.model.DirectoryUnavailable` when no server answered in time.
        """
        kind, value = lookup_key(
            hsa_id=hsa_id, personal_identity_number=personal_identity_number, mail=mail
        )
        if _CONTROL.search(value):
            # slapd ends an assertion value at a NUL when normalising (a mail "a@b\x00x" found
            # a@b); nobody's identifier holds control characters, so nobody is found, as in
            # the in-memory directory, without asking the server.
            return None
        return self._with_connection(lambda session: self._find(session, kind, value))

    def _find(self, session: _Session, kind: str, value: str) -> Person | None:
        search = f"(&(objectClass=hsaPerson)({_ATTRIBUTE[kind]}={escape_filter_chars(value)}))"
        found, truncated = session.search(search, PERSON_ATTRIBUTES, size_limit=2)
        if kind == "hsa_id":
            # The model keeps the case of the suffix (normalise_hsa_id only upper-cases "SE"),
            # as the in-memory directory does; the server's caseIgnoreMatch does not.
            found = [entry for entry in found if _same_hsa_id(_hsa_id_of(entry), value)]
        if len(found) > 1 or truncated:
            # Name the people by HSA-id only: the value looked up may be a personnummer.
            ids = ", ".join(sorted(_hsa_id_of(entry) for entry in found)) or "unknown"
            raise HsaDataError(
                f"LDAP {session.url}: more than one person has this {_WORD[kind]} ({ids})"
            )
        if not found:
            return None
        entry = found[0]
        source = f"LDAP {session.url}"
        person = person_from_entry(entry, source=source)
        if person.feigned and not self.include_feigned:
            return None
        members = (escape_filter_chars(entry[0]), escape_filter_chars(person.hsa_id))
        search = (
            "(&(objectClass=hsaCommission)"
            f"(|(hsaCommissionMember={members[0]})(hsaCommissionMember={members[1]})))"
        )
        commissions, truncated = session.search(search, COMMISSION_ATTRIBUTES, size_limit=0)
        if truncated:
            raise HsaDataError(
                f"{source}: {person.hsa_id} holds more commissions than the server returns"
            )
        person = person_from_entry(entry, commissions, source=source)
        ordered = tuple(sorted(person.commissions, key=lambda commission: commission.hsa_id))
        return dataclasses.replace(person, commissions=ordered)

    # --------------------------------------------------------------------- connections

    def _with_connection(self, operation: Callable[[_Session], T]) -> T:
        """Run ``operation`` on a pooled or new connection; at most one retry on a fresh one."""
        if not self._slots.acquire(timeout=self.timeout):
            raise DirectoryUnavailable(
                f"LDAP: all {self.pool_size} connections busy for {self.timeout} s"
            )
        try:
            failures: list[_Failure] = []
            excluded: set[int] = set()
            pooled = self._checkout()
            deadline = time.monotonic() + self.timeout
            for attempt in (1, 2):
                if pooled is None:
                    pooled, deadline = self._open(excluded, failures)
                try:
                    result = operation(_Session(self, pooled, deadline))
                except _Failure as failure:
                    self._discard(pooled)
                    failures.append(failure)
                    if failure.server_down:
                        self._mark_down(pooled.server, failure)
                        excluded.add(pooled.server)
                    if attempt == 2 or not failure.retry:
                        break
                    pooled = None
                    continue
                except HsaDataError:
                    self._checkin(pooled)  # the data is wrong, the connection is fine
                    raise
                except BaseException:
                    self._discard(pooled)
                    raise
                self._checkin(pooled)
                return result
            raise DirectoryUnavailable("; ".join(str(failure) for failure in failures))
        finally:
            self._slots.release()

    def _checkout(self) -> _Pooled | None:
        """The most recently used idle connection still worth trying, or None."""
        stale: list[_Pooled] = []
        found = None
        with self._lock:
            if os.getpid() != self._pid:
                # A forked worker must not use (or shut down) its parent's sockets.
                self._idle.clear()
                self._pid = os.getpid()
            while self._idle and found is None:
                pooled = self._idle.pop()
                down = self._down_since.get(pooled.server)
                if not pooled.connection.closed and (down is None or down < pooled.opened):
                    found = pooled
                else:
                    stale.append(pooled)  # its server failed since: do not wait on it again
        for pooled in stale:
            _close(pooled.connection)
        return found

    def _checkin(self, pooled: _Pooled) -> None:
        pooled.fresh = False
        with self._lock:
            self._idle.append(pooled)

    def _discard(self, pooled: _Pooled) -> None:
        _close(pooled.connection)

    def _mark_down(self, server: int, failure: _Failure) -> None:
        logger.warning("HSA directory server unavailable: %s", failure)
        with self._lock:
            self._down_since[server] = time.monotonic()

    def _candidates(self, excluded: set[int]) -> list[int]:
        """URL order, servers marked down recently last (still tried: they may be back)."""
        now = time.monotonic()
        with self._lock:
            down = {
                server
                for server, since in self._down_since.items()
                if now - since < self.RETRY_DOWN_SERVER_AFTER
            }
        order = [server for server in range(len(self.urls)) if server not in excluded]
        return [s for s in order if s not in down] + [s for s in order if s in down]

    def _open(self, excluded: set[int], failures: list[_Failure]) -> tuple[_Pooled, float]:
        """Connect and bind to the first server that answers; each try bounded by timeout."""
        for server in self._candidates(excluded):
            deadline = time.monotonic() + self.timeout
            try:
                connection = self._connect(server, deadline)
            except _Failure as failure:
                failures.append(failure)
                self._mark_down(server, failure)
                excluded.add(server)
                continue
            with self._lock:
                self._down_since.pop(server, None)
            return _Pooled(connection, server, time.monotonic()), deadline
        if not failures:
            failures.append(_Failure(", ".join(self.urls), "no server left to try", **_NO_RETRY))
        raise DirectoryUnavailable("; ".join(str(failure) for failure in failures))

    def _connect(self, server: int, deadline: float) -> ldap3.Connection:
        url = self.urls[server]
        connection = ldap3.Connection(
            # A Server per connection: ldap3 keeps per-socket state on the Server object.
            ldap3.Server(
                url,
                get_info=ldap3.NONE,
                connect_timeout=_remaining(deadline),
                tls=self._tls,
            ),
            user=self.bind_dn,
            password=self._password,
            authentication=ldap3.SIMPLE if self.bind_dn else ldap3.ANONYMOUS,
            client_strategy=ldap3.SYNC,
            auto_bind=ldap3.AUTO_BIND_NONE,
            read_only=True,
            raise_exceptions=False,
            auto_referrals=False,
            return_empty_attributes=False,
            # ldap3 2.9 packs receive_timeout into SO_RCVTIMEO as an integer and fails on a
            # float; left unset, the socket keeps connect_timeout, which _Session renews.
            receive_timeout=None,
        )
        try:
            try:
                connection.open(read_server_info=False)
                if self.start_tls:
                    connection.socket.settimeout(_remaining(deadline))
                    if not connection.start_tls(read_server_info=False):
                        raise _Failure(url, "StartTLS refused", retry=True, server_down=True)
                connection.socket.settimeout(_remaining(deadline))
                if not connection.bind(read_server_info=False):
                    who = self.bind_dn or "anonymous"
                    what = f"bind as {who} refused ({_result(connection)})"
                    raise _Failure(url, what, retry=True, server_down=True)
            except LDAPException as error:
                raise self._communication_failure(url, error, deadline, pooled=False) from None
        except BaseException:
            _close(connection)
            raise
        return connection

    def _communication_failure(
        self, url: str, error: LDAPException, deadline: float, *, pooled: bool
    ) -> _Failure:
        """Describe an ldap3 error briefly (never with the password) and decide what follows."""
        if isinstance(error, TimeoutError) or time.monotonic() >= deadline - 0.01:
            return _Failure(url, f"timed out after {self.timeout} s", retry=True, server_down=True)
        if isinstance(error, ssl.SSLError):
            what = f"TLS failed ({_reason(error)})"
        elif isinstance(error, ConnectionRefusedError):
            what = "connection refused"
        elif isinstance(error, LDAPSessionTerminatedByServerError):
            what = "connection closed by the server"
        else:
            what = _reason(error) or type(error).__name__
        # A pooled connection may just have outlived a server restart: try a fresh one, same
        # server allowed. A fresh connection failing means the server is in trouble.
        return _Failure(url, what, retry=True, server_down=not pooled)

    def close(self) -> None:
        """Unbind the idle connections (at shutdown). The directory reconnects if used again."""
        with self._lock:
            idle, self._idle = self._idle, []
        for pooled in idle:
            _close(pooled.connection)


_NO_RETRY = {"retry": False, "server_down": False}


class _Session:
    """One attempt on one connection: searches bounded by the attempt's deadline."""

    def __init__(self, directory: LdapDirectory, pooled: _Pooled, deadline: float) -> None:
        self.directory = directory
        self.pooled = pooled
        self.deadline = deadline
        self.url = directory.urls[pooled.server]

    def search(
        self, search_filter: str, attributes: Sequence[str], *, size_limit: int
    ) -> tuple[list[LdifEntry], bool]:
        """Entries found, and whether the size limit cut the answer short."""
        connection = self.pooled.connection
        try:
            remaining = _remaining(self.deadline)
            connection.socket.settimeout(remaining)
            connection.search(
                search_base=self.directory.base,
                search_filter=search_filter,
                search_scope=ldap3.SUBTREE,
                dereference_aliases=ldap3.DEREF_NEVER,
                attributes=list(attributes),
                size_limit=size_limit,
                time_limit=max(1, math.ceil(remaining)),
            )
        except LDAPException as error:
            raise self.directory._communication_failure(
                self.url, error, self.deadline, pooled=not self.pooled.fresh
            ) from None
        except AttributeError:  # ldap3 dropped the socket (connection.socket is None)
            raise _Failure(self.url, "connection lost", retry=True, server_down=False) from None
        code = connection.result.get("result")
        entries = [
            _entry(self.url, item)
            for item in connection.response or ()
            if item.get("type") == "searchResEntry"  # referrals are not followed
        ]
        if code == 0:
            return entries, False
        if code == _SIZE_LIMIT_EXCEEDED and size_limit and len(entries) >= size_limit:
            return entries, True
        if code == _NO_SUCH_OBJECT:
            who = self.directory.bind_dn or "anonymous"
            what = f"base {self.directory.base!r} does not exist or is hidden from {who}"
            raise _Failure(self.url, what, **_NO_RETRY)
        if code == _TIME_LIMIT_EXCEEDED:
            what = f"timed out after {self.directory.timeout} s (server time limit)"
            raise _Failure(self.url, what, retry=True, server_down=True)
        trouble = code in _SERVER_TROUBLE
        raise _Failure(
            self.url, f"search failed ({_result(connection)})", retry=trouble, server_down=trouble
        )


def _scheme(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("ldap", "ldaps") or not parts.hostname:
        raise ValueError(f"LDAP URL must be ldap://host[:port] or ldaps://host[:port], got {url!r}")
    return parts.scheme.lower()


def _remaining(deadline: float) -> float:
    """Seconds left for this attempt; at least a little, so a socket call can still fail fast."""
    return max(deadline - time.monotonic(), 0.01)


def _result(connection: ldap3.Connection) -> str:
    result = connection.result or {}
    return str(result.get("description") or result.get("result") or "no result")


def _reason(error: BaseException) -> str:
    """The useful part of an ldap3 error, whose text nests the original error's in tuple reprs."""
    text = str(error)
    tls = re.search(r"\[SSL: [A-Z_]+\] ([^'\"()]+)", text)
    if tls:
        return tls.group(1).strip()
    for prefix in ("socket ssl wrapping error: ", "wrap socket error: ", "error receiving data: "):
        text = text.removeprefix(prefix)
    return text.strip()


def _entry(url: str, item: dict) -> LdifEntry:
    """A search result as an LDIF entry: UTF-8 text values, or a data error naming the entry."""
    dn = item.get("dn") or ""
    attributes: dict[str, list[str]] = {}
    for name, values in (item.get("raw_attributes") or {}).items():
        try:
            attributes[name] = [value.decode("utf-8") for value in values]
        except UnicodeDecodeError:
            raise HsaDataError(f"LDAP {url}, entry {dn!r}: {name} is not UTF-8 text") from None
    return dn, attributes


def _hsa_id_of(entry: LdifEntry) -> str:
    for name, values in entry[1].items():
        if name.lower() == "hsaidentity" and values:
            return values[0].strip()
    return "an entry without hsaIdentity"


def _same_hsa_id(stored: str, wanted: str) -> bool:
    stored = stored.strip()
    return stored[:2].upper() + stored[2:] == wanted


def _close(connection: ldap3.Connection) -> None:
    """Unbind and close, ignoring errors: the connection is being thrown away anyway."""
    with suppress(Exception):  # no socket left: nothing to bound
        connection.socket.settimeout(0.5)
    with suppress(Exception):  # a dead connection cannot be unbound politely
        connection.unbind()
