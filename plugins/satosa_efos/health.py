"""``/healthz`` and ``/readyz``: is the process alive, and should a load balancer send it logins?

``/healthz`` only says the worker answers (200, ``{"status": "ok"}``); it never looks at
anything else, so a supervisor restarts a process only when the process itself is stuck.

``/readyz`` says whether this node can complete a login now and for the next ``margin`` seconds
(``SATOSA_EFOS_READY_MARGIN``, default one hour):

- ``configuration``: the configuration directory was loaded and checked (a worker that could
  not load it never answers at all);
- ``metadata``: every metadata file the proxy uses (the plugins' ``metadata.local`` files and
  folders, ``federation`` aggregates, the applications' SP metadata) exists, and one that
  carries a ``validUntil`` is valid for longer than the margin;
- ``keys``: every private key the plugins name is readable, every certificate is valid for
  longer than the margin;
- ``stores``: each SQLite file answers ``SELECT 1`` (or its folder is writable before first
  use), each Redis server answers ``PING``;
- ``directory``: the HSA directory (LDAP or the national web service) accepts a TCP connection
  on one of its addresses (a cheap probe: no bind, no search).

Any failed check answers 503 with the same JSON, so the reason is in the load balancer's log.
The answer is computed at most once per ``SATOSA_EFOS_READY_CACHE`` seconds (default 5) per
worker, and every network probe has a timeout (``SATOSA_EFOS_READY_TIMEOUT``, default 2 s), so
a polling load balancer costs nothing noticeable and a dead peer never hangs the endpoint.

The paths are answered before SATOSA's routing, and nginx (ansible role ``satosa_efos_nginx``)
serves them only to the addresses of the load balancers and monitoring.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from lxml import etree

HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
PLUGIN_LISTS = ("FRONTEND_MODULES", "BACKEND_MODULES", "MICRO_SERVICES")
DEFAULT_LDAP_PORTS = {"ldap": 389, "ldaps": 636}
SQLITE_SUFFIXES = (".sqlite3", ".sqlite", ".db")


@dataclass(frozen=True)
class Item:
    """One thing a check looked at."""

    name: str
    ok: bool
    detail: str
    #: Seconds until the item expires (certificates, metadata with a validUntil).
    seconds_left: int | None = None


@dataclass(frozen=True)
class Check:
    name: str
    items: tuple[Item, ...] = ()
    detail: str = ""

    @property
    def ok(self) -> bool:
        return all(item.ok for item in self.items)

    def as_json(self) -> dict[str, Any]:
        items = [{k: v for k, v in asdict(i).items() if v is not None} for i in self.items]
        return {"ok": self.ok, **({"detail": self.detail} if self.detail else {}), "items": items}


@dataclass(frozen=True)
class Settings:
    margin: float = 3600.0
    cache_seconds: float = 5.0
    timeout: float = 2.0

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        return cls(
            margin=float(environ.get("SATOSA_EFOS_READY_MARGIN", cls.margin)),
            cache_seconds=float(environ.get("SATOSA_EFOS_READY_CACHE", cls.cache_seconds)),
            timeout=float(environ.get("SATOSA_EFOS_READY_TIMEOUT", cls.timeout)),
        )


# -- what the configuration names -------------------------------------------------------------


@dataclass
class Targets:
    """The files and services named by a loaded configuration, found once at start."""

    key_files: dict[Path, str] = field(default_factory=dict)
    cert_files: dict[Path, str] = field(default_factory=dict)
    metadata_files: dict[Path, str] = field(default_factory=dict)
    #: Folders of ``*.xml`` (``metadata.local`` entries): looked at anew each time.
    metadata_dirs: dict[Path, str] = field(default_factory=dict)
    sqlite_files: dict[Path, str] = field(default_factory=dict)
    redis_urls: dict[str, str] = field(default_factory=dict)
    #: (host, port) pairs per directory, tried in order.
    directories: dict[str, list[tuple[str, int]]] = field(default_factory=dict)


def _plugins(data: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for key in PLUGIN_LISTS:
        for plugin in data.get(key) or []:
            if isinstance(plugin, dict) and isinstance(plugin.get("config"), dict):
                yield str(plugin.get("name", "?")), plugin["config"]


def _walk(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """(key, value) for every mapping entry below ``value``; list items keep their list's key."""
    if isinstance(value, dict):
        for k, child in value.items():
            yield str(k), child
            yield from _walk(child, str(k))
    elif isinstance(value, list):
        for child in value:
            if isinstance(child, str):
                yield key, child
            else:
                yield from _walk(child, key)


