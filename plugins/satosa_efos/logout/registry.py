"""How the parts of single logout of one proxy find each other in a worker.

SATOSA gives its plugins no handle on each other: the SAML frontend's SingleLogoutService must
end the session that the ``sso`` micro-service's store holds, the logout walk must sign
LogoutRequests with the SAML frontend's key and know the OIDC frontend's issuer, and it must ask
the organisation IdP backend (the proxy's SP) to log the user out at the IdP too. Each part
registers itself here when SATOSA builds it, under the proxy's ``BASE`` URL (one worker runs one
proxy; tests may build several). This holds configuration objects only: nothing about a user
lives in worker memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ProxyParts", "proxy_parts"]


@dataclass
class ProxyParts:
    #: :class:`satosa_efos.sessions.service.SsoService` (from ``sso.yaml``).
    sso: Any = None
    #: :class:`satosa_efos.logout.walk.LogoutWalk`.
    walk: Any = None
    #: :class:`satosa_efos.frontends.saml_slo.SamlLogout` of the SAML frontend.
    saml: Any = None
    #: :class:`satosa_efos.frontends.oidc_logout.OidcLogout` of the OIDC frontend.
    oidc: Any = None
    #: :class:`satosa_efos.backends.upstream_slo.UpstreamLogout` of each SAML backend with a
    #: SingleLogoutService, by backend name.
    upstream: dict[str, Any] = field(default_factory=dict)


_PARTS: dict[str, ProxyParts] = {}


def proxy_parts(base_url: str) -> ProxyParts:
    """The parts of the proxy at ``base_url`` (created empty on first use)."""
    return _PARTS.setdefault(base_url.rstrip("/"), ProxyParts())
