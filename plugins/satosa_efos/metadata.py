"""The proxy's own SAML metadata: written as files, and served at the entityID URL.

Applications get the proxy's IdP metadata (signed, static between key changes, built by
:mod:`satosa_efos.federation.published`) as a file and from the stable URL that is its
entityID; organisation IdPs get the backend's SP metadata as a file. Both are made from the same
checked configuration the proxy runs with, so what the peers trust is what the proxy uses, and
the file and the URL carry the same bytes (same SHA-256).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saml2.metadata import metadata_tostring_fix
from satosa.response import Response

from satosa_efos.config.proxy import ProxyConfig, require_proxy_config
from satosa_efos.federation.published import (
    MEDIA_TYPE,
    Published,
    build_published_metadata,
    first_per_binding,
    sso_endpoints,
)


@contextlib.contextmanager
def working_directory(path: Path):
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def _xml(descriptor) -> bytes:
    text = metadata_tostring_fix(descriptor, {}, descriptor.to_string())
    return text if isinstance(text, bytes) else text.encode()


@dataclass(frozen=True)
class Written:
    name: str
    path: Path
    published: Published | None  # the signed IdP document; None for SP metadata


def saml_idp_frontends(config: ProxyConfig) -> list[dict[str, Any]]:
    """The SAML IdP frontend plugin entries (those with an ``idp_config``)."""
    return [
        plugin
        for plugin in config.data.get("FRONTEND_MODULES") or []
        if isinstance((plugin.get("config") or {}).get("idp_config"), dict)
    ]


def published_for(config: ProxyConfig, frontend: dict[str, Any]) -> Published:
    """The signed IdP metadata of one frontend entry, as the running proxy serves it."""
    backends = [b["name"] for b in config.data.get("BACKEND_MODULES") or []]
    sso = sso_endpoints(frontend["config"], config.data["BASE"], backends)
    return build_published_metadata(frontend["config"], sso, config.conf_dir)


def write_proxy_metadata(conf_dir: Path, out_dir: Path) -> dict[str, Path]:
    """Write ``<frontend name>.xml`` (the signed IdP metadata) and ``<backend name>.xml``
    (SP metadata towards organisation IdPs); {name: path}."""
    return {w.name: w.path for w in write_proxy_metadata_files(conf_dir, out_dir)}


def write_proxy_metadata_files(conf_dir: Path, out_dir: Path) -> list[Written]:
    from satosa.metadata_creation.saml_metadata import _create_backend_metadata
    from satosa.plugin_loader import load_backends
    from satosa.satosa_config import SATOSAConfig

    conf_dir, out_dir = Path(conf_dir).resolve(), Path(out_dir).resolve()
    config = require_proxy_config(conf_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Written] = []
    for frontend in saml_idp_frontends(config):
        published = published_for(config, frontend)
        path = out_dir / f"{frontend['name']}.xml"
        path.write_bytes(published.data)
        written.append(Written(frontend["name"], path, published))
    with working_directory(conf_dir):
        satosa_config = SATOSAConfig(config.data)
        backends = load_backends(satosa_config, None, satosa_config["INTERNAL_ATTRIBUTES"])
        for name, descriptors in _create_backend_metadata(backends).items():
            for descriptor in descriptors:
                path = out_dir / f"{name}.xml"
                path.write_bytes(_xml(descriptor))
                written.append(Written(name, path, None))
    return written


# -- serving ----------------------------------------------------------------------------------

_SERVED: dict[int, tuple[Any, Published]] = {}


def published_metadata_response(frontend) -> Response:
    """The SAML frontend's metadata endpoint: the signed, static IdP metadata.

    For the frontend's ``_metadata_endpoint(self, context)`` (SATOSA serves it at the entityID
    path when ``entityid_endpoint: true``), instead of SATOSA's unsigned document that changes
    with every request: ``return published_metadata_response(self)``. ``frontend`` is a
    registered :class:`satosa.frontends.saml2.SAMLFrontend`; the document is built once per
    worker (one xmlsec1 run) and is byte-identical to ``satosa-efos metadata publish``'s file,
    as the process runs in the configuration directory (``satosa-efos serve`` sees to that).
    """
    cached = _SERVED.get(id(frontend))
    if cached is None or cached[0] is not frontend:
        services = frontend.config["idp_config"]["service"]["idp"]["endpoints"]
        registered = [(binding, url) for url, binding in services["single_sign_on_service"]]
        published = build_published_metadata(frontend.config, first_per_binding(registered))
        cached = _SERVED[id(frontend)] = (frontend, published)
    published = cached[1]
    headers = [
        ("Content-Type", MEDIA_TYPE),
        ("ETag", f'"{published.sha256}"'),
        ("Cache-Control", "public, max-age=3600"),
    ]
    return Response(published.data, headers=headers)