def _sqlite_path(value: str) -> str | None:
    """``sqlite:PATH`` / ``sqlite:///PATH`` (the OIDC store's form) or a ``*.sqlite3`` path."""
    if value.startswith("sqlite:"):
        rest = value[len("sqlite:") :]
        return "/" + rest.lstrip("/") if rest.startswith("///") else rest
    if value.endswith(SQLITE_SUFFIXES) and "://" not in value:
        return value
    return None


def _directory_addresses(directory: dict[str, Any]) -> list[tuple[str, int]]:
    kind = directory.get("type")
    urls = directory.get("urls") if kind == "ldap" else [directory.get("url")]
    addresses = []
    for url in urls or []:
        if not isinstance(url, str):
            continue
        parts = urlsplit(url)
        default = DEFAULT_LDAP_PORTS.get(parts.scheme, 443 if parts.scheme == "https" else 80)
        if parts.hostname:
            addresses.append((parts.hostname, parts.port or default))
    return addresses


def find_targets(conf_dir: Path, data: dict[str, Any]) -> Targets:
    """Every key, certificate, metadata file, store and directory the plugins name."""
    targets = Targets()

    def path(value: str) -> Path:
        return (conf_dir / value).resolve()

    for plugin, config in _plugins(data):
        for key, value in _walk(config):
            if key == "federation" and isinstance(value, list):
                for source in value:
                    if isinstance(source, dict) and isinstance(source.get("file"), str):
                        targets.metadata_files[path(source["file"])] = f"{plugin}: federation"
                    if isinstance(source, dict) and isinstance(source.get("signer_cert"), str):
                        targets.cert_files[path(source["signer_cert"])] = f"{plugin}: signer"
            if (
                key == "directory"
                and isinstance(value, dict)
                and value.get("type")
                in (
                    "ldap",
                    "riv",
                )
            ):
                targets.directories[f"{plugin}: {value['type']}"] = _directory_addresses(value)
            if not isinstance(value, str) or not value:
                continue
            if key.endswith("key_file") or key == "client_key":
                targets.key_files[path(value)] = plugin
            elif key.endswith("cert_file") or key == "client_cert":
                targets.cert_files[path(value)] = plugin
            elif key == "local":
                place = path(value)
                where = targets.metadata_dirs if place.is_dir() else targets.metadata_files
                where[place] = f"{plugin}: metadata"
            elif value.startswith(("redis://", "rediss://")):
                targets.redis_urls[value] = plugin
            elif (key.endswith(("uri", "url", "store")) or key == "db") and (
                sqlite := _sqlite_path(value)
            ):
                targets.sqlite_files[path(sqlite)] = plugin
    for app_path, app in _application_metadata(conf_dir):
        targets.metadata_files.setdefault(app_path, f"application {app}")
    return targets


def _application_metadata(conf_dir: Path) -> Iterable[tuple[Path, str]]:
    from satosa_efos.config.registries import cached_registries

    try:
        registries = cached_registries(conf_dir)
    except Exception:  # the configuration was checked at start; nothing more to add here
        return []
    return [((conf_dir / app.metadata).resolve(), app.id)
            for app in registries.applications.applications if app.metadata]  # fmt: skip


# -- the checks ----------------------------------------------------------------------------------

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _stamp(path: Path) -> tuple[int, int, int]:
    info = path.stat()
    return info.st_ino, info.st_size, info.st_mtime_ns


