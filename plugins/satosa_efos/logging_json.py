"""Production logging: one JSON object per line, INFO by default, no personnummer in clear.

SATOSA's own log lines are dictionaries rendered with ``str()`` and may carry attribute values;
every line therefore passes through :func:`redact_personnummer` before it is written, whatever
logger produced it. Request bodies are only logged by SATOSA at DEBUG, which production does not
enable.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from satosa_efos.identity import redact_personnummer


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": _time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("error_id", "error_code", "status", "path"):
            if key in record.__dict__:
                entry[key] = record.__dict__[key]
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact_personnummer(json.dumps(entry, ensure_ascii=False, default=str))


class AuditFormatter(logging.Formatter):
    """For a handler of the ``satosa_efos.audit`` logger's own (docs/operations.md, "Audit
    log"): each audit line is its JSON object alone (it carries its ``event`` and ``time``)."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        try:
            is_object = isinstance(json.loads(message), dict)
        except ValueError:
            is_object = False
        if not is_object:  # another logger's line sent here by mistake: still one JSON object
            message = json.dumps({"event": "log", "time": _time(record), "message": message},
                                 ensure_ascii=False)  # fmt: skip
        return redact_personnummer(message)


def _time(record: logging.LogRecord) -> str:
    return dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds")


def logging_config(level: str = "INFO") -> dict:
    """A ``logging.config.dictConfig`` dictionary for SATOSA's LOGGING setting."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "satosa_efos.logging_json.JsonFormatter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "json",
            }
        },
        "loggers": {"saml2": {"level": "WARNING"}},
        "root": {"level": level, "handlers": ["stderr"]},
    }
