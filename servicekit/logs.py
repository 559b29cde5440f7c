"""Logging for every streamrec service: JSON lines for Loki/ELK, or the seed's console look.

Call :func:`setup_logging` once at start-up. Everything else uses plain stdlib loggers and
passes context through ``extra=``, using the field names of ARCHITECTURE.md, e.g.::

    log.info("ffmpeg started", extra={"event.action": "ffmpeg.start", "session_id": sid})
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import sys
import traceback
from datetime import UTC, datetime
from typing import Any, TextIO

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from servicekit import correlation
from servicekit.console_look import action_emoji, banner
from servicekit.logring import DEFAULT_RING_SIZE, LogRing
from servicekit.redact import redact_text, redact_value

ECS_VERSION = "8.11.0"
# LogRecord attributes that are never "context": everything else set through extra= is.
# uvicorn's ``color_message`` is its message again with terminal escape codes.
_RESERVED = frozenset(RESERVED_ATTRS) | {
    "message",
    "asctime",
    "correlation_id",
    "service_name",
    "color_message",
}
# Where a record keeps the fields the JSON formatter made of it, so the console (or file)
# handler and the log ring build them once between them.
_FIELDS_ATTR = "_ecs_fields"
_ring: LogRing | None = None


class ContextFilter(logging.Filter):
    """Stamps every record with the current correlation id and the service name.

    Installed on the handlers (not on loggers) so records of library loggers get it too.
    """

    def __init__(self, service_name: str) -> None:
        super().__init__()
        self.service_name = service_name

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "correlation_id", None):
            record.correlation_id = correlation.get()
        record.service_name = self.service_name
        return True


def _context(record: logging.LogRecord) -> dict[str, Any]:
    """The structured context of a record (its ``extra=`` fields), redacted."""
    return {
        key: redact_value(key, value)
        for key, value in record.__dict__.items()
        if key not in _RESERVED and not key.startswith("_")
    }


def _iso_ms(created: float) -> str:
    return datetime.fromtimestamp(created, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class EcsJsonFormatter(JsonFormatter):
    """One JSON object per line with ECS-style dotted field names (Loki ``| json`` and Kibana)."""

    def __init__(self, service_name: str) -> None:
        super().__init__(json_ensure_ascii=False)
        self.service_name = service_name

    def format(self, record: logging.LogRecord) -> str:
        return self.jsonify_log_record(self.record_dict(record))

    def record_dict(self, record: logging.LogRecord) -> dict[str, Any]:
        """The fields of ``record``'s JSON line (the dict is shared: do not change it)."""
        cached = record.__dict__.get(_FIELDS_ATTR)
        if cached is not None and cached[0] == self.service_name:
            fields: dict[str, Any] = cached[1]
            return fields
        fields = {}
        self.add_fields(fields, record, {})
        record.__dict__[_FIELDS_ATTR] = (self.service_name, fields)
        return fields

    def add_fields(
        self,
        log_data: dict[str, Any],
        record: logging.LogRecord,
        message_dict: dict[str, Any],
    ) -> None:
        log_data["@timestamp"] = _iso_ms(record.created)
        log_data["log.level"] = record.levelname.lower()
        log_data["message"] = redact_text(record.getMessage())
        log_data["log.logger"] = record.name
        log_data["service.name"] = getattr(record, "service_name", None) or self.service_name
        log_data["ecs.version"] = ECS_VERSION
        log_data["correlation_id"] = getattr(record, "correlation_id", None)
        log_data.update(_context(record))
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, exc, _tb = record.exc_info
            log_data.setdefault("error.type", exc_type.__name__)
            log_data.setdefault("error.message", redact_text(str(exc)))
            log_data["error.stack_trace"] = redact_text(str(self.formatException(record.exc_info)))
        if record.stack_info:
            log_data["log.origin.stack"] = self.formatStack(record.stack_info)

    def jsonify_log_record(self, log_data: dict[str, Any]) -> str:
        # json.dumps escapes newlines, so a stack trace stays on its one line.
        return json.dumps(log_data, default=str, ensure_ascii=False)


_EMOJI = {
    "DEBUG": "🔍",
    "INFO": "\u2139\ufe0f ",
    "WARNING": "⚠️ ",
    "ERROR": "❌",
    "CRITICAL": "🔥",
}
_COLOUR = {
    "DEBUG": "\033[36m",
    "INFO": "\033[32m",
    "WARNING": "\033[33m",
    "ERROR": "\033[31m",
    "CRITICAL": "\033[1;91m",
}
_RESET = "\033[0m"
_DIM = "\033[2m"


