"""Mobilt Efos login as a SATOSA backend: QR code or same-device app start, then collect.

The flow (docs/efos-rp-api.md):

1. ``start_auth``: start an order at the national service (one short call with a random
   challenge), keep the order in SATOSA's encrypted state, send the browser to the QR page.
2. The QR page (``<name>/page``) shows an animated QR code rendered server-side, a button that
   starts the app on the same device, and the order's status. Small JavaScript fetches a new QR
   frame every second (``<name>/qr``) and the status every two (``<name>/status``, one collect
   call each); without JavaScript the page refreshes itself. No request waits for the user.
3. When the order is complete, ``<name>/complete`` collects it once more, validates the user's
   certificate (chain, validity, key usage, policy, OCSP) and the signature over this order's
   challenge, consumes the order (once, across all workers), and hands the login to SATOSA.

The order belongs to the browser whose state holds it: every endpoint reads the order from the
state, never from a parameter, so another session cannot poll or complete it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from pydantic import BaseModel, ConfigDict, Field
from satosa.backends.base import BackendModule
from satosa.internal import AuthenticationInformation, InternalData
from satosa.response import Redirect, Response

from satosa_efos.efos import attributes as cert_attributes
from satosa_efos.efos.certificates import (
    CertificateRefused,
    OcspChecker,
    OcspPolicy,
    OcspUnavailable,
    TrustSettings,
    accepted_policy_oid,
    validate_certificate,
    verify_challenge_signature,
)
from satosa_efos.efos.client import COMPLETE, FAILED, CollectClient, EfosUnavailable
from satosa_efos.efos.qr import qr_data, qr_svg
from satosa_efos.errors import ProxyError, SessionExpired
from satosa_efos.failures import LoginFailed, Reason
from satosa_efos.identity.loa import LoA, accepted_loas
from satosa_efos.sessions.once import OnceStore
from satosa_efos.state_keys import REQUESTED_LOA, ROUTING
from satosa_efos.web.efos_texts import hint_message
from satosa_efos.web.lang import page_lang
from satosa_efos.web.render import render

logger = logging.getLogger(__name__)

ORDER_LIFETIME = 180  # seconds (docs/efos-rp-api.md)


class OcspSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["hard", "soft"] = "hard"
    responder_url: str | None = None
    timeout: float = Field(3.0, gt=0, le=30)


class EfosConfig(BaseModel):
    """The backend's ``config``; paths are relative to the configuration directory."""

    model_config = ConfigDict(extra="forbid")

    api_url: str
    client_cert: str
    client_key: str
    server_ca: str
    timeout: float = Field(5.0, gt=0, le=30)
    trust_anchors: list[str] = Field(min_length=1)
    policy_oids: list[str] = Field(default_factory=lambda: ["1.2.752.146.200.3"])
    #: Certificate policy (or arc) -> the internal LoA of a login with it (DOMAIN.md §5). The
    #: wire URI is the frontend's business, per application.
    loa_by_policy: dict[str, LoA] = Field(default_factory=lambda: {"1.2.752.146.200.3": LoA.LOA3})
    #: The national service's identifier, written as the assertion's AuthenticatingAuthority
    #: (Swedish eID deployment profile §6.2); default: ``api_url``.
    authority: str | None = None
    ocsp: OcspSettings = Field(default_factory=OcspSettings)
    attribute_mapping: cert_attributes.IssuerMapping = Field(
        default_factory=cert_attributes.IssuerMapping
    )
    #: Per issuing CA (its subject DN, RFC 4514, e.g. "CN=Efos Issuing CA,O=...,C=SE").
    issuer_mappings: dict[str, cert_attributes.IssuerMapping] = Field(default_factory=dict)
    launch_url: str = "efos:///?autostarttoken={token}&redirect=null"
    user_visible_data: str = "Inloggning via Inloggningstjänsten för Västra Götaland"
    once_store: str = "state/efos-orders.sqlite3"
    #: A secret for the pseudonymous subject id (never the personnummer as NameID).
    subject_key: str = Field(min_length=16)


class CertificateNotAccepted(ProxyError):
    code, status = "efos_certificate", 403


class OrderReplayed(ProxyError):
    code, status = "efos_replay", 403


def _pem_or_der(path: str) -> list[x509.Certificate]:
    data = Path(path).read_bytes()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


