"""Which HSA directory to ask, and how: the ``directory`` block of the hsa micro-service's YAML.

Three clients answer the same :class:`~.model.Directory` questions (docs/hsa.md):

* ``memory`` -- an LDIF file read at start (the demo and tests; never production data);
* ``ldap`` -- an LDAP directory (a regional copy of HSA, or the test ``slapd``);
* ``riv`` -- the national web service GetCredentialsForPersonIncludingProtectedPerson v2 over
  mutual TLS.

:func:`open_directory` builds the client and wraps it in the per-person cache. Relative paths are
relative to the working directory, which ``satosa-efos serve`` sets to the configuration folder.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from satosa_efos.metrics import TimedDirectory

from .cache import CachedDirectory
from .model import Directory

__all__ = [
    "DirectorySettings",
    "LdapSettings",
    "MemorySettings",
    "RivSettings",
    "open_directory",
]

#: Seconds a client waits for the directory before the login gets the outage page (issue 5).
DEFAULT_TIMEOUT = 3.0
Timeout = Annotated[float, Field(gt=0, le=30)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Seconds a person's answer is reused (0: no cache). Per process, never across restarts.
    cache_seconds: float = Field(60.0, ge=0, le=3600)
    #: At most this many people are remembered per process (oldest forgotten first).
    cache_size: int = Field(10_000, ge=1, le=1_000_000)
    #: Feigned (test) people are found too. Only for test directories: production must not.
    include_feigned: bool = False


class MemorySettings(_Strict):
    type: Literal["memory"]
    #: LDIF file; null: the packaged fictional test directory (demo only).
    ldif: str | None = None


class LdapSettings(_Strict):
    type: Literal["ldap"]
    #: One or more ``ldap://`` / ``ldaps://`` URLs, tried in order (failover).
    urls: list[str] = Field(min_length=1)
    base: str = "c=SE"
    #: Bind DN and password (use ``${HSA_LDAP_PASSWORD}`` or ``!FILE``); null: anonymous.
    bind_dn: str | None = None
    password: str | None = None
    timeout: Timeout = DEFAULT_TIMEOUT
    #: CA certificate(s) that sign the directory's TLS certificate (``ldaps://`` or start_tls).
    ca_file: str | None = None
    start_tls: bool = False
    pool_size: int = Field(4, ge=1, le=64)

    @model_validator(mode="after")
    def _bind_pair(self) -> LdapSettings:
        # A DN with an empty password is an "unauthenticated bind" (RFC 4513 §5.1.2) that some
        # servers accept as anonymous: refuse it here, where check-config can say so.
        if (self.bind_dn is None) != (self.password is None) or self.password == "":
            raise ValueError("bind_dn and a non-empty password go together (or neither)")
        return self

    @field_validator("urls")
    @classmethod
    def _ldap_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("ldap://", "ldaps://")):
                raise ValueError(f"{url!r} is not an ldap:// or ldaps:// URL")
        return urls


class RivSettings(_Strict):
    type: Literal["riv"]
    #: The service's HTTPS endpoint (the national service platform, or the simulator).
    url: str = Field(pattern=r"^https://")
    #: The logical address (RIVTABP21 header) of the HSA service behind the platform.
    logical_address: str = Field(min_length=1)
    #: Our SITHS function certificate and key for mutual TLS, and the CA of the server.
    cert_file: str
    key_file: str
    ca_file: str
    timeout: Timeout = DEFAULT_TIMEOUT
    search_base: str | None = None
    #: ``extended1``: the answer also carries the person's personnummer (needed when the login
    #: gave only an HSA-id and the application is to receive the personnummer); null: not asked.
    profile: Literal["extended1"] | None = None


DirectorySettings = Annotated[
    MemorySettings | LdapSettings | RivSettings, Field(discriminator="type")
]


def _client(settings: MemorySettings | LdapSettings | RivSettings) -> Directory:
    # Imported here: the demo needs neither ldap3 connections nor a TLS client set up.
    if isinstance(settings, MemorySettings):
        from .memory import DEMO_LDIF, InMemoryDirectory

        return InMemoryDirectory.from_ldif(
            settings.ldif or DEMO_LDIF, include_feigned=settings.include_feigned
        )
    if isinstance(settings, LdapSettings):
        from .ldap import LdapDirectory

        return LdapDirectory(
            urls=settings.urls,
            base=settings.base,
            bind_dn=settings.bind_dn,
            password=settings.password,
            timeout=settings.timeout,
            ca_file=settings.ca_file,
            start_tls=settings.start_tls,
            pool_size=settings.pool_size,
            include_feigned=settings.include_feigned,
        )
    from .riv import RivDirectory

    return RivDirectory(
        url=settings.url,
        logical_address=settings.logical_address,
        cert_file=settings.cert_file,
        key_file=settings.key_file,
        ca_file=settings.ca_file,
        timeout=settings.timeout,
        include_feigned=settings.include_feigned,
        search_base=settings.search_base,
        profile=settings.profile,
    )


def open_directory(settings: MemorySettings | LdapSettings | RivSettings) -> Directory:
    """The configured client, timed (``satosa_efos_upstream_*`` metrics, docs/operations.md),
    behind the per-person cache unless ``cache_seconds`` is 0 (cache hits are not timed)."""
    client = TimedDirectory(_client(settings))
    if settings.cache_seconds == 0:
        return client
    return CachedDirectory(client, ttl=settings.cache_seconds, max_entries=settings.cache_size)