class FileFacts:
    """Per-file facts (a certificate's notAfter, a metadata root's validUntil) read again only
    when the file changes: a 14 MB aggregate is not parsed on every poll."""

    def __init__(self, read: Callable[[Path], dt.datetime | None]):
        self.read, self.known = read, {}

    def __call__(self, path: Path) -> dt.datetime | None:
        stamp = _stamp(path)
        cached = self.known.get(path)
        if cached is None or cached[0] != stamp:
            cached = self.known[path] = (stamp, self.read(path))
        return cached[1]


def _metadata_valid_until(path: Path) -> dt.datetime | None:
    """The root element's validUntil, read from the first start tag only."""
    with path.open("rb") as stream:
        for _, element in etree.iterparse(stream, events=("start",), resolve_entities=False,
                                          no_network=True, load_dtd=False):  # fmt: skip
            text = element.get("validUntil")
            if not text:
                return None
            value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
            return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return None


def certificate_not_after(path: Path) -> dt.datetime:
    return x509.load_pem_x509_certificate(path.read_bytes()).not_valid_after_utc


def _expiry_item(name: str, until: dt.datetime | None, now: dt.datetime, margin: float) -> Item:
    if until is None:
        return Item(name, True, "no validUntil")
    left = int((until - now).total_seconds())
    if left <= 0:
        return Item(name, False, f"expired at {until:%Y-%m-%dT%H:%M:%SZ}", left)
    if left <= margin:
        return Item(name, False, f"expires at {until:%Y-%m-%dT%H:%M:%SZ}, within the "
                    f"{int(margin)} s margin", left)  # fmt: skip
    return Item(name, True, f"valid until {until:%Y-%m-%dT%H:%M:%SZ}", left)


def _tcp_probe(addresses: list[tuple[str, int]], timeout: float) -> tuple[bool, str]:
    failures = []
    for host, port in addresses:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return True, f"{host}:{port} accepts connections"
        except OSError as exc:
            failures.append(f"{host}:{port}: {exc.strerror or exc}")
    return False, "; ".join(failures) or "no address configured"


def _redis_ping(url: str, timeout: float) -> tuple[bool, str]:
    try:
        import redis
    except ImportError:
        return False, "the redis package is not installed (pip install satosa-efos[redis])"
    try:
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # any failure of the store is "not ready", with its reason
        return False, f"PING failed: {exc}"
    return True, "PING answered"


def _sqlite_ping(path: Path, timeout: float) -> tuple[bool, str]:
    if not path.exists():
        # The stores create their file (and folder) on first use.
        folder = next(p for p in path.parents if p.exists())
        if os.access(folder, os.W_OK):
            return True, f"not created yet; {folder} is writable"
        return False, f"does not exist and {folder} is not writable"
    try:
        connection = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=timeout)
        try:
            connection.execute("SELECT 1").fetchone()
        finally:
            connection.close()
    except sqlite3.Error as exc:
        return False, f"SELECT 1 failed: {exc}"
    return True, "SELECT 1 answered"


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


