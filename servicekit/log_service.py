"""``LogService``: the recent records of this process's log ring (:mod:`servicekit.logring`)
and, on the recorder, the resolver's too, merged newest first by time.

A service that cannot be read is named in the answer's ``sources`` with the reason, never an
error: the logs page is most wanted when something is down. The gateway reads its own ring
with the same functions, so its lines and the services' have one shape.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass

import grpc
from grpc import aio

from servicekit import correlation
from servicekit.errors import InvalidArgument
from servicekit.logring import DEFAULT_LIMIT, MAX_LIMIT, LogEntry, LogQuery, LogRing
from streamrec.v1 import log_service_pb2, log_service_pb2_grpc

log = logging.getLogger(__name__)

MAX_TEXT = 200
# An answer stops growing here (a few long stack traces would otherwise pass the 16 MiB the
# services' clients accept).
MAX_ANSWER_BYTES = 8 * 2**20
_LEVEL_TO_PB = {
    logging.DEBUG: log_service_pb2.LOG_LEVEL_DEBUG,
    logging.INFO: log_service_pb2.LOG_LEVEL_INFO,
    logging.WARNING: log_service_pb2.LOG_LEVEL_WARNING,
    logging.ERROR: log_service_pb2.LOG_LEVEL_ERROR,
    logging.CRITICAL: log_service_pb2.LOG_LEVEL_CRITICAL,
}
_PB_TO_LEVEL = {pb: level for level, pb in _LEVEL_TO_PB.items()}
_SERVICE_NAME_MAX = 64


def level_to_pb(level: int) -> log_service_pb2.LogLevel.ValueType:
    """A logging level number as the proto's LogLevel (a custom level goes to the one below)."""
    found = log_service_pb2.LOG_LEVEL_DEBUG
    for number, pb in sorted(_LEVEL_TO_PB.items()):
        if level >= number:
            found = pb
    return found


def level_name(level: log_service_pb2.LogLevel.ValueType) -> str:
    """``LOG_LEVEL_WARNING`` -> ``warning`` (as the JSON lines spell it)."""
    return log_service_pb2.LogLevel.Name(level).removeprefix("LOG_LEVEL_").lower()


def query_from_pb(request: log_service_pb2.ListLogsRequest) -> LogQuery:
    """The filters of a ListLogs request, checked (InvalidArgument with a reason)."""
    if request.min_level and request.min_level not in _PB_TO_LEVEL:
        raise InvalidArgument(f"unknown log level {request.min_level}", reason="INVALID_LOG_LEVEL")
    for name in request.services:
        if not name or len(name) > _SERVICE_NAME_MAX or not name.isprintable():
            raise InvalidArgument("a service name is empty or malformed", reason="INVALID_SERVICE")
    if len(request.text) > MAX_TEXT:
        raise InvalidArgument(
            f"the text filter is longer than {MAX_TEXT} characters", reason="INVALID_TEXT"
        )
    if request.correlation_id and not correlation.is_valid(request.correlation_id):
        raise InvalidArgument("malformed correlation id", reason="INVALID_CORRELATION_ID")
    if request.limit < 0:
        raise InvalidArgument("limit must not be negative", reason="INVALID_LIMIT")
    since = 0.0
    if request.HasField("since"):
        try:
            since = request.since.ToNanoseconds() / 1e9
        except ValueError:  # outside 0001-9999, or nanos out of range
            raise InvalidArgument("since is not a valid time", reason="INVALID_SINCE") from None
    return LogQuery(
        min_level=_PB_TO_LEVEL.get(request.min_level, 0),
        services=frozenset(request.services),
        text=request.text,
        correlation_id=request.correlation_id,
        since=since,
        limit=min(request.limit or DEFAULT_LIMIT, MAX_LIMIT),
    )


def query_to_pb(query: LogQuery, services: Iterable[str] = ()) -> log_service_pb2.ListLogsRequest:
    """The ListLogs request for ``query``, asking only ``services`` (empty: all)."""
    request = log_service_pb2.ListLogsRequest(
        min_level=(
            level_to_pb(query.min_level)
            if query.min_level
            else log_service_pb2.LOG_LEVEL_UNSPECIFIED
        ),
        services=sorted(services),
        text=query.text,
        correlation_id=query.correlation_id,
        limit=query.limit,
    )
    if query.since:
        request.since.FromNanoseconds(int(query.since * 1e9))
    return request


