"""The Mobilt Efos SIMULATOR: a stand-in for the national service, for the demo and the tests.

No public relying-party API for Mobilt Efos exists (DOMAIN.md §2), so the proxy's ``collect``
adapter speaks the API of docs/efos-rp-api.md, and this module implements exactly that API so the
whole login can run end to end with real certificates, real signatures, real mutual TLS and a real
OCSP responder. It is labelled SIMULATOR on every page, in every log line and in a response header;
it must never be mistaken for, or deployed as, the real service.

Three listeners, one process:

* the RP API (``/rp/v1/auth|collect|cancel``) over HTTPS with mutual TLS: only a client
  certificate from the simulator's service TLS CA gets past the handshake;
* a plain-HTTP port for humans and tests: the "phone" page (``/``, the pretend app that approves
  or denies pending orders and accepts a pasted QR string) and the JSON control API
  (``/control/...``) that tests use to steer orders and to make the service slow or failing;
* ``openssl ocsp`` as a child process, answering for the simulator's issuing CA at the URL that
  every user certificate names in its AIA.

Orders live in memory (one process, threads, one lock): the simulator stands in for an external
service, and a restart losing orders is what a real outage would do too.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import secrets
import signal
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer
from werkzeug.wrappers import Request, Response

from satosa_efos.simulators.demo_idp import TEMPLATES as demo_templates
from satosa_efos.simulators.demo_users import DemoUser, load_demo_users
from satosa_efos.simulators.efos_pki import VARIANTS, Pki, prepare_pki
from satosa_efos.simulators.serving import (
    LABEL,
    LabelledRequestHandler,
    MutualTlsRequestHandler,
    configure_simulator_logging,
    is_loopback,
    listen,
    make_simulator_server,
    mutual_tls_context,
    run_until_stopped,
    serve_in_threads,
    stop_servers,
)

#: A fixed name, so that ``python -m`` (where ``__name__`` is ``__main__``) logs the same way.
LOGGER_NAME = "satosa_efos.simulators.efos_service"
logger = logging.getLogger(LOGGER_NAME)

DEFAULT_STATE_DIR = Path(__file__).resolve().parents[3] / "var" / "efos-simulator"
DEFAULT_API_PORT, DEFAULT_PHONE_PORT, DEFAULT_OCSP_PORT = 8443, 8093, 8094

ORDER_LIFETIME = 180.0  # seconds; docs/efos-rp-api.md
QR_MAX_AGE = 30  # seconds a scanned QR code stays acceptable
#: The RP counts ``t`` from when it received the ``auth`` answer; allow a little clock rounding.
QR_FUTURE_TOLERANCE = 2
#: Forget an order this long after it expired (a long demo run must not grow without bound).
FORGET_AFTER = 600.0
MAX_BODY = 64 * 1024
MAX_VISIBLE_DATA = 4096  # characters of base64

PENDING_HINTS = ("outstandingTransaction", "noClient", "started", "userSign")
FAILED_HINTS = (
    "expiredTransaction",
    "certificateErr",
    "userCancel",
    "cancelled",
    "startFailed",
)
#: What a control ``approve`` may complete with: the PKI's certificates plus a bad signature.
APPROVE_VARIANTS = (*VARIANTS, "bad_signature")
ERROR_CODES = {
    400: "invalidParameters",
    401: "unauthorized",
    403: "unauthorized",
    404: "notFound",
    408: "requestTimeout",
    500: "internalError",
    503: "maintenance",
}
OID_PATTERN = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
SIMULATOR_HEADER = ("X-Simulator", "SIMULATOR Mobilt Efos - not the real service")


class ApiError(Exception):
    """A refusal with the JSON body of the spec: ``{"errorCode": …, "details": …}``."""

    def __init__(self, status: int, details: str, error_code: str | None = None) -> None:
        super().__init__(details)
        self.status = status
        self.error_code = error_code or ERROR_CODES.get(status, "internalError")
        self.details = details

    def response(self) -> Response:
        return _json({"errorCode": self.error_code, "details": self.details}, self.status)


class QrRefused(ApiError):
    """A scanned QR string the service does not accept; carries a message for the phone page."""

    def __init__(self, details: str, swedish: str, english: str) -> None:
        super().__init__(400, details)
        self.message = (swedish, english)


@dataclass
class Order:
    """One ``auth`` order and what has happened to it since."""

    order_ref: str
    auto_start_token: str
    qr_start_token: str
    qr_start_secret: str
    challenge: str
    end_user_ip: str
    user_visible_data: str | None
    certificate_policies: list[str]
    created: float
    status: str = "pending"
    hint_code: str | None = "outstandingTransaction"
    completion_data: dict[str, Any] | None = None
    user: str | None = None
    variant: str | None = None

    @property
    def expires(self) -> float:
        return self.created + ORDER_LIFETIME

    def collect_answer(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"orderRef": self.order_ref, "status": self.status}
        if self.status == "complete":
            answer["completionData"] = self.completion_data
        else:
            answer["hintCode"] = self.hint_code
        return answer

    def public(self) -> dict[str, Any]:
        """The control API's view (never the QR secret: only the RP may know it)."""
        return {
            "orderRef": self.order_ref,
            "status": self.status,
            "hintCode": self.hint_code,
            "qrStartToken": self.qr_start_token,
            "autoStartToken": self.auto_start_token,
            "created": _iso(self.created),
            "expires": _iso(self.expires),
            "endUserIp": self.end_user_ip,
            "userVisibleData": self.user_visible_data,
            "certificatePolicies": self.certificate_policies,
            "user": self.user,
            "variant": self.variant,
        }


