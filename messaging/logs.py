"""The one logging setup, for the server and the CLI alike.

``configure`` installs a single handler on the root logger, as text or as one JSON object per
line (``LIAISON_LOG_FORMAT``), at ``LIAISON_LOG_LEVEL``. A record may carry structured fields
(``extra={"route": ..., "status": ...}``, the names in ``FIELDS``); the request id of the request
being served is added to every record logged while serving it (``REQUEST_ID``).

What never reaches a log line: secrets (tokens, codes, keys), message content, and patient
identifiers. Request paths carry INS, so the access log names the route *template*
(``messaging.server.observe``, which also quiets aiohttp's report of malformed requests).

The access log is one line per request, so it is made cheap (``docs/performance.md``): its
record is built without the generic ``Logger._log`` (no caller lookup, no thread and process
names), the time prefix is formatted once per second, and the server's handler writes access
lines in batches, at most ``ACCESS_FLUSH_SECONDS`` late (one write instead of one per line).
Any other record writes the batch and itself at once, so a warning or an error is never late
and lines keep their order; ``logging.shutdown`` (run by every exit path) writes what is left.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Final, Literal, TextIO

LogFormat = Literal["text", "json"]

REQUEST_ID: ContextVar[str | None] = ContextVar("liaison_request_id", default=None)
"""The id of the request being served in this task, if any."""

FIELDS: Final = ("request_id", "method", "route", "status", "duration_ms", "worker")
"""Structured members a record may carry, in the order text lines show them."""

ACCESS_LOGGER: Final = "liaison.access"
ACCESS_FLUSH_SECONDS: Final = 0.1
"""How late an access line may reach the stream: up to this long's lines share one write."""

_access_logger = logging.getLogger(ACCESS_LOGGER)


def _logging_started() -> float:
    """When ``logging`` was imported, which ``relativeCreated`` counts from."""
    sample = logging.makeLogRecord({})
    return sample.created - sample.relativeCreated / 1000


_LOGGING_STARTED: Final = _logging_started()


class AccessRecord(logging.LogRecord):
    """An access-log record, made without what ``Logger.makeRecord`` spends on every record:
    the caller's frame (always the observe middleware), the thread and process names (None, as
    logging itself leaves them when ``logThreads``/``logProcesses`` are off)."""

    # In the instance's ``__dict__``, not the class's: a ``%(levelname)s`` format reads that.
    _SAME: Final = {
        "name": ACCESS_LOGGER,
        "msg": "%s %s %d %.1f ms",
        "levelno": logging.INFO,
        "levelname": "INFO",
        "pathname": __file__,
        "filename": os.path.basename(__file__),
        "module": __name__.rpartition(".")[2],
        "lineno": 0,
        "funcName": "access",
        "exc_info": None,
        "exc_text": None,
        "stack_info": None,
        "thread": None,
        "threadName": None,
        "processName": None,
    }

    def __init__(  # not the base's: its work is what this record avoids
        self, request_id: str, method: str, route: str, status: int, duration_ms: float
    ) -> None:
        self.__dict__.update(self._SAME)
        created = time.time()
        self.created = created
        self.msecs = int((created - int(created)) * 1000) + 0.0  # as LogRecord computes it
        self.relativeCreated = (created - _LOGGING_STARTED) * 1000
        self.process = os.getpid()
        self.args = (method, route, status, duration_ms)
        self.request_id = request_id
        self.method = method
        self.route = route
        self.status = status
        self.duration_ms = duration_ms


def access(request_id: str, method: str, route: str, status: int, duration_ms: float) -> None:
    """The access-log line of one request, at info level on ``ACCESS_LOGGER``."""
    if _access_logger.isEnabledFor(logging.INFO):
        _access_logger.handle(AccessRecord(request_id, method, route, status, duration_ms))


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        return True


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {name: value for name in FIELDS if (value := getattr(record, name, None)) is not None}


class _Seconds:
    """``strftime`` of the current second, formatted once per second rather than per line."""

    __slots__ = ("_convert", "_pattern", "_second", "_text")

    def __init__(self, pattern: str, convert: Callable[[float], time.struct_time]) -> None:
        self._pattern = pattern
        self._convert = convert
        self._second = -1
        self._text = ""

    def __call__(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._text = time.strftime(self._pattern, self._convert(second))
            self._second = second
        return self._text


_utc_seconds = _Seconds("%Y-%m-%dT%H:%M:%S", time.gmtime)


def _utc(created: float) -> str:
    return f"{_utc_seconds(created)}.{int(created % 1 * 1000):03d}Z"


# One encoder for every line: ``json.dumps`` with options builds a new one per call.
_json_line = json.JSONEncoder(ensure_ascii=False, default=str).encode


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
        return _json_line(document)


class TextFormatter(logging.Formatter):
    """``time level logger message key=value…``, then the traceback, if any. The time is
    ``logging``'s default (local, ``2026-01-31 12:00:00,123``); the lines are what
    ``Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")`` writes, made without
    its generic machinery (a format string applied to the record's ``__dict__``)."""

    def __init__(self) -> None:
        super().__init__()
        self._seconds = _Seconds("%Y-%m-%d %H:%M:%S", time.localtime)

    def format(self, record: logging.LogRecord) -> str:
        line = (
            f"{self._seconds(record.created)},{int(record.msecs):03d} "
            f"{record.levelname} {record.name} {record.getMessage()}"
        )
        if record.exc_info or record.exc_text or record.stack_info:
            line = self._with_traceback(line, record)
        suffix = " ".join(
            [
                f"{name}={value}"
                for name in FIELDS
                if (value := getattr(record, name, None)) is not None
            ]
        )
        if not suffix:
            return line
        head, newline, rest = line.partition("\n")
        return f"{head} {suffix}{newline}{rest}"

    def _with_traceback(self, line: str, record: logging.LogRecord) -> str:
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        for more in (record.exc_text, record.stack_info and self.formatStack(record.stack_info)):
            if more:
                line = f"{line}{more}" if line.endswith("\n") else f"{line}\n{more}"
        return line


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


class _BatchingHandler(logging.StreamHandler[TextIO]):
    """A stream handler that holds access lines up to ``ACCESS_FLUSH_SECONDS`` (when called on
    an event loop) and writes every other record, with the lines before it, at once."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._due_on: asyncio.AbstractEventLoop | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._pending.append(self.format(record) + self.terminator)
            if record.name != ACCESS_LOGGER or not self._flush_later():
                self.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def _flush_later(self) -> bool:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        # A batch due on a loop since closed never comes: schedule on the running one.
        if self._due_on is not loop:
            self._due_on = loop
            loop.call_later(ACCESS_FLUSH_SECONDS, self._flush_due)
        return True

    def _flush_due(self) -> None:
        self._due_on = None
        self.flush()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]  # created by Handler.__init__
            if self._pending:
                text = "".join(self._pending)
                self._pending.clear()
                self.stream.write(text)
            self.stream.flush()


def flush() -> None:
    """Write every line still held (the access lines' batch) now: before a line printed
    outside logging, such as ``liaison: stopped``, which must come after them."""
    for handler in logging.getLogger().handlers:
        handler.flush()


def configure(log_format: LogFormat, level: str, stream: TextIO | None = None) -> None:
    """The server's logging: every record to ``stream`` (stderr) as ``log_format``."""
    handler = _BatchingHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(_RequestIdFilter())
    _install(handler, logging.getLevelNamesMapping()[level.upper()])


def configure_cli(stream: TextIO | None = None) -> None:
    """A client command's logging: warnings and errors only, as ``warning: …`` lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_CliFormatter())
    _install(handler, logging.WARNING)
