"""Refusals of the user's Efos certificate, each with a stable code (DESIGN.md §7–8).

The codes name the check that failed, so the error page, the log and the tests agree on what
went wrong without parsing English. ``detail`` is written to the log: it never carries the
certificate's subject (it holds the personnummer, DESIGN.md §7), only serial numbers and CA names.
"""

from __future__ import annotations

from satosa_efos.errors import ProxyError

#: Every code a :class:`CertificateRefused` can carry. Codes are part of the API: do not rename.
REFUSAL_CODES: frozenset[str] = frozenset(
    {
        "efos.untrusted",
        "efos.expired",
        "efos.not_yet_valid",
        "efos.key_usage",
        "efos.policy",
        "efos.revoked",
        "efos.ocsp_unavailable",
        "efos.bad_signature",
        "efos.subject",
    }
)

#: A responder we cannot reach is the service's fault, not the user's: "try again later".
_STATUS = {"efos.ocsp_unavailable": 503}


class CertificateRefused(ProxyError):
    """The certificate (or the signature made with it) fails one of the checks of
    docs/efos-rp-api.md *Completion*; ``code`` says which one."""

    code, status = "efos.untrusted", 403

    def __init__(self, code: str, detail: str) -> None:
        if code not in REFUSAL_CODES:
            raise ValueError(f"unknown certificate refusal code {code!r}")
        super().__init__(detail, code=code, status=_STATUS.get(code, 403))

    def __reduce__(self) -> tuple[type[CertificateRefused], tuple[str, str]]:
        # Keep refusals picklable (the default reduce would call __init__ with one argument).
        return (type(self), (self.code, self.detail))


class OcspUnavailable(CertificateRefused):
    """No usable OCSP answer: unreachable, malformed, badly signed, stale or for another
    certificate. Hard mode refuses the login with it; soft mode logs it and goes on."""

    def __init__(self, detail: str) -> None:
        super().__init__("efos.ocsp_unavailable", detail)

    def __reduce__(self) -> tuple[type[OcspUnavailable], tuple[str]]:  # type: ignore[override]
        return (type(self), (self.detail,))
