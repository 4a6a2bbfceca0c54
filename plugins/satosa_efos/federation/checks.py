"""check-config for metadata settings: every problem at the line of the setting that causes it.

Called by :mod:`satosa_efos.config.proxy` for any ``federation:`` list and any
``published_metadata:`` mapping in a plugin's ``config``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from satosa_efos.config.files import check_certificate
from satosa_efos.config.registries import validate
from satosa_efos.config.source import Document, Problem
from satosa_efos.federation.settings import FederationSource, PublishedMetadata
from satosa_efos.xmlsec.metadata import MetadataRejected, verify_aggregate_file


def federation_problems(doc: Document, sources: Any, loc: tuple, conf_dir: Path) -> list[Problem]:
    """Each source: the model, the pinned certificate, and a signature that verifies.

    An aggregate that verifies but has *expired* is not a configuration problem: refusing to
    start would stop every login, while an expired aggregate must only stop its own entities
    (the proxy logs it; ``satosa-efos metadata verify`` shows it).
    """
    if not isinstance(sources, list):
        return [doc.problem(loc, "'federation' must be a list of {file, signer_cert}")]
    problems: list[Problem] = []
    for i, raw in enumerate(sources):
        source, found = validate(doc, FederationSource, raw, (*loc, i))
        problems += found
        if not isinstance(source, FederationSource):
            continue
        cert_problems = check_certificate(conf_dir / source.signer_cert)
        problems += [doc.problem((*loc, i, "signer_cert"), m) for m in cert_problems]
        if cert_problems:
            continue
        try:
            verify_aggregate_file(conf_dir / source.file, conf_dir / source.signer_cert,
                                  allow_expired=True)  # fmt: skip
        except MetadataRejected as exc:
            message = f"federation metadata {conf_dir / source.file} {exc}"
            problems.append(doc.problem((*loc, i), message))
    return problems


def published_metadata_problems(doc: Document, value: Any, loc: tuple) -> list[Problem]:
    """The model (keys, URIs, languages, durations, a Swedish display name, at least one
    assurance certification). Key and certificate files are checked by their ``*_file`` names
    like every other file setting."""
    _, problems = validate(doc, PublishedMetadata, value, loc)
    return problems