@dataclass
class Behaviour:
    """How the next RP API calls misbehave (``POST /control/behaviour``)."""

    delay_seconds: float = 0.0
    status: int | None = None
    error_code: str | None = None
    remaining: int | None = None  # None: until reset

    def public(self) -> dict[str, Any]:
        return {
            "delay_seconds": self.delay_seconds,
            "status": self.status,
            "errorCode": self.error_code,
            "count": self.remaining,
        }


@dataclass(frozen=True)
class _Signer:
    """A user's certificate material, loaded once: DER certificate, chain, key, names."""

    certificate: bytes
    chain: tuple[bytes, ...]
    key: rsa.RSAPrivateKey
    user: dict[str, str]


# --- the animated QR code ---------------------------------------------------------------------


def qr_auth_code(qr_start_secret: str, seconds: int) -> str:
    """``lowercase hex(HMAC-SHA256(UTF-8(qrStartSecret), UTF-8(str(t))))`` of the spec."""
    key, message = qr_start_secret.encode("utf-8"), str(seconds).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def qr_data(qr_start_token: str, qr_start_secret: str, seconds: int) -> str:
    """What the RP's QR code shows ``seconds`` after the ``auth`` answer (tests use it too)."""
    return f"efos.{qr_start_token}.{seconds}.{qr_auth_code(qr_start_secret, seconds)}"


def parse_qr(text: str) -> tuple[str, int, str]:
    """Split ``efos.<qrStartToken>.<t>.<qrAuthCode>``; refuse anything else."""
    parts = text.strip().split(".")
    if len(parts) != 4 or parts[0] != "efos" or not parts[1]:
        raise QrRefused(
            "not an efos QR code",
            "Det är inte en QR-kod för Mobilt Efos.",
            "That is not a Mobilt Efos QR code.",
        )
    token, seconds, code = parts[1], parts[2], parts[3]
    if not seconds.isdigit() or len(seconds) > 6 or not re.fullmatch(r"[0-9a-f]{64}", code):
        raise QrRefused("malformed QR code", "QR-koden är trasig.", "The QR code is damaged.")
    return token, int(seconds), code


def check_qr(order: Order, seconds: int, code: str, now: float) -> None:
    """The service's QR check: the HMAC matches and the code is at most ``QR_MAX_AGE`` s old."""
    if not hmac.compare_digest(code, qr_auth_code(order.qr_start_secret, seconds)):
        raise QrRefused(
            "wrong qrAuthCode",
            "QR-koden är inte äkta (fel kontrollkod).",
            "The QR code is not genuine (wrong check code).",
        )
    elapsed = now - order.created
    if seconds > elapsed + QR_FUTURE_TOLERANCE:
        raise QrRefused(
            "QR code from the future",
            "QR-koden är inte giltig än.",
            "The QR code is not valid yet.",
        )
    if elapsed - seconds > QR_MAX_AGE:
        raise QrRefused(
            f"QR code older than {QR_MAX_AGE} s",
            "QR-koden är för gammal. Skanna den nya koden på skärmen.",
            "The QR code is too old. Scan the new code on the screen.",
        )


# --- the service ------------------------------------------------------------------------------


