"""The proxy's own SAML metadata, written as files for the peers that need them.

Applications and organisation IdPs are given the proxy's metadata as files (and it is served at
the entityID URLs too). The files are generated from the same checked configuration the proxy
runs with, so what the peers trust is what the proxy uses.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from saml2.metadata import metadata_tostring_fix
from satosa.metadata_creation.saml_metadata import create_entity_descriptors
from satosa.satosa_config import SATOSAConfig

from satosa_efos.config.proxy import require_proxy_config


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


def write_proxy_metadata(conf_dir: Path, out_dir: Path) -> dict[str, Path]:
    """Write one file per frontend (``<name>.xml``, IdP role) and backend (SP role)."""
    conf_dir, out_dir = Path(conf_dir).resolve(), Path(out_dir).resolve()
    config = require_proxy_config(conf_dir)
    with working_directory(conf_dir):
        frontends, backends = create_entity_descriptors(SATOSAConfig(config.data))
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, descriptors in {**frontends, **backends}.items():
        for descriptor in descriptors:
            path = out_dir / f"{name}.xml"
            path.write_bytes(_xml(descriptor))
            written[name] = path
    return written
