"""What every SIMULATOR process shares: a mutual-TLS listener that one silent client cannot
stall, request logs through the simulator's own logger, and SIMULATOR on every log line.

The Mobilt Efos simulator (``efos_service``) and the HSA web-service simulator (``hsa_service``)
stand in for national services that only talk mutual TLS. Both need the same three things, kept
here once so a fix to one (e.g. the handshake timeout) reaches the other.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

LABEL = "SIMULATOR"

__all__ = [
    "LABEL",
    "LabelledRequestHandler",
    "MutualTlsRequestHandler",
    "SimulatorFormatter",
    "configure_simulator_logging",
    "is_loopback",
    "listen",
    "make_simulator_server",
    "mutual_tls_context",
    "run_until_stopped",
    "serve_in_threads",
    "stop_servers",
]


class SimulatorFormatter(logging.Formatter):
    """Every line SIMULATOR-prefixed, traceback lines included: nobody mistakes these logs."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return "\n".join(f"{LABEL} {line}" for line in text.splitlines())


def configure_simulator_logging(
    logger_names: Iterable[str], handler_name: str, level: int = logging.INFO, stream: Any = None
) -> None:
    """Send these loggers to ``stream`` (stderr) with the SIMULATOR prefix, replacing an earlier
    handler of the same name so that calling it twice does not print every line twice."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(SimulatorFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.set_name(handler_name)
    for name in logger_names:
        target = logging.getLogger(name)
        target.handlers = [h for h in target.handlers if h.get_name() != handler_name]
        target.addHandler(handler)
        target.setLevel(level)
        target.propagate = False


class LabelledRequestHandler(WSGIRequestHandler):
    """Request lines through the simulator's logger, prefixed with the listener's ``label``.

    Subclasses set ``log_to`` (the simulator's logger), ``label`` and the paths in ``quiet``
    whose successful requests are not logged (e.g. a page that reloads itself every second).
    """

    log_to: ClassVar[logging.Logger] = logging.getLogger(__name__)
    quiet: ClassVar[frozenset[str]] = frozenset()
    label: ClassVar[str] = ""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = getattr(self, "path", "").split("?", 1)[0]
        if str(code) in ("200", "303") and path in self.quiet:
            return
        self.log_to.info(
            "%s %s %s %s -> %s", self.label, self.address_string(), self.command, path, code
        )

    def log(self, type: str, message: str, *args: Any) -> None:  # werkzeug's signature
        level = logging.ERROR if type == "error" else logging.INFO
        self.log_to.log(level, "%s %s: " + message, self.label, self.address_string(), *args)


class MutualTlsRequestHandler(LabelledRequestHandler):
    """Handshake in the connection's own thread, with a timeout.

    werkzeug wraps the listening socket, so the handshake would run in ``accept()`` on the one
    serving thread: a client that connects and says nothing would stop the whole service. With
    ``do_handshake_on_connect`` off on the listener (set it after ``make_server``), it happens
    here instead; a client without an acceptable certificate is turned away before any HTTP is
    read.
    """

    timeout = 30
    handshake_ok = False

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.do_handshake()
            self.handshake_ok = True
        except (ssl.SSLError, OSError) as error:
            self.log_to.info(
                "%s TLS handshake refused for %s: %s", self.label, self.client_address[0], error
            )

    def handle(self) -> None:
        if self.handshake_ok:
            super().handle()


def mutual_tls_context(
    cert_file: str | Path, key_file: str | Path, client_ca_file: str | Path
) -> ssl.SSLContext:
    """Server side of mutual TLS: our certificate; only clients certified by ``client_ca_file``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    context.load_verify_locations(cafile=client_ca_file)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def listen(host: str, port: int) -> socket.socket:
    """A listening socket, bound before any server object exists.

    A port in use then fails with a plain ``OSError`` (werkzeug's own bind would print unprefixed
    lines and exit). werkzeug serves a duplicate of it (``fd=``); close this one after.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=64)


def make_simulator_server(
    app: Any,
    sock: socket.socket,
    handler: type[LabelledRequestHandler],
    context: ssl.SSLContext | None = None,
) -> BaseWSGIServer:
    """A threaded werkzeug server on a socket from :func:`listen`, TLS when ``context`` is given.

    With TLS the listener does not shake hands in ``accept()`` (``handler`` should be a
    :class:`MutualTlsRequestHandler`), and a failed connection is logged to ``handler.log_to``
    instead of werkzeug's bare traceback on stderr.
    """
    host, port = sock.getsockname()[:2]
    server = make_server(
        host,
        port,
        app,
        threaded=True,
        request_handler=handler,
        ssl_context=context,
        fd=sock.fileno(),
    )
    if context is not None:
        server.socket.do_handshake_on_connect = False

    def handle_error(request: Any, client_address: Any) -> None:
        handler.log_to.exception("connection from %s failed", client_address)

    server.handle_error = handle_error  # type: ignore[method-assign]
    return server


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses: where control APIs may listen unguarded."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_in_threads(
    servers: Sequence[BaseWSGIServer], names: Sequence[str]
) -> list[threading.Thread]:
    """Start ``serve_forever`` of each server on a daemon thread called by its name."""
    threads = []
    for server, name in zip(servers, names, strict=True):
        thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
        thread.start()
        threads.append(thread)
    return threads


def stop_servers(servers: Sequence[BaseWSGIServer], threads: Sequence[threading.Thread]) -> None:
    """Stop what was started and close every listener, also those never started.

    ``shutdown`` waits for ``serve_forever`` to notice, so it is called only on servers that have
    a thread (the first ``len(threads)``): a failed start must not hang here.
    """
    for server, _ in zip(servers, threads, strict=False):
        server.shutdown()
    for server in servers:
        server.server_close()
    for thread in threads:
        thread.join(5)


def run_until_stopped(serve: Callable[[threading.Event], int]) -> int:
    """Run ``serve(stop)`` with SIGTERM and Ctrl-C setting ``stop``; return its exit status.

    Signals can only be caught on the main thread; elsewhere (a test calling ``main``) ``stop``
    is simply never set by one. The previous handlers come back afterwards.
    """
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        return serve(stop)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
