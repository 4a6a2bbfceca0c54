"""Pydantic models of the registries that organisation admins edit.

Every model forbids unknown keys: a misspelt key is an error with a line number, never a
silently ignored setting. Cross-entry rules (duplicates, dangling references) need the whole
registry and live in :mod:`satosa_efos.config.registries`.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from satosa_efos.identity import hsa_id_prefix, normalise_organisation_number
from satosa_efos.identity.loa import LoA

_ID = r"^[a-z0-9][a-z0-9-]{0,62}$"
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_URL = re.compile(r"^(https?://[^\s/?#]+[^\s]*|urn:[a-z0-9][a-z0-9-]{0,31}:\S+)$", re.IGNORECASE)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _entity_id(value: str) -> str:
    if not _URL.match(value):
        raise ValueError(f"'{value}' is not an entityID (an http(s) URL or a URN)")
    return value


def _domain(value: str) -> str:
    lowered = value.lower()
    if not _DOMAIN.match(lowered):
        raise ValueError(f"'{value}' is not a domain name such as 'ale.se'")
    return lowered


def _organisation_number(value: str) -> str:
    return normalise_organisation_number(value)


_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
#: RFC 8252 §7.1: an app's private-use scheme is a reversed domain name (e.g. se.vgregion.app).
_PRIVATE_SCHEME = re.compile(r"^[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+$")


def _redirect_uri(value: str) -> str:
    """An OIDC redirect URI an application may register (compared exactly at login)."""
    parts = urlsplit(value)
    if "#" in value:
        raise ValueError(f"redirect URI '{value}' must not have a fragment (RFC 6749 §3.1.2)")
    if any(c.isspace() for c in value):
        raise ValueError(f"redirect URI '{value}' contains white space")
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS:
        return value  # RFC 8252 §7.3 (native apps on loopback), and the demo
    if _PRIVATE_SCHEME.match(parts.scheme) and parts.path:
        return value
    raise ValueError(
        f"'{value}' is not a redirect URI this proxy accepts: https://…, http://localhost… or "
        "http://127.0.0.1… (loopback only), or an app's own scheme such as se.example.app:/cb"
    )


EntityId = Annotated[str, AfterValidator(_entity_id)]
Domain = Annotated[str, AfterValidator(_domain)]
OrganisationNumber = Annotated[str, AfterValidator(_organisation_number)]
Identifier = Annotated[str, Field(pattern=_ID)]
RedirectUri = Annotated[str, AfterValidator(_redirect_uri)]
#: RFC 6749 §A.1: printable ASCII; no white space here, as a client_id travels in URLs and logs.
ClientId = Annotated[str, Field(pattern=r"^[\x21-\x7e]{1,255}$")]
#: A client secret shorter than this is guessable; generate one with ``openssl rand -hex 32``.
MIN_CLIENT_SECRET_LENGTH = 32


#: Which kind of value each scope-bearing attribute holds.
SCOPE_KINDS = {
    "mail": "domain",
    "userPrincipalName": "domain",
    "employeeHsaId": "hsa_id",
    "allEmployeeHsaIds": "hsa_id",
}
DEFAULT_SCOPE_ATTRIBUTES = ("mail", "employeeHsaId", "allEmployeeHsaIds")


class LoginMethod(StrEnum):
    OWN_IDP = "own_idp"
    EFOS_MOBILE = "efos_mobile"
    INERA_IDP = "inera_idp"


class OwnIdp(Strict):
    entity_id: EntityId


class Organisation(Strict):
    id: Identifier
    name: str = Field(min_length=2)
    name_en: str | None = None
    kind: Literal["region", "municipality"]
    organisation_number: OrganisationNumber
    domains: list[Domain] = Field(default_factory=list)
    login_methods: list[LoginMethod] = Field(min_length=1)
    own_idp: OwnIdp | None = None
    #: Internal attributes whose values prove that a user belongs here (scope check): e-mail /
    #: UPN domains must be one of ``domains``, HSA-ids must begin with this organisation's prefix.
    scope_attributes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SCOPE_ATTRIBUTES), min_length=1
    )
    #: Dotted paths of values in this entry that are placeholders, not confirmed facts.
    placeholders: list[str] = Field(default_factory=list)

    @property
    def hsa_id_prefix(self) -> str:
        return hsa_id_prefix(self.organisation_number)

    @field_validator("scope_attributes")
    @classmethod
    def _known_scope_attributes(cls, names: list[str]) -> list[str]:
        unknown = [n for n in names if n not in SCOPE_KINDS]
        if unknown:
            known = ", ".join(SCOPE_KINDS)
            raise ValueError(f"'{unknown[0]}' cannot carry scope (choose from {known})")
        return names

    @field_validator("login_methods")
    @classmethod
    def _unique_methods(cls, methods: list[LoginMethod]) -> list[LoginMethod]:
        if len(set(methods)) != len(methods):
            raise ValueError("a login method is listed twice")
        return methods

    @model_validator(mode="after")
    def _own_idp_consistent(self) -> Organisation:
        if LoginMethod.OWN_IDP in self.login_methods and self.own_idp is None:
            raise ValueError("login_methods has own_idp but own_idp.entity_id is missing")
        if self.own_idp is not None and LoginMethod.OWN_IDP not in self.login_methods:
            raise ValueError("own_idp is set but own_idp is not in login_methods")
        for path in self.placeholders:
            if _lookup(self, path) is None:
                raise ValueError(f"placeholders names '{path}', which this entry does not set")
        return self


def _lookup(model: BaseModel, dotted: str) -> object | None:
    value: object = model
    for part in dotted.split("."):
        if not isinstance(value, BaseModel) or part not in type(value).model_fields:
            return None
        value = getattr(value, part)
    return value


class HsaSettings(Strict):
    """What an application needs from the HSA directory (the ``hsa`` micro-service)."""

    #: ``one``: the commission attributes of exactly one commission (the user chooses when
    #: several fit); ``none``: person attributes only.
    commission: Literal["none", "one"] = "none"
    #: Only commissions with one of these purposes count (e.g. "Vård och behandling").
    purposes: list[str] = Field(default_factory=list)
    #: A person the directory does not know: refuse the login, or continue without HSA data.
    not_found: Literal["refuse", "continue"] = "continue"
    #: The directory does not answer in time: refuse with a page, or continue without HSA data.
    unavailable: Literal["refuse", "continue"] = "refuse"


#: Application settings that only a SAML application has.
SAML_ONLY = ("attribute_profile", "require_signed_requests", "encrypt_assertion")
#: OIDC-only settings of single logout (a SAML application's SLO endpoints are in its metadata).
OIDC_LOGOUT = ("frontchannel_logout_uri", "post_logout_redirect_uris")


class Application(Strict):
    """A connected application (service provider / relying party)."""

    id: Identifier
    name: str = Field(min_length=2)
    protocol: Literal["saml", "oidc"]
    entity_id: EntityId | None = None
    #: SAML metadata file, relative to the configuration directory.
    metadata: str | None = None
    client_id: ClientId | None = None
    #: OIDC only: a confidential client's secret (from ``${ENV}`` or ``!FILE``, never inline).
    #: Without one the client is public and must use PKCE (S256).
    client_secret: SecretStr | None = None
    redirect_uris: list[RedirectUri] = Field(default_factory=list)
    #: OIDC only, single logout (docs/sso.md): loaded in a frame with ``iss`` and ``sid`` when the
    #: user logs out elsewhere, and where RP-initiated logout may send the user back (exactly).
    frontchannel_logout_uri: RedirectUri | None = None
    post_logout_redirect_uris: list[RedirectUri] = Field(default_factory=list)
    #: Organisation ids, or the single value ``all``.
    allowed_organisations: list[str] | str
    required_loa: LoA = LoA.LOA3
    #: Which LoA URIs the application speaks when it names none itself (DOMAIN.md §5).
    loa_profile: Literal["sambi", "swedish_eid"] = "sambi"
    released_attributes: list[str] = Field(min_length=1)
    hsa: HsaSettings = Field(default_factory=HsaSettings)
    #: SAML only: the attribute names it gets, Sambi's or the Swedish eID framework's
    #: (DOMAIN.md §4; docs/saml.md).
    attribute_profile: Literal["sambi", "swedish_eid"] = "sambi"
    #: SAML only: refuse unsigned AuthnRequests even when the metadata does not say
    #: ``AuthnRequestsSigned="true"`` (which alone also makes signatures required).
    require_signed_requests: bool = False
    #: SAML only: encrypt the whole assertion. Unset: encrypted whenever the metadata has an
    #: encryption key, signed only otherwise; ``true`` makes a missing key a check-config problem.
    encrypt_assertion: bool | None = None

    @property
    def public_client(self) -> bool:
        """An OIDC client without a secret: it cannot authenticate, so PKCE stands in."""
        return self.protocol == "oidc" and self.client_secret is None

    @field_validator("allowed_organisations")
    @classmethod
    def _all_or_ids(cls, value: list[str] | str) -> list[str] | str:
        if isinstance(value, str):
            if value != "all":
                raise ValueError("must be a list of organisation ids, or the word 'all'")
            return value
        if not value:
            raise ValueError("is empty: list organisation ids, or write 'all'")
        bad = [v for v in value if not re.match(_ID, v)]
        if bad:
            raise ValueError(f"'{bad[0]}' is not an organisation id")
        return value

    @field_validator("client_secret")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_CLIENT_SECRET_LENGTH:
            raise ValueError(
                f"is too short: at least {MIN_CLIENT_SECRET_LENGTH} characters "
                "(e.g. `openssl rand -hex 32`); leave it out for a public client with PKCE"
            )
        return value

    @field_validator("redirect_uris")
    @classmethod
    def _unique_redirect_uris(cls, value: list[str]) -> list[str]:
        twice = [uri for i, uri in enumerate(value) if uri in value[:i]]
        if twice:
            raise ValueError(f"lists '{twice[0]}' twice")
        return value

    @model_validator(mode="after")
    def _protocol_fields(self) -> Application:
        if self.protocol == "saml":
            missing = [f for f in ("entity_id", "metadata") if getattr(self, f) is None]
            extra = [f for f in ("client_id", "client_secret") if getattr(self, f) is not None]
            extra += ["redirect_uris"] if self.redirect_uris else []
            extra += [f for f in OIDC_LOGOUT if f in self.model_fields_set]
        else:
            missing = [f for f in ("client_id",) if getattr(self, f) is None] + (
                [] if self.redirect_uris else ["redirect_uris"]
            )
            extra = [f for f in ("entity_id", "metadata") if getattr(self, f) is not None]
            extra += [f for f in SAML_ONLY if f in self.model_fields_set]
        kind = {"saml": "a SAML", "oidc": "an OIDC"}[self.protocol]
        if missing:
            raise ValueError(f"{kind} application needs {', '.join(missing)}")
        if extra:
            raise ValueError(f"{', '.join(extra)} do not apply to {kind} application")
        if len(set(self.released_attributes)) != len(self.released_attributes):
            raise ValueError("released_attributes lists an attribute twice")
        return self
