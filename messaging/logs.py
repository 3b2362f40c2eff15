"""The one logging setup, for the server and the CLI alike.

``configure`` installs a single handler on the root logger, as text or as one JSON object per
line (``LIAISON_LOG_FORMAT``), at ``LIAISON_LOG_LEVEL``. A record may carry structured fields
(``extra={"route": ..., "status": ...}``, the names in ``FIELDS``); the request id of the request
being served is added to every record logged while serving it (``REQUEST_ID``).

What never reaches a log line: secrets (tokens, codes, keys), message content, and patient
identifiers. Request paths carry INS, so the access log names the route *template*
(``messaging.server.observe``, which also quiets aiohttp's report of malformed requests).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar
from typing import Any, Final, Literal, TextIO

LogFormat = Literal["text", "json"]

REQUEST_ID: ContextVar[str | None] = ContextVar("liaison_request_id", default=None)
"""The id of the request being served in this task, if any."""

FIELDS: Final = ("request_id", "method", "route", "status", "duration_ms", "worker")
"""Structured members a record may carry, in the order text lines show them."""

ACCESS_LOGGER: Final = "liaison.access"


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        return True


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {name: value for name in FIELDS if (value := getattr(record, name, None)) is not None}


def _utc(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message``, the structured
    fields, and ``exception`` (the formatted traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger message key=value…``, then the traceback, if any."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = _fields(record)
        if not fields:
            return line
        head, newline, rest = line.partition("\n")
        suffix = " ".join(f"{name}={value}" for name, value in fields.items())
        return f"{head} {suffix}{newline}{rest}"


class _CliFormatter(logging.Formatter):
    """A command's own warnings, as the rest of its output: ``warning: …``."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


def _install(handler: logging.Handler, level: int) -> None:
    root = logging.getLogger()
    for previous in list(root.handlers):
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(level)


def configure(log_format: LogFormat, level: str, stream: TextIO | None = None) -> None:
    """The server's logging: every record to ``stream`` (stderr) as ``log_format``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(_RequestIdFilter())
    _install(handler, logging.getLevelNamesMapping()[level.upper()])


def configure_cli(stream: TextIO | None = None) -> None:
    """A client command's logging: warnings and errors only, as ``warning: …`` lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_CliFormatter())
    _install(handler, logging.WARNING)
