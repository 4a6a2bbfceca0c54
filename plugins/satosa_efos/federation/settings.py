"""Configuration of federation metadata, in and out, as models that check-config validates.

Both live in SATOSA plugin files: ``federation:`` in a SAML backend's (or frontend's) ``config``,
``published_metadata:`` in the SAML IdP frontend's ``config``. Relative paths are relative to
the configuration directory, as everywhere else. docs/metadata.md explains every key.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator

from satosa_efos.config.models import Strict

#: Fedkom (Federation för kommunal verksamhet) policy: an IdP of a user organisation is included
#: in the Fedkom feed when its metadata carries this entity attribute with this value.
#: Source: Internetstiftelsen's federation wiki, Fedkom federation policy
#: (wiki.federationer.internetstiftelsen.se, page 143524299) and its publishing guide (147324962).
FEDKOM_OPT_IN_NAME = "https://id.openfed.se/entityattributes/opt-in"
FEDKOM_OPT_IN_VALUE = "https://id.openfed.se/entityattributes/opt-in/yes"
#: SAML V2.0 Metadata Extensions for Entity Attributes / REFEDS entity categories.
ENTITY_CATEGORY = "http://macedir.org/entity-category"
#: SAML V2.0 Identity Assurance Profiles; Swedish eID deployment profile §2.1.3 (SHALL).
ASSURANCE_CERTIFICATION = "urn:oasis:names:tc:SAML:attribute:assurance-certification"
URI_NAME_FORMAT = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"

_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
_URI = re.compile(r"^(https?://\S+|urn:[A-Za-z0-9][A-Za-z0-9-]{0,31}:\S+)$")
_HTTPS_OR_DATA = re.compile(
    r"^(https://\S+|http://(localhost|127\.0\.0\.1)[:/]\S*|data:image/\S+)$"
)
#: xs:duration as used for cacheDuration (e.g. PT6H, P1D).
_DURATION = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")


def _uri(value: str) -> str:
    if not _URI.match(value):
        raise ValueError(f"'{value}' is not a URI (http(s):// or urn:)")
    return value


def _web_address(value: str) -> str:
    if not _HTTPS_OR_DATA.match(value):
        raise ValueError(f"'{value}' is not an https:// address (or a data:image URI)")
    return value


def _localised(value: dict[str, str]) -> dict[str, str]:
    for lang, text in value.items():
        if not _LANG.match(lang):
            raise ValueError(f"'{lang}' is not a language code such as 'sv' or 'en'")
        if not str(text).strip():
            raise ValueError(f"the '{lang}' text is empty")
    return value


Uri = Annotated[str, AfterValidator(_uri)]
WebAddress = Annotated[str, AfterValidator(_web_address)]
Localised = Annotated[dict[str, str], AfterValidator(_localised)]


class FederationSource(Strict):
    """One signed aggregate: the file the proxy reads and the certificate it is pinned to.

    The file is written by ``satosa-efos metadata fetch`` (a timer), never by the proxy; every
    worker re-verifies it when it changes and keeps its last good copy otherwise.
    """

    file: str = Field(min_length=1)
    signer_cert: str = Field(min_length=1)
    #: Seconds between two looks at the file's modification time, per worker.
    check_interval: float = Field(default=60, gt=0, le=86400)


class Logo(Strict):
    url: WebAddress
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    lang: str | None = None


class UiInfo(Strict):
    """``mdui:UIInfo`` (Swedish eID deployment profile §2.1.1.1: DisplayName in Swedish SHALL,
    a Logo SHALL, Description SHOULD; English RECOMMENDED)."""

    display_name: Localised
    description: Localised = Field(default_factory=dict)
    information_url: Annotated[dict[str, WebAddress], AfterValidator(_localised)] = Field(
        default_factory=dict
    )
    privacy_statement_url: Annotated[dict[str, WebAddress], AfterValidator(_localised)] = Field(
        default_factory=dict
    )
    logos: list[Logo] = Field(default_factory=list)

    @field_validator("display_name")
    @classmethod
    def _swedish_name(cls, value: dict[str, str]) -> dict[str, str]:
        if "sv" not in value:
            raise ValueError("needs a Swedish ('sv') display name")
        return value


class EntityAttribute(Strict):
    name: Uri
    values: list[str] = Field(min_length=1)
    name_format: Uri = URI_NAME_FORMAT


class FedkomOptIn(Strict):
    """The Fedkom opt-in entity attribute; its presence is the opt-in."""

    name: Uri = FEDKOM_OPT_IN_NAME
    value: str = FEDKOM_OPT_IN_VALUE


class PublishedMetadata(Strict):
    """What the proxy's published IdP metadata says beyond SATOSA's ``idp_config``."""

    ui_info: UiInfo
    #: ``http://macedir.org/entity-category`` values (Swedish eID entity categories, Sambi's).
    entity_categories: list[Uri] = Field(default_factory=list)
    #: The LoA URIs the proxy is certified for (assurance-certification; at least one).
    assurance_certification: list[Uri] = Field(min_length=1)
    fedkom_opt_in: FedkomOptIn | None = None
    entity_attributes: list[EntityAttribute] = Field(default_factory=list)
    cache_duration: str | None = "PT6H"
    #: Absent by default: a validUntil makes the document expire, so it must be re-published
    #: (and its checksum read out again) before that date.
    valid_until: dt.datetime | None = None
    #: Defaults: the frontend's ``idp_config`` key_file / cert_file.
    signing_key_file: str | None = None
    signing_cert_file: str | None = None
    encryption_cert_file: str | None = None

    @field_validator("cache_duration")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None and not _DURATION.match(value):
            raise ValueError(f"'{value}' is not an xs:duration such as PT6H or P1D")
        return value

    @field_validator("valid_until")
    @classmethod
    def _future(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is None:
            return value
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        if value <= dt.datetime.now(dt.UTC):
            raise ValueError(
                f"{value:%Y-%m-%dT%H:%M:%SZ} has passed: the metadata would be expired"
            )
        return value.astimezone(dt.UTC)
