"""Client of the Mobilt Efos RP API (docs/efos-rp-api.md): start, collect, cancel.

Every call is one short HTTPS request with mutual TLS and a timeout; no request of the proxy
waits for the user. Anything that is the service's fault (a timeout, a TLS or connection
failure, a 5xx, a 408, an answer that is not the JSON the API promises) becomes
:class:`EfosUnavailable`, which the user sees as "Mobilt Efos är inte tillgängligt just nu".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import requests

from satosa_efos.errors import ProxyError
from satosa_efos.metrics import upstream_call

logger = logging.getLogger(__name__)

PENDING, FAILED, COMPLETE = "pending", "failed", "complete"


class EfosUnavailable(ProxyError):
    code, status = "efos_unavailable", 503


class EfosRequestRefused(ProxyError):
    """The service refused a request as malformed (e.g. an unknown or expired orderRef)."""

    code, status = "efos_refused", 400


@dataclass(frozen=True)
class Order:
    order_ref: str
    auto_start_token: str
    qr_start_token: str
    qr_start_secret: str


@dataclass(frozen=True)
class CollectResult:
    order_ref: str
    status: str
    hint_code: str | None = None
    completion: dict[str, Any] = field(default_factory=dict)


class CollectClient:
    def __init__(
        self,
        api_url: str,
        *,
        client_cert: str,
        client_key: str,
        server_ca: str,
        timeout: float = 5.0,
    ):
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        # Mutual TLS, and only the service's own CA is trusted (not the system store).
        self.session.cert = (client_cert, client_key)
        self.session.verify = server_ca
        # Without this, REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the environment would silently
        # replace the pinned CA with the system bundle (and proxy variables would apply).
        self.session.trust_env = False

    def _call(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        with upstream_call("efos", operation):  # timed and counted (docs/operations.md, Metrics)
            return self._request(operation, body)

    def _request(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.api_url}/{operation}"
        try:
            response = self.session.post(url, json=body, timeout=self.timeout)
        except requests.Timeout as exc:
            raise EfosUnavailable(f"{operation}: no answer within {self.timeout} s") from exc
        except requests.RequestException as exc:
            raise EfosUnavailable(f"{operation}: {type(exc).__name__}: {exc}") from exc
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code == 200 and isinstance(data, dict):
            return data
        error = data.get("errorCode") if isinstance(data, dict) else None
        detail = f"{operation}: HTTP {response.status_code} {error or 'no errorCode'}"
        if response.status_code == 400:
            raise EfosRequestRefused(detail)
        raise EfosUnavailable(detail)

    def auth(
        self,
        *,
        end_user_ip: str,
        challenge: str,
        user_visible_data: str | None = None,
        certificate_policies: list[str] | None = None,
    ) -> Order:
        body: dict[str, Any] = {"endUserIp": end_user_ip, "challenge": challenge}
        if user_visible_data:
            body["userVisibleData"] = user_visible_data
        if certificate_policies:
            body["certificatePolicies"] = certificate_policies
        data = self._call("auth", body)
        try:
            return Order(
                data["orderRef"],
                data["autoStartToken"],
                data["qrStartToken"],
                data["qrStartSecret"],
            )
        except KeyError as exc:
            raise EfosUnavailable(f"auth: answer without {exc}") from exc

    def collect(self, order_ref: str) -> CollectResult:
        data = self._call("collect", {"orderRef": order_ref})
        status = data.get("status")
        if data.get("orderRef") != order_ref or status not in (PENDING, FAILED, COMPLETE):
            raise EfosUnavailable(f"collect: unexpected answer for {order_ref}")
        completion = data.get("completionData") or {}
        if status == COMPLETE and not isinstance(completion, dict):
            raise EfosUnavailable("collect: complete without completionData")
        return CollectResult(order_ref, status, data.get("hintCode"), completion)

    def cancel(self, order_ref: str) -> None:
        try:
            self._call("cancel", {"orderRef": order_ref})
        except ProxyError as exc:  # cancelling is a courtesy; the order expires anyway
            logger.warning("cancelling Efos order failed: %s", exc.detail)