class Readiness:
    """The checks behind ``/readyz`` for one loaded configuration."""

    def __init__(
        self,
        conf_dir: Path,
        data: dict[str, Any],
        settings: Settings | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ):
        self.conf_dir = Path(conf_dir)
        self.settings = settings or Settings.from_environment()
        self.targets = find_targets(self.conf_dir, data)
        self.clock = clock
        self._valid_until = FileFacts(_metadata_valid_until)
        self._not_after = FileFacts(certificate_not_after)
        self._lock = threading.Lock()
        self._cached: tuple[float, tuple[Check, ...]] | None = None

    def checks(self) -> tuple[Check, ...]:
        with self._lock:
            now = self.clock()
            if self._cached and now - self._cached[0] < self.settings.cache_seconds:
                return self._cached[1]
            result = self._run(dt.datetime.fromtimestamp(now, dt.UTC))
            self._cached = (now, result)
            return result

    def _run(self, now: dt.datetime) -> tuple[Check, ...]:
        return (
            Check("configuration", (Item(str(self.conf_dir), True, "loaded and checked"),)),
            self._metadata(now),
            self._keys(now),
            self._stores(),
            self._directories(),
        )

    def _metadata(self, now: dt.datetime) -> Check:
        files = dict(self.targets.metadata_files)
        for folder, what in self.targets.metadata_dirs.items():
            for xml in sorted(folder.glob("*.xml")) if folder.is_dir() else []:
                files.setdefault(xml, what)
        items = []
        for path, what in files.items():
            name = f"{what}: {self._show(path)}"
            try:
                until = self._valid_until(path)
            except FileNotFoundError:
                items.append(Item(name, False, "missing"))
                continue
            except (OSError, ValueError, etree.XMLSyntaxError) as exc:
                items.append(Item(name, False, f"unreadable: {exc}"))
                continue
            items.append(_expiry_item(name, until, now, self.settings.margin))
        return Check("metadata", tuple(items))

    def _keys(self, now: dt.datetime) -> Check:
        items = []
        for path, plugin in self.targets.key_files.items():
            name = f"{plugin}: {self._show(path)}"
            try:
                readable = b"PRIVATE KEY-----" in path.read_bytes()
            except OSError as exc:
                items.append(Item(name, False, f"not readable: {exc.strerror}"))
                continue
            items.append(Item(name, readable, "readable" if readable else "not a PEM private key"))
        for path, plugin in self.targets.cert_files.items():
            name = f"{plugin}: {self._show(path)}"
            try:
                not_after = self._not_after(path)
            except OSError as exc:
                items.append(Item(name, False, f"not readable: {exc.strerror}"))
                continue
            except ValueError as exc:
                items.append(Item(name, False, f"not a PEM certificate: {exc}"))
                continue
            items.append(_expiry_item(name, not_after, now, self.settings.margin))
        return Check("keys", tuple(items))

    def _stores(self) -> Check:
        items = []
        for path, plugin in self.targets.sqlite_files.items():
            ok, detail = _sqlite_ping(path, self.settings.timeout)
            items.append(Item(f"{plugin}: sqlite {self._show(path)}", ok, detail))
        for url, plugin in self.targets.redis_urls.items():
            ok, detail = _redis_ping(url, self.settings.timeout)
            items.append(Item(f"{plugin}: {_redact(url)}", ok, detail))
        return Check("stores", tuple(items), "" if items else "none configured")

    def _directories(self) -> Check:
        items = []
        for name, addresses in self.targets.directories.items():
            ok, detail = _tcp_probe(addresses, self.settings.timeout)
            items.append(Item(name, ok, detail))
        return Check("directory", tuple(items), "" if items else "none configured (or in memory)")

    def _show(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.conf_dir.resolve()))
        except ValueError:
            return str(path)

    def report(self) -> tuple[int, dict[str, Any]]:
        checks = self.checks()
        ready = all(check.ok for check in checks)
        body = {
            "status": "ready" if ready else "not_ready",
            "margin_seconds": int(self.settings.margin),
            "checks": {check.name: check.as_json() for check in checks},
        }
        return (200 if ready else 503), body


# -- WSGI --------------------------------------------------------------------------------------

_STATUS = {200: "200 OK", 503: "503 Service Unavailable", 405: "405 Method Not Allowed"}


def _json_response(start_response, status: int, body: dict[str, Any], head: bool) -> list[bytes]:
    payload = json.dumps(body, ensure_ascii=False).encode()
    start_response(_STATUS[status], [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(payload))),
        ("Cache-Control", "no-store"),
    ])  # fmt: skip
    return [] if head else [payload]


class HealthMiddleware:
    """Answers ``/healthz`` and ``/readyz`` before anything of SATOSA runs."""

    def __init__(self, app, readiness: Readiness):
        self.app, self.readiness = app, readiness

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path not in (HEALTH_PATH, READY_PATH):
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            return _json_response(start_response, 405, {"status": "method_not_allowed"}, False)
        if path == HEALTH_PATH:
            return _json_response(start_response, 200, {"status": "ok"}, method == "HEAD")
        status, body = self.readiness.report()
        return _json_response(start_response, status, body, method == "HEAD")