class EfosMobileBackend(BackendModule):
    CONFIG_MODEL = EfosConfig

    def __init__(self, auth_callback_func, internal_attributes, config, base_url, name):
        super().__init__(auth_callback_func, internal_attributes, base_url, name)
        self.config = EfosConfig.model_validate(config)
        self.client = CollectClient(
            self.config.api_url,
            client_cert=self.config.client_cert,
            client_key=self.config.client_key,
            server_ca=self.config.server_ca,
            timeout=self.config.timeout,
        )
        anchors = tuple(c for path in self.config.trust_anchors for c in _pem_or_der(path))
        ocsp = OcspPolicy(
            mode=self.config.ocsp.mode,
            responder_url=self.config.ocsp.responder_url,
            timeout=self.config.ocsp.timeout,
        )
        self.trust = TrustSettings(
            anchors=anchors, policy_oids=frozenset(self.config.policy_oids), ocsp=ocsp
        )
        self.ocsp = OcspChecker()
        self.once = OnceStore(self.config.once_store)
        self._subject_key = self.config.subject_key.encode()

    # -- SATOSA plumbing ------------------------------------------------------------------------

    def register_endpoints(self):
        return [
            (f"^{self.name}/page$", self.page),
            (f"^{self.name}/qr$", self.qr),
            (f"^{self.name}/status$", self.status),
            (f"^{self.name}/complete$", self.complete),
            (f"^{self.name}/cancel$", self.cancel),
            (f"^{self.name}/retry$", self.retry),
        ]

    def start_auth(self, context, internal_request):
        if (context.state.get(ROUTING) or {}).get("hints", {}).get("is_passive"):
            raise LoginFailed(context.state, Reason.NO_PASSIVE, "Mobilt Efos needs its QR page")
        # DOMAIN.md §5: no order when no certificate policy can give an accepted level.
        accepted = accepted_loas(context.state.get(REQUESTED_LOA))
        if not set(self.config.loa_by_policy.values()) & set(accepted):
            raise LoginFailed(context.state, Reason.LOA_NOT_MET,
                              f"Mobilt Efos gives {sorted(set(self.config.loa_by_policy.values()))}"
                              f", the application accepts {accepted}")  # fmt: skip
        self._start_order(context)
        return Redirect(self._url("page"))

    # -- the order in the state ---------------------------------------------------------------

    def _start_order(self, context) -> dict:
        challenge = base64.b64encode(secrets.token_bytes(32)).decode()
        visible = base64.b64encode(self.config.user_visible_data.encode()).decode()
        order = self.client.auth(
            end_user_ip=_client_ip(context),
            challenge=challenge,
            user_visible_data=visible,
            certificate_policies=list(self.config.policy_oids),
        )
        saved = {
            "order_ref": order.order_ref,
            "auto_start_token": order.auto_start_token,
            "qr_start_token": order.qr_start_token,
            "qr_start_secret": order.qr_start_secret,
            "challenge": challenge,
            "started": time.time(),
        }
        context.state[self.name] = saved
        return saved

    def _order(self, context) -> dict:
        order = context.state.get(self.name) if context.state else None
        if not order or "order_ref" not in order:
            raise SessionExpired("Efos endpoint without an order in this browser's state")
        return order

    def _url(self, endpoint: str, lang: str = "sv") -> str:
        suffix = "?lang=en" if lang == "en" else ""
        return f"{self.base_url}/{self.name}/{endpoint}{suffix}"

    # -- pages and polling ----------------------------------------------------------------------

    def _qr(self, order: dict, lang: str) -> str:
        seconds = max(0, int(time.time() - order["started"]))
        title = "QR-kod för Mobilt Efos" if lang == "sv" else "QR code for Mobilt Efos"
        return qr_svg(
            qr_data(order["qr_start_token"], order["qr_start_secret"], seconds), title=title
        )

    def page(self, context):
        """The QR page; without JavaScript it refreshes itself and collects once per view."""
        lang = page_lang(context)
        order = self._order(context)
        result = self.client.collect(order["order_ref"])
        if result.status == COMPLETE:
            return Redirect(self._url("complete", lang))
        expired = result.status == FAILED
        html = render(
            "efos.html",
            lang=lang,
            qr=None if expired else self._qr(order, lang),
            message=hint_message(result.status, result.hint_code, lang),
            failed=expired,
            launch_url=self.config.launch_url.replace(
                "{token}", quote(order["auto_start_token"], safe="")
            ),
            urls={k: self._url(k, lang) for k in ("qr", "status", "complete", "cancel", "retry")},
            switch_url=self._url("page", "sv" if lang == "en" else "en"),
        )
        return Response(html, content="text/html; charset=utf-8")

    def qr(self, context):
        order = self._order(context)
        return Response(
            self._qr(order, page_lang(context)),
            content="image/svg+xml",
            headers=[("Cache-Control", "no-store")],
        )

    def status(self, context):
        """One collect call; the page's script shows the message and leaves when complete."""
        lang = page_lang(context)
        order = self._order(context)
        try:
            result = self.client.collect(order["order_ref"])
        except EfosUnavailable as exc:
            logger.warning("Efos collect failed: %s", exc.detail)
            body = {"status": "unavailable", "message": _unavailable(lang)}
        else:
            body = {
                "status": result.status,
                "hintCode": result.hint_code,
                "message": hint_message(result.status, result.hint_code, lang),
            }
        return _json(body)

    def cancel(self, context):
        order = self._order(context)
        self.client.cancel(order["order_ref"])
        context.state.pop(self.name, None)
        raise_cancelled(context)

    def retry(self, context):
        """After an expired or failed order: a new order, a new QR code."""
        order = self._order(context)
        self.client.cancel(order["order_ref"])
        self._start_order(context)
        return Redirect(self._url("page", page_lang(context)))

    # -- completion -----------------------------------------------------------------------------

    def complete(self, context):
        order = self._order(context)
        result = self.client.collect(order["order_ref"])
        if result.status != COMPLETE:
            return Redirect(self._url("page", page_lang(context)))
        data = result.completion
        certificate, chain = _certificates(data)
        expected = f"{order['order_ref']}.{order['challenge']}"
        try:
            if data.get("signedData") != expected:
                raise CertificateRefused("efos.bad_signature", "signedData is not this order's")
            verify_challenge_signature(
                certificate,
                expected.encode(),
                base64.b64decode(data.get("signature") or ""),
                str(data.get("signatureAlgorithm") or ""),
            )
            validate_certificate(certificate, chain, self.trust, ocsp=self.ocsp)
            mapping = cert_attributes.mapping_for_issuer(
                certificate, self.config.issuer_mappings, self.config.attribute_mapping
            )
            attributes = cert_attributes.certificate_attributes(certificate, mapping)
            policy = accepted_policy_oid(certificate, self.trust.policy_oids)
            loa = cert_attributes.loa_for_policy(policy, self.config.loa_by_policy)
        except OcspUnavailable as exc:
            context.state.pop(self.name, None)
            raise EfosUnavailable(f"{exc.code}: {exc.detail}") from exc
        except CertificateRefused as exc:
            context.state.pop(self.name, None)
            raise CertificateNotAccepted(f"{exc.code}: {exc.detail}") from exc
        if not self.once.claim(f"efos:{order['order_ref']}", ORDER_LIFETIME * 2):
            raise OrderReplayed(f"order {order['order_ref']} was already used")
        context.state.pop(self.name, None)
        response = self._internal_response(certificate, attributes, loa)
        return self.auth_callback_func(context, response)

    def _internal_response(
        self, certificate: x509.Certificate, attributes: dict, loa: str
    ) -> InternalData:
        # The internal LoA (``loa3``): the frontend answers with the URI of the application's
        # profile, and refuses the login if the application does not accept it.
        auth_info = AuthenticationInformation(
            str(LoA(loa)),
            datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            self.config.authority or self.config.api_url,
        )
        response = InternalData(auth_info=auth_info)
        response.attributes = dict(attributes)
        # The pseudonym is computed from the normalised identifier, so that one person has one
        # subject id whatever form the certificate writes the number in.
        identifier = (
            attributes.get("personalIdentityNumber")
            or attributes.get("employeeHsaId")
            or [certificate.fingerprint(_SHA256).hex()]
        )
        subject = identifier[0]
        response.subject_id = hmac.new(
            self._subject_key, f"efos:{subject}".encode(), hashlib.sha256
        ).hexdigest()
        response.subject_type = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
        return response


# -- helpers ------------------------------------------------------------------------------------

_SHA256 = hashes.SHA256()


def raise_cancelled(context) -> None:
    """The application gets an error response (SAML: the profile's cancel status), not a page."""
    raise LoginFailed(context.state, Reason.CANCELLED, "the user cancelled the Mobilt Efos login")


def _unavailable(lang: str) -> str:
    if lang == "en":
        return "Mobilt Efos is not available right now. Please try again in a while."
    return "Mobilt Efos är inte tillgängligt just nu. Försök igen om en stund."


def _json(body: dict) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False),
        content="application/json",
        headers=[("Cache-Control", "no-store")],
    )


def _client_ip(context) -> str:
    headers = context.http_headers or {}
    return headers.get("REMOTE_ADDR") or "127.0.0.1"


def _certificates(data: dict) -> tuple[x509.Certificate, list[x509.Certificate]]:
    try:
        certificate = x509.load_der_x509_certificate(base64.b64decode(data["certificate"]))
        chain = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in data.get("chain", [])]
    except (KeyError, ValueError, TypeError) as exc:
        raise EfosUnavailable(f"completion data without a readable certificate: {exc}") from exc
    return certificate, chain
