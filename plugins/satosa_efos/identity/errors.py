"""The one exception type raised by the identifier parsers.

Callers (SAML/OIDC frontends, the HSA client, config loading) need to tell *which* rule an
identifier broke without parsing English text, so every error carries a stable ``code``.
The message is for humans: it says what was wrong and what a valid value looks like.
"""

from __future__ import annotations

_MAX_ECHO = 40

#: Every code an :class:`IdentifierError` can carry. Codes are part of the API: do not rename.
ERROR_CODES: frozenset[str] = frozenset(
    {
        "pnr.format",
        "pnr.date",
        "pnr.luhn",
        "orgnr.format",
        "orgnr.luhn",
        "hsa.format",
        "hsa.length",
        "hsa.orgnr",
    }
)


class IdentifierError(ValueError):
    """A personnummer, organisation number or HSA-id that is not valid.

    Subclasses ``ValueError`` so generic validation code (pydantic, argparse) treats it as bad
    input. ``code`` is stable and machine-readable; ``str(error)`` is the human message.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __reduce__(self) -> tuple[type[IdentifierError], tuple[str, str]]:
        # The default reduce would call __init__ with one argument; keep errors picklable
        # so they survive multiprocessing workers and pytest-xdist.
        return (type(self), (self.code, self.message))


def shown(value: object) -> str:
    """Quote untrusted input for an error message, truncated so a huge value cannot flood logs.

    ``repr`` escapes control characters, so a value containing newlines cannot forge log lines.
    """
    text = repr(value)
    if len(text) > _MAX_ECHO:
        return text[: _MAX_ECHO - 1] + "…"
    return text
