"""``satosa-efos metadata fetch``: download an aggregate, verify it, then (only then) replace the
last good copy in one atomic rename.

A timer runs this on each node (docs/metadata.md); the proxy's workers notice the new file and
load it. A download that fails, a document that does not verify or has expired leaves the last
good copy exactly as it was, so the proxy never sees an unverified file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import requests

from satosa_efos.xmlsec.metadata import (
    MAX_AGGREGATE_BYTES,
    Aggregate,
    MetadataRejected,
    read_limited,
    verify_aggregate,
)

DEFAULT_TIMEOUT = 30.0
_CHUNK = 64 * 1024


def download(
    url: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = MAX_AGGREGATE_BYTES,
    ca_file: Path | None = None,
) -> bytes:
    """The body of ``url``; MetadataRejected on any failure.

    No proxy or certificate settings from the environment (``trust_env=False``): what is fetched
    and from where is decided by the command line alone. The size limit is applied to the
    decoded body as it streams, so a compressed bomb stops at ``max_bytes`` too.
    """
    if urlsplit(url).scheme not in ("http", "https"):
        raise MetadataRejected(f"cannot be fetched: {url!r} is not an http(s) URL")
    with requests.Session() as session:
        session.trust_env = False
        session.max_redirects = 3
        try:
            with session.get(
                url,
                timeout=(min(timeout, 10.0), timeout),
                stream=True,
                verify=str(ca_file) if ca_file else True,
                headers={"Accept": "application/samlmetadata+xml, application/xml"},
            ) as response:
                if response.status_code != 200:
                    raise MetadataRejected(
                        f"cannot be fetched: {url} answered {response.status_code}"
                    )
                length = response.headers.get("Content-Length", "")
                if length.isdigit() and int(length) > max_bytes:
                    raise MetadataRejected(f"is larger than {max_bytes} bytes ({url})")
                body = bytearray()
                for chunk in response.iter_content(_CHUNK):
                    body += chunk
                    if len(body) > max_bytes:
                        raise MetadataRejected(f"is larger than {max_bytes} bytes ({url})")
                return bytes(body)
        except requests.RequestException as exc:
            reason = type(exc).__name__
            raise MetadataRejected(f"cannot be fetched from {url}: {reason}") from None


def write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` by ``data`` in one rename: a reader sees the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):  # the rename itself survives a crash
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def fetch(
    source: str,
    signer_cert: Path,
    out: Path,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = MAX_AGGREGATE_BYTES,
    ca_file: Path | None = None,
    now: dt.datetime | None = None,
) -> Aggregate:
    """Fetch ``source`` (an http(s) URL or a file), verify it, write it to ``out``.

    ``out`` is untouched unless every check passed. Returns what was written.
    """
    if urlsplit(source).scheme in ("http", "https"):
        data = download(source, timeout=timeout, max_bytes=max_bytes, ca_file=ca_file)
    else:
        data = read_limited(Path(source.removeprefix("file://")), max_bytes)
    aggregate = verify_aggregate(data, Path(signer_cert), now=now, max_bytes=max_bytes)
    write_atomically(Path(out), aggregate.data)
    return aggregate