class ConsoleFormatter(logging.Formatter):
    """The seed's human format: ms timestamp, emoji, coloured level, logger, message with the
    emoji of its kind, context; a section banner before a service's and a session's start and
    a session's end (:mod:`servicekit.console_look`)."""

    def __init__(self, colour: bool, service_name: str = "") -> None:
        super().__init__()
        self.colour = colour
        self.service_name = service_name

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        level = record.levelname
        emoji = _EMOJI.get(level, " ")
        level_txt = f"[{level:<8}]"
        if self.colour:
            level_txt = f"{_COLOUR.get(level, '')}{level_txt}{_RESET}"
        name = record.name if len(record.name) <= 18 else "…" + record.name[-17:]
        message = redact_text(record.getMessage())
        context = _context(record)
        kind = action_emoji(context.get("event.action"))
        line = f"{ts} {emoji} {level_txt} {name:<18} │ {kind + ' ' if kind else ''}{message}"
        service = getattr(record, "service_name", None) or self.service_name
        if section := banner(service, message, context):
            line = (f"\033[1m{section}{_RESET}" if self.colour else section) + "\n" + line
        cid = getattr(record, "correlation_id", None)
        if cid:
            context = {"correlation_id": cid, **context}
        if context:
            body = json.dumps(context, indent=2, default=str, ensure_ascii=False)
            body = "\n".join("    " + part for part in body.splitlines())
            block = "  └─ " + body.lstrip()
            line += "\n" + (f"{_DIM}{block}{_RESET}" if self.colour else block)
        if record.exc_info and record.exc_info[0] is not None:
            line += "\n" + redact_text("".join(traceback.format_exception(*record.exc_info)))
        return line


def _want_json(fmt: str, stream: TextIO) -> bool:
    if fmt == "json":
        return True
    if fmt == "console":
        return False
    return not (hasattr(stream, "isatty") and stream.isatty())


def setup_logging(
    service_name: str,
    *,
    level: str | None = None,
    fmt: str | None = None,
    log_file: str | None = None,
    max_bytes: int | None = None,
    backups: int | None = None,
    stream: TextIO | None = None,
    ring_size: int | None = None,
) -> None:
    """Configure the root logger once for a service.

    Arguments default to the environment: ``LOG_LEVEL`` (INFO), ``LOG_FORMAT``
    (``auto``: console on a TTY, JSON otherwise; or ``json`` / ``console``), ``LOG_FILE``
    (also write JSON lines to this file with size rotation), ``LOG_FILE_MAX_BYTES``
    (10 MiB), ``LOG_FILE_BACKUPS`` (5) and ``LOG_RING_SIZE`` (5000 records kept in memory
    for the ``LogService``, see :func:`log_ring`; 0 = none).
    """
    level = (level or os.environ.get("LOG_LEVEL") or "INFO").upper()
    fmt = (fmt or os.environ.get("LOG_FORMAT") or "auto").lower()
    if fmt not in ("auto", "json", "console"):
        raise ValueError(f"LOG_FORMAT must be auto, json or console, not {fmt!r}")
    if level not in logging.getLevelNamesMapping():
        raise ValueError(f"LOG_LEVEL {level!r} is not a logging level")
    log_file = log_file if log_file is not None else os.environ.get("LOG_FILE", "")
    ring_size = _ring_size(ring_size)
    stream = stream or sys.stderr

    context_filter = ContextFilter(service_name)
    handlers: list[logging.Handler] = []
    console = logging.StreamHandler(stream)
    if _want_json(fmt, stream):
        console.setFormatter(EcsJsonFormatter(service_name))
    else:
        colour = hasattr(stream, "isatty") and stream.isatty() and "NO_COLOR" not in os.environ
        console.setFormatter(ConsoleFormatter(colour=colour, service_name=service_name))
    handlers.append(console)
    if log_file:
        rotating = logging.handlers.RotatingFileHandler(
            log_file,
            maxBytes=max_bytes or int(os.environ.get("LOG_FILE_MAX_BYTES", str(10 * 2**20))),
            backupCount=backups or int(os.environ.get("LOG_FILE_BACKUPS", "5")),
            encoding="utf-8",
        )
        rotating.setFormatter(EcsJsonFormatter(service_name))
        handlers.append(rotating)
    global _ring
    _ring = LogRing(ring_size, EcsJsonFormatter(service_name).record_dict) if ring_size else None
    if _ring is not None:
        handlers.append(_ring)

    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        handler.addFilter(context_filter)
        root.addHandler(handler)
    root.setLevel(level)
    # uvicorn installs its own handlers; route its records through ours instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lib = logging.getLogger(name)
        lib.handlers.clear()
        lib.propagate = True
    # httpcore's debug traces print the SOCKS5 handshake, the proxy's user and password in it
    # (``setup_socks5_connection ... auth=(b'user', b'password')``): never below INFO.
    logging.getLogger("httpcore").setLevel(max(logging.INFO, root.level))
    logging.captureWarnings(True)


def _ring_size(value: int | None) -> int:
    if value is not None:
        raw = str(value)
    else:
        raw = os.environ.get("LOG_RING_SIZE", "").strip() or str(DEFAULT_RING_SIZE)
    if not raw.isdigit():
        raise ValueError(f"LOG_RING_SIZE must be a number of records (0 = none), not {raw!r}")
    return int(raw)


def log_ring() -> LogRing | None:
    """The ring of recent records :func:`setup_logging` installed (None when it is off or
    logging was not set up)."""
    return _ring
