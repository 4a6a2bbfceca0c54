"""Choosing the crypto backend of a pysaml2 entity (the proxy's frontend IdP and backend SPs).

Configuration, in a SAML frontend's or backend's plugin ``config`` (beside ``idp_config`` /
``sp_config``; removed before SATOSA and pysaml2 see the rest)::

    crypto_backend: inprocess      # default; or xmlsec1, the subprocess fallback
    crypto_algorithms:             # optional; these are the defaults
      signature: [http://www.w3.org/2001/04/xmldsig-more#rsa-sha256, ...]
      digest: [http://www.w3.org/2001/04/xmlenc#sha256, ...]
      data_encryption: http://www.w3.org/2009/xmlenc11#aes256-gcm

The environment variable ``SATOSA_EFOS_CRYPTO_BACKEND`` (``inprocess`` or ``xmlsec1``)
overrides every configured choice, so a whole test run or a deployment can switch at once.

:func:`install` also makes pysaml2 take verification keys from metadata only
(``only_use_keys_in_metadata``): by default it falls back to the certificate a message carries
about itself when the issuer's metadata has none.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from saml2.sigver import CryptoBackend, CryptoBackendXmlSec1, SecurityContext, get_xmlsec_binary

from satosa_efos.xmlsec import pemfiles, schema
from satosa_efos.xmlsec.policy import AlgorithmPolicy

ENVIRONMENT = "SATOSA_EFOS_CRYPTO_BACKEND"
INPROCESS, XMLSEC1 = "inprocess", "xmlsec1"
BACKENDS = (INPROCESS, XMLSEC1)
CONFIG_KEYS = ("crypto_backend", "crypto_algorithms")


@dataclass(frozen=True)
class CryptoSettings:
    backend: str = INPROCESS
    policy: AlgorithmPolicy = field(default_factory=AlgorithmPolicy)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"crypto_backend {self.backend!r} is not one of {BACKENDS}")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> CryptoSettings:
        """The settings in a plugin ``config``, *removed from it* (pysaml2 has its own
        ``crypto_backend`` key with other values, and SATOSA need not see them)."""
        backend = config.pop("crypto_backend", None) or INPROCESS
        algorithms = dict(config.pop("crypto_algorithms", None) or {})
        unknown = set(algorithms) - {"signature", "digest", "data_encryption"}
        if unknown:
            raise ValueError(f"crypto_algorithms: unknown keys {sorted(unknown)}")
        defaults = AlgorithmPolicy()
        policy = AlgorithmPolicy(
            signature_algorithms=frozenset(
                algorithms.get("signature", defaults.signature_algorithms)
            ),
            digest_algorithms=frozenset(algorithms.get("digest", defaults.digest_algorithms)),
            data_encryption=algorithms.get("data_encryption", defaults.data_encryption),
        )
        return cls(str(backend), policy)

    @property
    def effective_backend(self) -> str:
        chosen = os.environ.get(ENVIRONMENT) or self.backend
        if chosen not in BACKENDS:
            raise ValueError(f"{ENVIRONMENT}={chosen!r} is not one of {BACKENDS}")
        return chosen


def make_backend(settings: CryptoSettings, xmlsec_binary: str | None = None) -> CryptoBackend:
    backend = settings.effective_backend
    if backend == XMLSEC1:
        from satosa_efos.xmlsec.xmlsec1 import Xmlsec1Backend

        return Xmlsec1Backend(xmlsec_binary or get_xmlsec_binary(), settings.policy)
    try:
        from satosa_efos.xmlsec.inprocess import InProcessBackend
    except Exception as exc:  # ImportError, or xmlsec's libxml2 version check
        raise RuntimeError(
            f"the in-process crypto backend cannot load the python xmlsec bindings ({exc}); "
            f"install matching lxml and xmlsec wheels (see setup.cfg) or set "
            f"crypto_backend: xmlsec1"
        ) from exc
    return InProcessBackend(settings.policy)


def install(entity_or_sec: Any, settings: CryptoSettings | None = None) -> SecurityContext:
    """Give a pysaml2 entity (``Server``, ``Saml2Client``) or its ``SecurityContext`` the
    configured backend; returns the security context. Also puts libxml2's schema check in the
    place of pysaml2's (:mod:`satosa_efos.xmlsec.schema`) and keeps metadata certificates in
    files written once (:mod:`satosa_efos.xmlsec.pemfiles`), whichever backend is configured."""
    sec = getattr(entity_or_sec, "sec", entity_or_sec)
    if not isinstance(sec, SecurityContext):
        raise TypeError(f"{type(entity_or_sec).__name__} has no pysaml2 SecurityContext")
    current = sec.crypto
    binary = current.xmlsec if isinstance(current, CryptoBackendXmlSec1) else None
    sec.crypto = make_backend(settings or CryptoSettings(), binary)
    sec.only_use_keys_in_metadata = True
    schema.install()
    pemfiles.install()
    return sec
