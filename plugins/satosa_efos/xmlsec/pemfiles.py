"""Certificates from metadata as files, written once per process instead of once per message.

pysaml2's crypto-backend interface takes file names. Before verifying a signed message
(``SecurityContext._check_signature``) pysaml2 7.5 writes each of the issuer's signing
certificates from metadata to a new temporary file, hands the name to the backend and deletes the
file again: two file creations and deletions per brokered login, for certificates that change
only when metadata does.

:func:`install` wraps ``saml2.sigver.make_temp`` so that a PEM certificate (``suffix=".pem"``,
not base64-decoded: exactly those calls) is written once to a private folder of this process
(``0700``, named by the SHA-256 of the content, written with ``O_EXCL`` then renamed into place)
and the same file is returned on every later call. Every backend (in-process and the ``xmlsec1``
fallback) and pysaml2's own certificate check read it as before. Everything else pysaml2 writes
to temporary files (the documents for the ``xmlsec1`` program) goes to the original function.

The folder holds one small file per distinct certificate seen (for a 5,000-entity federation,
a few MB at most) and is removed when the process exits. Only public certificates go there: a
private key is never passed with ``suffix=".pem"`` by pysaml2 7.5 (``decrypt_keys`` uses no
suffix) and is passed through unchanged.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
import threading

import saml2.sigver

_original = saml2.sigver.make_temp
_lock = threading.Lock()
_folder: str | None = None
_known: dict[str, str] = {}
_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"


class PemFile:
    """What pysaml2 uses of a ``NamedTemporaryFile`` here: its name (and ``close``)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def close(self) -> None:
        pass


def _folder_of_this_process() -> str:
    global _folder
    if _folder is None or not os.path.isdir(_folder):
        _folder = tempfile.mkdtemp(prefix=f"satosa-efos-certs-{os.getpid()}-")
        atexit.register(shutil.rmtree, _folder, True)
    return _folder


def pem_file(content: bytes) -> PemFile:
    """The file holding ``content``, written the first time it is asked for."""
    digest = hashlib.sha256(content).hexdigest()
    with _lock:
        path = _known.get(digest)
        if path is None or not os.path.exists(path):
            path = os.path.join(_folder_of_this_process(), f"{digest}.pem")
            fd, partial = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".part")
            with os.fdopen(fd, "wb") as out:
                out.write(content)
            os.replace(partial, path)
            _known[digest] = path
    return PemFile(path)


def make_temp(content, suffix="", decode=True, delete_tmpfiles=True):
    """``saml2.sigver.make_temp``, with certificates kept (see the module's text)."""
    if suffix == ".pem" and not decode:
        raw = content.encode("utf-8") if isinstance(content, str) else content
        if raw.lstrip().startswith(_CERTIFICATE):
            return pem_file(raw)
    return _original(content, suffix=suffix, decode=decode, delete_tmpfiles=delete_tmpfiles)


def install() -> None:
    saml2.sigver.make_temp = make_temp