def _text(value: object) -> str:
    return "" if value is None else str(value)


def entry_to_pb(entry: LogEntry) -> log_service_pb2.LogRecord:
    """One ring entry as a LogRecord (the common fields, and the whole JSON line)."""
    f = entry.fields
    record = log_service_pb2.LogRecord(
        level=level_to_pb(entry.level),
        service=_text(f.get("service.name")),
        logger=_text(f.get("log.logger")),
        message=_text(f.get("message")),
        correlation_id=_text(f.get("correlation_id")),
        event_action=_text(f.get("event.action")),
        session_id=_text(f.get("session_id")),
        channel=_text(f.get("channel")),
        error_type=_text(f.get("error.type")),
        error_message=_text(f.get("error.message")),
        # As EcsJsonFormatter writes the line.
        json=json.dumps(f, default=str, ensure_ascii=False),
    )
    record.time.FromNanoseconds(int(entry.created * 1e9))
    return record


def read_ring(
    service: str, ring: LogRing | None, query: LogQuery
) -> tuple[list[log_service_pb2.LogRecord], log_service_pb2.LogSource]:
    """This process's matching records, and how reading them went."""
    if ring is None:
        source = log_service_pb2.LogSource(
            service=service, available=False, detail="log ring off (LOG_RING_SIZE=0)"
        )
        return [], source
    records = [entry_to_pb(e) for e in ring.query(query)]
    return records, log_service_pb2.LogSource(service=service, available=True)


def unavailable(service: str, error: grpc.RpcError) -> log_service_pb2.LogSource:
    """The source entry of a service whose ListLogs call failed."""
    detail = f"{error.code().name}: {error.details() or 'no details'}"
    return log_service_pb2.LogSource(service=service, available=False, detail=detail)


def merge_newest_first(
    groups: Iterable[Iterable[log_service_pb2.LogRecord]], limit: int
) -> list[log_service_pb2.LogRecord]:
    """Records of several services as one list, newest first by time, at most ``limit``
    records and about MAX_ANSWER_BYTES."""
    merged = sorted(
        (r for group in groups for r in group), key=lambda r: r.time.ToNanoseconds(), reverse=True
    )
    kept, size = [], 0
    for record in merged[:limit]:
        size += record.ByteSize()
        if size > MAX_ANSWER_BYTES:
            break
        kept.append(record)
    return kept


@dataclass(frozen=True)
class Upstream:
    """Another service whose ListLogs answer is merged into ours (the recorder's resolver)."""

    service: str
    stub: log_service_pb2_grpc.LogServiceStub
    timeout: float = 3.0


class LogServicer(log_service_pb2_grpc.LogServiceServicer):
    """ListLogs over ``ring`` (this process, named ``service``) and ``upstream`` when given."""

    def __init__(
        self, service: str, ring: LogRing | None, *, upstream: Upstream | None = None
    ) -> None:
        self._service = service
        self._ring = ring
        self._upstream = upstream

    async def ListLogs(
        self, request: log_service_pb2.ListLogsRequest, context: aio.ServicerContext
    ) -> log_service_pb2.ListLogsResponse:
        query = query_from_pb(request)
        groups: list[list[log_service_pb2.LogRecord]] = []
        sources: list[log_service_pb2.LogSource] = []
        if query.wants_service(self._service):
            records, source = read_ring(self._service, self._ring, query)
            groups.append(records)
            sources.append(source)
        up = self._upstream
        if up is not None and query.wants_service(up.service):
            try:
                answer: log_service_pb2.ListLogsResponse = await up.stub.ListLogs(
                    request, timeout=up.timeout
                )
            except grpc.RpcError as exc:
                # Logged at debug: a logs page polling a stopped resolver must not fill the
                # logs with the news.
                log.debug(
                    "%s logs not read: %s",
                    up.service,
                    exc.code().name,
                    extra={"event.action": "logs.upstream_error", "error.type": exc.code().name},
                )
                sources.append(unavailable(up.service, exc))
            else:
                groups.append(list(answer.records))
                sources.extend(answer.sources)
        return log_service_pb2.ListLogsResponse(
            records=merge_newest_first(groups, query.limit), sources=sources
        )
