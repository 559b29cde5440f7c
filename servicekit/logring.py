"""The latest log records of this process, kept in memory for the dashboard's logs page.

:func:`servicekit.logs.setup_logging` installs a :class:`LogRing` next to the other handlers
(``LOG_RING_SIZE`` records, 0 = none). Each record is kept as the dict the JSON formatter
emits, so the ring shows the same fields with the same redaction as the JSON lines, and it is
read through the ``LogService`` (:mod:`servicekit.log_service`).

Cost, measured with ``timeit`` (``LogRing.emit`` on records made by ``Logger.makeRecord``, one
core of the shared dev box): about 1 us per record when the console is JSON (production: the
JSON handler has built the dict already and the formatter caches it on the record); with the
console format, which does not build it, 12 us for a plain record and 30 us for an
``ffmpeg.start`` line with six fields and a URL (redaction is most of it). Memory: about
0.9 KiB per record (``tracemalloc``, the same ``ffmpeg.start`` line), so the default 5,000
records hold about 4.5 MiB.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

#: Level names as the JSON lines spell them (``log.level``), lowest first.
LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
DEFAULT_RING_SIZE = 5_000
#: Records one query returns when it does not say (and the most it may ask for).
DEFAULT_LIMIT = 200
MAX_LIMIT = 5_000


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One record: its time (seconds since the epoch), level number and JSON fields."""

    created: float
    level: int
    fields: dict[str, Any]

    @property
    def service(self) -> str:
        return str(self.fields.get("service.name") or "")


@dataclass(frozen=True)
class LogQuery:
    """Which records to return: all of these filters at once, newest first, at most ``limit``."""

    min_level: int = 0
    #: Service names (``service.name``); empty = every service.
    services: frozenset[str] = field(default_factory=frozenset)
    #: Case-insensitive substring of the message or of any field's value.
    text: str = ""
    correlation_id: str = ""
    #: Only records at or after this time (seconds since the epoch); 0 = no bound.
    since: float = 0.0
    limit: int = DEFAULT_LIMIT

    def wants_service(self, name: str) -> bool:
        """True when records of service ``name`` may match."""
        return not self.services or name in self.services

    def matches(self, entry: LogEntry) -> bool:
        """True when ``entry`` passes every filter."""
        if entry.level < self.min_level or entry.created < self.since:
            return False
        fields = entry.fields
        if self.correlation_id and fields.get("correlation_id") != self.correlation_id:
            return False
        if self.services and entry.service not in self.services:
            return False
        return not self.text or self.text.casefold() in _haystack(fields)


def _haystack(fields: dict[str, Any]) -> str:
    return "\n".join(str(v) for v in fields.values() if v is not None).casefold()


class LogRing(logging.Handler):
    """A logging handler that keeps the last ``capacity`` records as JSON field dicts.

    ``to_fields`` turns a record into those fields (the JSON formatter's ``record_dict``).
    Appending is O(1) and never blocks on I/O; a query copies the ring under the handler's
    lock (records arrive from the event loop and from gRPC's and the metrics' threads)."""

    def __init__(
        self, capacity: int, to_fields: Callable[[logging.LogRecord], dict[str, Any]]
    ) -> None:
        super().__init__(level=logging.NOTSET)
        if capacity < 1:
            raise ValueError(f"a log ring holds at least 1 record, not {capacity}")
        self.capacity = capacity
        self._to_fields = to_fields
        self._entries: collections.deque[LogEntry] = collections.deque(maxlen=capacity)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            entry = LogEntry(record.created, record.levelno, self._to_fields(record))
        except Exception:  # noqa: BLE001 - a handler reports its failure, never raises
            self.handleError(record)
            return
        self._entries.append(entry)

    def __len__(self) -> int:
        return len(self._entries)

    def snapshot(self) -> list[LogEntry]:
        """Every record held, oldest first."""
        with self.lock:  # type: ignore[union-attr]  # createLock() always sets it
            return list(self._entries)

    def query(self, query: LogQuery) -> list[LogEntry]:
        """The newest records that match ``query``, newest first."""
        return list(_take(query, reversed(self.snapshot())))


def _take(query: LogQuery, newest_first: Iterable[LogEntry]) -> Iterator[LogEntry]:
    left = query.limit
    for entry in newest_first:
        if left <= 0:
            return
        if query.matches(entry):
            left -= 1
            yield entry