class EfosSimulator:
    """Orders, the misbehaviour switch and the signing: everything behind the three listeners.

    Thread-safe: every change happens under one lock (a ``Condition``, so a control call can
    wait for the next order).
    """

    def __init__(
        self,
        pki: Pki,
        users: Iterable[DemoUser],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pki = pki
        self.clock = clock
        #: Demo users who have certificates, in the order of demo_users.yaml.
        self.users = {user.username: user for user in users if user.username in pki.users}
        self.rp_client_fingerprint = x509.load_pem_x509_certificate(
            pki.rp_client_cert.read_bytes()
        ).fingerprint(hashes.SHA256())
        self._orders: dict[str, Order] = {}
        self._behaviour: Behaviour | None = None
        self._signers: dict[tuple[str, str], _Signer] = {}
        self._lock = threading.Condition()

    # -- the RP API --

    def auth(self, body: dict[str, Any]) -> dict[str, str]:
        end_user_ip = _required_str(body, "endUserIp")
        try:
            ipaddress.ip_address(end_user_ip)
        except ValueError:
            raise ApiError(400, "endUserIp is not an IP address") from None
        challenge = _required_str(body, "challenge")
        if len(_b64decode(challenge, "challenge")) != 32:
            raise ApiError(400, "challenge must be base64 of 32 bytes")
        visible = body.get("userVisibleData")
        text = None
        if visible is not None:
            if not isinstance(visible, str) or len(visible) > MAX_VISIBLE_DATA:
                raise ApiError(400, "userVisibleData must be base64 text")
            try:
                text = _b64decode(visible, "userVisibleData").decode("utf-8")
            except UnicodeDecodeError:
                raise ApiError(400, "userVisibleData is not UTF-8") from None
        policies = body.get("certificatePolicies", ["1.2.752.146.200.3"])
        if not isinstance(policies, list) or not all(
            isinstance(oid, str) and OID_PATTERN.match(oid) for oid in policies
        ):
            raise ApiError(400, "certificatePolicies must be a list of OIDs")
        order = Order(
            order_ref=str(uuid.uuid4()),
            auto_start_token=str(uuid.uuid4()),
            qr_start_token=str(uuid.uuid4()),
            qr_start_secret=str(uuid.uuid4()),
            challenge=challenge,
            end_user_ip=end_user_ip,
            user_visible_data=text,
            certificate_policies=policies,
            created=self.clock(),
        )
        with self._lock:
            self._forget_old()
            self._orders[order.order_ref] = order
            self._lock.notify_all()
        logger.info("order %s started for %s", _short(order.order_ref), end_user_ip)
        return {
            "orderRef": order.order_ref,
            "autoStartToken": order.auto_start_token,
            "qrStartToken": order.qr_start_token,
            "qrStartSecret": order.qr_start_secret,
        }

    def collect(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            order = self._rp_order(body)
            return order.collect_answer()

    def cancel(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            order = self._rp_order(body)
            if order.status == "pending":
                self._fail(order, "cancelled")
                logger.info("order %s cancelled by the RP", _short(order.order_ref))
        return {}

    def take_behaviour(self) -> Behaviour | None:
        """The misbehaviour for this RP API call, counting it down."""
        with self._lock:
            behaviour = self._behaviour
            if behaviour is None:
                return None
            if behaviour.remaining is not None:
                behaviour.remaining -= 1
                if behaviour.remaining <= 0:
                    self._behaviour = None
            return Behaviour(behaviour.delay_seconds, behaviour.status, behaviour.error_code)

    # -- the control API and the phone page --

    def orders(self) -> list[Order]:
        """Every order the simulator remembers, newest first (copies, safe to read unlocked)."""
        with self._lock:
            self._forget_old()
            orders = sorted(self._orders.values(), key=lambda o: o.created, reverse=True)
            return [_copy(order) for order in orders]

    def approve(
        self, ref: str, username: str, variant: str = "normal", wait_seconds: float = 0
    ) -> Order:
        """Complete a pending order as the user's app would, with one of the user's certificates."""
        if username not in self.users:
            raise ApiError(400, f"no demo user with a certificate called {username!r}")
        if variant not in APPROVE_VARIANTS:
            raise ApiError(400, f"variant must be one of {', '.join(APPROVE_VARIANTS)}")
        signer = self._signer(username, "normal" if variant == "bad_signature" else variant)
        with self._lock:
            order = self._find(ref, wait_seconds)
            self._require_pending(order)
            signed_data = f"{order.order_ref}.{order.challenge}"
            signed = signed_data
            if variant == "bad_signature":  # a signature over another challenge
                other = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
                signed = f"{order.order_ref}.{other}"
            signature = signer.key.sign(signed.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
            order.status, order.hint_code = "complete", None
            order.user, order.variant = username, variant
            order.completion_data = {
                "user": dict(signer.user),
                "certificate": _b64(signer.certificate),
                "chain": [_b64(der) for der in signer.chain],
                "signedData": signed_data,
                "signature": _b64(signature),
                "signatureAlgorithm": "RS256",
            }
            logger.info(
                "order %s approved as %s (%s certificate)",
                _short(order.order_ref),
                username,
                variant,
            )
            return _copy(order)

    def deny(self, ref: str, wait_seconds: float = 0) -> Order:
        return self._end(ref, "userCancel", wait_seconds)

    def expire(self, ref: str, wait_seconds: float = 0) -> Order:
        return self._end(ref, "expiredTransaction", wait_seconds)

    def set_hint(
        self, ref: str, hint_code: str, status: str | None = None, wait_seconds: float = 0
    ) -> Order:
        """Put an order in a pending or failed state; ``status`` is needed for an unknown hint."""
        if status is None:
            if hint_code in PENDING_HINTS:
                status = "pending"
            elif hint_code in FAILED_HINTS:
                status = "failed"
            else:
                raise ApiError(400, f"unknown hintCode {hint_code!r}: give status too")
        if status not in ("pending", "failed"):
            raise ApiError(400, "status must be pending or failed")
        with self._lock:
            order = self._find(ref, wait_seconds)
            order.status, order.hint_code, order.completion_data = status, hint_code, None
            logger.info("order %s set to %s/%s", _short(order.order_ref), status, hint_code)
            return _copy(order)

    def backdate(self, ref: str, seconds: float) -> Order:
        """Make an order older (tests of the QR age check, without waiting)."""
        with self._lock:
            order = self._find(ref)
            order.created -= seconds
            self._expire_if_due(order)
            return _copy(order)

    def scan_qr(self, text: str, username: str, variant: str = "normal") -> Order:
        """The app scanned ``text``: check it (token, HMAC, age), then approve that order."""
        token, seconds, code = parse_qr(text)
        with self._lock:
            order = next((o for o in self._orders.values() if o.qr_start_token == token), None)
            if order is None:
                raise QrRefused(
                    "unknown qrStartToken",
                    "Ingen inloggning väntar på den QR-koden.",
                    "No login is waiting for that QR code.",
                )
            self._expire_if_due(order)
            check_qr(order, seconds, code, self.clock())
            if order.status != "pending":
                raise QrRefused(
                    f"order is {order.status}",
                    "Inloggningen är redan avslutad.",
                    "That login has already ended.",
                )
            ref = order.order_ref
        logger.info("QR code for order %s accepted (t=%d)", _short(ref), seconds)
        return self.approve(ref, username, variant)

    def autostart(self, token: str) -> Order | None:
        """The app was opened with ``autostarttoken``: the order now waits for the PIN."""
        with self._lock:
            for order in self._orders.values():
                self._expire_if_due(order)
                if order.auto_start_token == token and order.status == "pending":
                    order.hint_code = "userSign"
                    return _copy(order)
        return None

    def set_behaviour(self, body: dict[str, Any]) -> Behaviour:
        delay = body.get("delay_seconds", 0)
        status = body.get("status")
        count = body.get("count")
        error_code = body.get("errorCode")
        if not isinstance(delay, int | float) or isinstance(delay, bool) or not 0 <= delay <= 60:
            raise ApiError(400, "delay_seconds must be a number from 0 to 60")
        if status is not None and (not isinstance(status, int) or not 400 <= status <= 599):
            raise ApiError(400, "status must be an HTTP error status (400-599)")
        if count is not None and (not isinstance(count, int) or count < 1):
            raise ApiError(400, "count must be a positive integer (absent: until reset)")
        if error_code is not None and not isinstance(error_code, str):
            raise ApiError(400, "errorCode must be a string")
        behaviour = Behaviour(float(delay), status, error_code, count)
        with self._lock:
            self._behaviour = behaviour
        logger.info("RP API behaviour set: %s", behaviour.public())
        return behaviour

    def behaviour(self) -> Behaviour | None:
        with self._lock:
            return None if self._behaviour is None else Behaviour(**vars(self._behaviour))

    def reset(self) -> None:
        with self._lock:
            self._orders.clear()
            self._behaviour = None
        logger.info("reset: no orders, normal behaviour")

    # -- inside the lock --

    def _rp_order(self, body: dict[str, Any]) -> Order:
        ref = _required_str(body, "orderRef")
        self._forget_old()
        order = self._orders.get(ref)
        if order is None:
            raise ApiError(400, "No such order")
        self._expire_if_due(order)
        return order

    def _find(self, ref: str, wait_seconds: float = 0) -> Order:
        """An order by reference, or ``latest``: the newest pending one (waiting if asked)."""
        deadline = time.monotonic() + wait_seconds
        while True:
            self._forget_old()
            for order in self._orders.values():
                self._expire_if_due(order)
            if ref == "latest":
                pending = [o for o in self._orders.values() if o.status == "pending"]
                if pending:
                    return max(pending, key=lambda o: o.created)
            elif ref in self._orders:
                return self._orders[ref]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                what = "no pending order" if ref == "latest" else f"no order {ref!r}"
                raise ApiError(404, what)
            self._lock.wait(remaining)

    def _end(self, ref: str, hint_code: str, wait_seconds: float) -> Order:
        with self._lock:
            order = self._find(ref, wait_seconds)
            self._require_pending(order)
            self._fail(order, hint_code)
            logger.info("order %s failed: %s", _short(order.order_ref), hint_code)
            return _copy(order)

    @staticmethod
    def _require_pending(order: Order) -> None:
        if order.status != "pending":
            raise ApiError(
                409, f"order is {order.status}/{order.hint_code}, not pending", "conflict"
            )

    @staticmethod
    def _fail(order: Order, hint_code: str) -> None:
        order.status, order.hint_code, order.completion_data = "failed", hint_code, None

    def _expire_if_due(self, order: Order) -> None:
        """After 180 s an order answers failed/expiredTransaction, complete ones included."""
        if order.status != "failed" and self.clock() >= order.expires:
            self._fail(order, "expiredTransaction")

    def _forget_old(self) -> None:
        now = self.clock()
        for ref in [r for r, o in self._orders.items() if now > o.expires + FORGET_AFTER]:
            del self._orders[ref]

    # -- certificates --

    def _signer(self, username: str, variant: str) -> _Signer:
        key_ = (username, variant)
        signer = self._signers.get(key_)
        if signer is None:
            cert = self.pki.user_cert(username, variant)
            key = serialization.load_pem_private_key(cert.key.read_bytes(), password=None)
            assert isinstance(key, rsa.RSAPrivateKey)
            signer = _Signer(
                certificate=_der(cert.cert),
                chain=tuple(_der(path) for path in cert.chain),
                key=key,
                user={
                    "personalIdentityNumber": cert.personal_identity_number,
                    "givenName": cert.given_name,
                    "surname": cert.surname,
                    "name": f"{cert.given_name} {cert.surname}",
                },
            )
            self._signers[key_] = signer
        return signer


# --- the RP API (HTTPS, mutual TLS) -----------------------------------------------------------


class RpApi:
    """WSGI app of docs/efos-rp-api.md; the TLS layer has already checked the client."""

    ROUTES: ClassVar[dict[str, str]] = {
        "/rp/v1/auth": "auth",
        "/rp/v1/collect": "collect",
        "/rp/v1/cancel": "cancel",
    }

    def __init__(self, simulator: EfosSimulator) -> None:
        self.simulator = simulator

    def __call__(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = MAX_BODY
        try:
            response = self.handle(request)
        except ApiError as error:
            response = error.response()
        except Exception:  # a simulator bug must still answer like the spec says
            logger.exception("RP API %s failed", request.path)
            response = ApiError(500, "internal error in the simulator").response()
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        self._check_client(request)
        behaviour = self.simulator.take_behaviour()
        if behaviour is not None:
            if behaviour.delay_seconds:
                time.sleep(behaviour.delay_seconds)
            if behaviour.status is not None:
                logger.info("RP API %s answered %s by behaviour", request.path, behaviour.status)
                raise ApiError(
                    behaviour.status, "simulated by the control API", behaviour.error_code
                )
        operation = self.ROUTES.get(request.path)
        if operation is None:
            raise ApiError(404, f"no such path: {request.path}")
        if request.method != "POST":
            raise ApiError(405, "use POST", "invalidParameters")
        body = _json_body(request)
        return _json(getattr(self.simulator, operation)(body))

    def _check_client(self, request: Request) -> None:
        """Defence in depth behind the handshake: only the proxy's own client certificate."""
        pem = request.environ.get("SSL_CLIENT_CERT")
        if not pem:
            raise ApiError(401, "no client certificate")
        cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
        if cert.fingerprint(hashes.SHA256()) != self.simulator.rp_client_fingerprint:
            raise ApiError(403, "unknown client certificate")


# --- the phone page and the control API (plain HTTP, loopback) --------------------------------


# The simulators share one template environment (Swedish first, ``t("sv", "en")``).
TEMPLATES = demo_templates

VARIANT_LABELS = {
    "normal": ("Giltigt certifikat", "Valid certificate"),
    "revoked": ("Spärrat certifikat", "Revoked certificate"),
    "expired": ("Utgånget certifikat", "Expired certificate"),
    "wrong_policy": ("Fel certifikatpolicy", "Wrong certificate policy"),
    "foreign_ca": ("Okänd utfärdare", "Unknown issuer"),
    "bad_signature": ("Felaktig signatur", "Bad signature"),
}
HINT_LABELS = {
    "outstandingTransaction": ("Väntar på appen", "Waiting for the app"),
    "noClient": ("Appen har inte svarat", "The app has not answered"),
    "started": ("Appen har hämtat inloggningen", "The app has picked up the login"),
    "userSign": ("Väntar på PIN-kod", "Waiting for the PIN"),
}


class PhoneApp:
    """The pretend Mobilt Efos app (HTML) and the control API (JSON) on one plain-HTTP port."""

    def __init__(self, simulator: EfosSimulator) -> None:
        self.simulator = simulator

    def __call__(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = MAX_BODY
        lang = "en" if request.values.get("lang") == "en" else "sv"
        try:
            if request.path.startswith("/control/"):
                response = self.control(request)
            elif request.path == "/" and request.method in ("GET", "HEAD"):
                response = self.phone_page(request, lang)
            elif request.path == "/approve" and request.method == "POST":
                self._check_origin(request)
                response = self.approve(request, lang)
            elif request.path == "/scan" and request.method == "POST":
                self._check_origin(request)
                response = self.scan(request, lang)
            else:
                response = self._page(
                    "efos_error.html", lang, 404, error=("Sidan finns inte.", "No such page.")
                )
        except ApiError as error:
            if request.path.startswith("/control/"):
                response = error.response()
            else:
                response = self._page(
                    "efos_error.html", lang, error.status, error=(error.details, error.details)
                )
        except HTTPException as error:  # e.g. a form larger than MAX_BODY
            response = ApiError(error.code or 400, error.description or "bad request").response()
        except Exception:
            logger.exception("phone/control %s failed", request.path)
            response = ApiError(500, "internal error in the simulator").response()
        response.headers.set(*SIMULATOR_HEADER)
        return response(environ, start_response)

    # -- HTML --

    def phone_page(
        self,
        request: Request,
        lang: str,
        *,
        status: int = 200,
        error: tuple[str, str] | None = None,
        qr_text: str = "",
    ) -> Response:
        args = request.values
        username = args.get("user") if args.get("user") in self.simulator.users else None
        username = username or next(iter(self.simulator.users), "")
        variant = args.get("variant") if args.get("variant") in APPROVE_VARIANTS else "normal"
        highlight = None
        if args.get("autostarttoken"):
            started = self.simulator.autostart(args["autostarttoken"])
            highlight = started.order_ref if started else None
        message = None
        ref = _short(args.get("ref", ""))
        if args.get("done") == "approved":
            message = (f"Godkänd: {ref}", f"Approved: {ref}")
        elif args.get("done") == "denied":
            message = (f"Nekad: {ref}", f"Denied: {ref}")
        orders = [
            {
                "ref": order.order_ref,
                "short": _short(order.order_ref),
                "created": dt.datetime.fromtimestamp(order.created).strftime("%H:%M:%S"),
                "text": order.user_visible_data,
                "hint": HINT_LABELS.get(order.hint_code or "", (order.hint_code, order.hint_code)),
                "highlight": order.order_ref == highlight,
            }
            for order in self.simulator.orders()
            if order.status == "pending"
        ]
        keep = {"user": username, "variant": variant}
        switch = {**keep, "lang": "sv" if lang == "en" else "en"}
        return self._page(
            "efos_phone.html",
            lang,
            status,
            users=[
                (cert.username, f"{cert.given_name} {cert.surname}", cert.personal_identity_number)
                for cert in map(self.simulator.pki.user_cert, self.simulator.users)
            ],
            user=username,
            variant=variant,
            variants=[(name, VARIANT_LABELS[name]) for name in APPROVE_VARIANTS],
            orders=orders,
            message=message,
            error=error,
            qr_text=qr_text,
            switch_url="/?" + urlencode(switch),
            refresh=status == 200,
        )

    def approve(self, request: Request, lang: str) -> Response:
        form = request.form
        action, ref = form.get("action"), form.get("order_ref", "")
        username, variant = form.get("user", ""), form.get("variant", "normal")
        if action == "deny":
            self.simulator.deny(ref)
            done = "denied"
        elif action == "approve":
            self.simulator.approve(ref, username, variant)
            done = "approved"
        else:
            raise ApiError(400, "action must be approve or deny")
        return self._back(lang, username, variant, done, ref)

    def scan(self, request: Request, lang: str) -> Response:
        form = request.form
        text = form.get("qrData", "")
        username, variant = form.get("user", ""), form.get("variant", "normal")
        try:
            order = self.simulator.scan_qr(text, username, variant)
        except QrRefused as refusal:
            logger.info("QR code refused: %s", refusal.details)
            return self.phone_page(request, lang, status=400, error=refusal.message, qr_text=text)
        return self._back(lang, username, variant, "approved", order.order_ref)

    @staticmethod
    def _back(lang: str, username: str, variant: str, done: str, ref: str) -> Response:
        """Post/redirect/get: a reload of the phone page must not approve again."""
        query = urlencode(
            {"lang": lang, "user": username, "variant": variant, "done": done, "ref": ref}
        )
        return Response(status=303, headers={"Location": f"/?{query}"})

    @staticmethod
    def _check_origin(request: Request) -> None:
        """Another site's page may not press the buttons for the user (cross-site POST)."""
        origin = request.headers.get("Origin")
        if origin and urlsplit(origin).netloc != request.host:
            raise ApiError(403, "cross-site form post refused")

    @staticmethod
    def _page(template: str, lang: str, status: int, **context: Any) -> Response:
        html = TEMPLATES.get_template(template).render(lang=lang, **context)
        return Response(
            html,
            status=status,
            content_type="text/html; charset=utf-8",
            headers={"Cache-Control": "no-store"},
        )

    # -- JSON --

    def control(self, request: Request) -> Response:
        """``/control/orders``, ``/control/orders/<ref>/<action>``, behaviour, reset."""
        parts = request.path.strip("/").split("/")[1:]
        sim = self.simulator
        if parts == ["orders"] and request.method in ("GET", "POST"):  # POST: lenient helpers
            return _json({"orders": [order.public() for order in sim.orders()]})
        if parts == ["behaviour"] and request.method == "GET":
            behaviour = sim.behaviour()
            return _json({"behaviour": behaviour.public() if behaviour else None})
        if request.method != "POST":
            raise ApiError(404, f"no such control call: {request.method} {request.path}")
        body = _control_body(request)
        if parts == ["behaviour"]:
            return _json({"behaviour": sim.set_behaviour(body).public()})
        if parts == ["reset"]:
            sim.reset()
            return _json({})
        if len(parts) == 3 and parts[0] == "orders":
            ref, action = parts[1], parts[2]
            wait = body.get("wait_seconds", 0)
            if not isinstance(wait, int | float) or not 0 <= wait <= 60:
                raise ApiError(400, "wait_seconds must be a number from 0 to 60")
            if action == "approve":
                user = _required_str(body, "user")
                order = sim.approve(ref, user, body.get("variant", "normal"), wait)
            elif action == "deny":
                order = sim.deny(ref, wait)
            elif action == "expire":
                order = sim.expire(ref, wait)
            elif action == "hint":
                status = body.get("status")
                order = sim.set_hint(ref, _required_str(body, "hintCode"), status, wait)
            elif action == "backdate":
                seconds = body.get("seconds")
                if not isinstance(seconds, int | float) or seconds < 0:
                    raise ApiError(400, "seconds must be a number >= 0")
                order = sim.backdate(ref, seconds)
            else:
                raise ApiError(404, f"no such order action: {action}")
            return _json(order.public())
        raise ApiError(404, f"no such control call: POST {request.path}")


# --- running it -------------------------------------------------------------------------------


class _PhoneHandler(LabelledRequestHandler):
    log_to = logger
    quiet = frozenset({"/"})
    label = "phone/control"


class _TlsHandler(MutualTlsRequestHandler):
    log_to = logger
    label = "RP API"


def make_tls_context(pki: Pki) -> ssl.SSLContext:
    """Mutual TLS: our server certificate; only the service TLS CA's client certificates."""
    return mutual_tls_context(pki.server_cert, pki.server_key, pki.service_ca_cert)


class OcspResponder:
    """``openssl ocsp`` for the issuing CA, as a child that stops with the simulator."""

    def __init__(self, pki: Pki, port: int, openssl: str = "openssl") -> None:
        self.pki = pki
        self.port = port
        self.openssl = openssl
        self.process: subprocess.Popen[bytes] | None = None
        self._listening = threading.Event()

    def argv(self) -> list[str]:
        """The responder's command line (checked against ``openssl ocsp -help`` of OpenSSL 3.0).

        ``-rother`` puts the issuing CA in every response so that a client that trusts only the
        root can verify the delegated signer; ``-ignore_err`` keeps it running after a bad
        request; ``-nmin 5`` gives nextUpdate = thisUpdate + 5 minutes.
        """
        pki = self.pki
        return [
            self.openssl, "ocsp",
            "-index", str(pki.index_file),
            "-port", str(self.port),
            "-rsigner", str(pki.ocsp_signer_cert),
            "-rkey", str(pki.ocsp_signer_key),
            "-CA", str(pki.issuing_ca_cert),
            "-rother", str(pki.issuing_ca_cert),
            "-nmin", "5",
            "-ignore_err",
        ]  # fmt: skip

    def start(self, timeout: float = 10) -> None:
        """Start the child and wait for its ``ACCEPT`` line (must run on a long-lived thread)."""
        self.process = subprocess.Popen(
            self.argv(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,  # only a prctl between fork and exec
        )
        threading.Thread(target=self._relay, name="ocsp-log", daemon=True).start()
        deadline = time.monotonic() + timeout
        while not self._listening.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"openssl ocsp did not start on port {self.port} (see the log above)"
                )

    def _relay(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            if line.startswith("ACCEPT"):
                self._listening.set()
            if line:
                logger.info("OCSP responder: %s", line)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        logger.info("ocsp: responder stopped")


def _die_with_parent() -> None:
    """Linux: the OCSP child gets SIGTERM if the simulator dies without stopping it."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class RunningSimulator:
    """The three listeners of a started simulator; ``stop()`` ends them and the OCSP child."""

    simulator: EfosSimulator
    pki: Pki
    api_url: str
    phone_url: str
    ocsp_url: str
    servers: list[BaseWSGIServer] = field(default_factory=list)
    ocsp: OcspResponder | None = None
    threads: list[threading.Thread] = field(default_factory=list)

    def stop(self) -> None:
        stop_servers(self.servers, self.threads)
        if self.ocsp is not None:
            self.ocsp.stop()


def start_simulator(
    state_dir: Path,
    host: str = "127.0.0.1",
    api_port: int = DEFAULT_API_PORT,
    phone_port: int = DEFAULT_PHONE_PORT,
    ocsp_port: int = DEFAULT_OCSP_PORT,
) -> RunningSimulator:
    """Prepare the PKI and start everything (in this process; ``main`` adds signals and output).

    Call it from a thread that lives as long as the simulator: the OCSP child is bound to it.
    """
    # What clients on this machine use: the same AIA URL and server names that demo.prepare
    # asks prepare_pki for, so starting the simulator reuses the PKI instead of reissuing it.
    unspecific = host in ("", "0.0.0.0", "::", "localhost")  # noqa: S104
    public_host = "127.0.0.1" if unspecific else host
    url_host = f"[{public_host}]" if ":" in public_host else public_host
    if not is_loopback(host):
        logger.warning(
            "listening on %s: the control API is reachable by anyone who can connect", host
        )
    server_names = list(dict.fromkeys(["localhost", "127.0.0.1", public_host]))
    ocsp_url = f"http://{url_host}:{ocsp_port}"
    pki = prepare_pki(Path(state_dir), ocsp_url=ocsp_url, server_names=server_names)
    simulator = EfosSimulator(pki, load_demo_users())
    running = RunningSimulator(
        simulator=simulator,
        pki=pki,
        api_url=f"https://{url_host}:{api_port}/rp/v1",
        phone_url=f"http://{url_host}:{phone_port}/",
        ocsp_url=ocsp_url,
    )
    # Bind first: a port in use fails here with a plain OSError (werkzeug's own bind would print
    # unprefixed lines and exit), before any child process exists.
    with listen(host, api_port) as api_socket, listen(host, phone_port) as phone_socket:
        try:
            running.ocsp = OcspResponder(pki, ocsp_port)
            running.ocsp.start()
            api = make_simulator_server(
                RpApi(simulator), api_socket, _TlsHandler, make_tls_context(pki)
            )
            running.servers.append(api)
            phone = make_simulator_server(PhoneApp(simulator), phone_socket, _PhoneHandler)
            running.servers.append(phone)
        except BaseException:
            running.stop()
            raise
    running.threads.extend(serve_in_threads(running.servers, ("efos-rp-api", "efos-phone")))
    return running


def configure_logging(level: int = logging.INFO, stream: Any = None) -> None:
    """Send the simulator's loggers (and werkzeug's) to ``stream`` with the SIMULATOR prefix."""
    names = (LOGGER_NAME, "satosa_efos.simulators.efos_pki", "werkzeug")
    configure_simulator_logging(names, "efos-simulator", level, stream)


def main(argv: Sequence[str] | None = None) -> int:
    """``satosa-efos simulate efos``: run the simulator until SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="satosa-efos simulate efos",
        description="Mobilt Efos SIMULATOR (demo and tests only; not the real service).",
    )
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--api-port", type=int, default=DEFAULT_API_PORT)
    parser.add_argument("--phone-port", type=int, default=DEFAULT_PHONE_PORT)
    parser.add_argument("--ocsp-port", type=int, default=DEFAULT_OCSP_PORT)
    args = parser.parse_args(argv)
    configure_logging()
    return run_until_stopped(lambda stop: _serve(args, stop))


def _serve(args: argparse.Namespace, stop: threading.Event) -> int:
    try:
        running = start_simulator(
            args.state_dir, args.host, args.api_port, args.phone_port, args.ocsp_port
        )
    except (OSError, RuntimeError) as error:  # a port in use, openssl refused to start
        logger.error("could not start: %s", error)
        return 1
    except Exception:
        logger.exception("could not start")
        return 1
    pki = running.pki
    for line in (
        "Mobilt Efos SIMULATOR - demo and tests only, not the real service",
        f"RP API (mutual TLS): {running.api_url}",
        f"  pin the service CA: {pki.service_ca_cert}",
        f"  client certificate: {pki.rp_client_cert} (key {pki.rp_client_key})",
        f"  Efos trust anchors: {pki.issuing_ca_cert} (root {pki.root_ca_cert})",
        f"phone page:  {running.phone_url}",
        f"control API: {running.phone_url}control/orders",
        f"OCSP:        {running.ocsp_url} (openssl ocsp; it listens on every interface)",
    ):
        print(f"{LABEL} {line}", flush=True)
    try:
        while not stop.wait(0.5):
            if running.ocsp and running.ocsp.process and running.ocsp.process.poll() is not None:
                logger.error("the OCSP responder exited; stopping")
                break
    finally:
        running.stop()
        print(f"{LABEL} stopped", flush=True)
    return 0


# --- helpers ----------------------------------------------------------------------------------


def _json(data: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(data, ensure_ascii=False),
        status=status,
        content_type="application/json",
        headers=[("Cache-Control", "no-store"), SIMULATOR_HEADER],
    )


def _read(request: Request) -> bytes:
    try:
        return request.get_data(cache=False)
    except HTTPException:  # larger than MAX_BODY
        raise ApiError(400, f"the body is larger than {MAX_BODY} bytes") from None


def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(_read(request) or b"null")
    except ValueError:
        raise ApiError(400, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


def _control_body(request: Request) -> dict[str, Any]:
    """A control call's JSON (may be empty); only ``application/json``, so no plain form of
    another site can trigger it (a cross-site JSON post needs CORS, which is never granted)."""
    data = _read(request)
    if not data:
        return {}
    if request.mimetype != "application/json":
        raise ApiError(415, "send application/json", "invalidParameters")
    try:
        body = json.loads(data)
    except ValueError:
        raise ApiError(400, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


def _required_str(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(400, f"{name} is missing or not a string")
    return value


def _b64decode(value: str, name: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, f"{name} is not base64") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _der(path: Path) -> bytes:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return cert.public_bytes(serialization.Encoding.DER)


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="milliseconds")


def _short(order_ref: str) -> str:
    return order_ref[:8]


def _copy(order: Order) -> Order:
    return Order(**{**vars(order), "certificate_policies": list(order.certificate_policies)})


if __name__ == "__main__":
    sys.exit(main())
