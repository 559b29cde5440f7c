"""``GET /api/logs``: the recent log lines of the three services in one list.

The gateway's own ring (:mod:`servicekit.logring`) is merged with the recorder's ``ListLogs``
answer, which carries the resolver's lines too (the network policy stays gateway -> recorder ->
resolver), newest first by time. A service that cannot be read is named in ``services`` with
the reason; the lines of the others are still returned.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import grpc
from fastapi import APIRouter, Depends, Query

from gateway.backend import Backend, backend
from gateway.loki import explore_url
from gateway.schemas import iso_time
from servicekit import correlation
from servicekit.errors import InvalidArgument
from servicekit.log_service import (
    MAX_TEXT,
    level_name,
    merge_newest_first,
    query_to_pb,
    read_ring,
)
from servicekit.logring import DEFAULT_LIMIT, LEVELS, MAX_LIMIT, LogQuery
from servicekit.logs import log_ring
from streamrec.v1 import log_service_pb2, log_service_pb2_grpc

router = APIRouter(prefix="/api", tags=["logs"])

SERVICES = ("gateway", "recorder", "resolver")
# Short: a logs page polls, and a recorder that does not answer is reported, not waited for.
_TIMEOUT = 5.0
# What a protobuf Timestamp can hold: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
_FIRST_SECOND, _LAST_SECOND = -62_135_596_800, 253_402_300_799
# Fields a line shows on its own; every other field of the JSON line goes to "fields".
_TOP = {
    "@timestamp",
    "ecs.version",
    "log.level",
    "service.name",
    "log.logger",
    "message",
    "correlation_id",
    "event.action",
    "session_id",
    "channel",
    "error.type",
    "error.message",
}


def parse_query(
    level: str | None,
    services: list[str] | None,
    text: str | None,
    correlation_id: str | None,
    since: str | None,
    limit: int | None,
) -> LogQuery:
    """The filters of a request, checked (400 with a reason for a bad one)."""
    min_level = 0
    if level:
        if level.lower() not in LEVELS:
            raise InvalidArgument(
                f"level must be one of {', '.join(LEVELS)}", reason="INVALID_LOG_LEVEL"
            )
        min_level = LEVELS[level.lower()]
    names = {n.strip().lower() for raw in services or () for n in raw.split(",") if n.strip()}
    if names - set(SERVICES):
        raise InvalidArgument(
            f"service must be among {', '.join(SERVICES)}", reason="INVALID_SERVICE"
        )
    if text and len(text) > MAX_TEXT:
        raise InvalidArgument(f"q is longer than {MAX_TEXT} characters", reason="INVALID_TEXT")
    if correlation_id and not correlation.is_valid(correlation_id):
        raise InvalidArgument("malformed correlation id", reason="INVALID_CORRELATION_ID")
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument(f"limit must be 1 to {MAX_LIMIT}", reason="INVALID_LIMIT")
    return LogQuery(
        min_level=min_level,
        services=frozenset(names),
        text=text or "",
        correlation_id=correlation_id or "",
        since=_since(since),
        limit=limit or DEFAULT_LIMIT,
    )


def _since(value: str | None) -> float:
    if not value:
        return 0.0
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument(
            "since must be an ISO 8601 time (2026-01-31T12:00:00Z)", reason="INVALID_SINCE"
        ) from None
    if moment.tzinfo is None:
        raise InvalidArgument("since needs a time zone (Z or +hh:mm)", reason="INVALID_SINCE")
    seconds = moment.timestamp()
    if not _FIRST_SECOND <= seconds <= _LAST_SECOND:
        raise InvalidArgument("since is outside the years 1 to 9999 UTC", reason="INVALID_SINCE")
    return seconds


def line_json(record: log_service_pb2.LogRecord) -> dict[str, Any]:
    """One record as the API shows it (camelCase; absent values are null)."""
    try:
        fields = json.loads(record.json) if record.json else {}
    except ValueError:
        fields = {}
    return {
        "time": iso_time(record.time, True),
        "level": level_name(record.level),
        "service": record.service,
        "logger": record.logger,
        "message": record.message,
        "correlationId": record.correlation_id or None,
        "eventAction": record.event_action or None,
        "sessionId": record.session_id or None,
        "channel": record.channel or None,
        "errorType": record.error_type or None,
        "errorMessage": record.error_message or None,
        "fields": {k: v for k, v in fields.items() if k not in _TOP},
    }


def _status(source: log_service_pb2.LogSource) -> str:
    return "ok" if source.available else f"unavailable: {source.detail}"


async def _from_recorder(
    be: Backend, query: LogQuery, wanted: list[str]
) -> tuple[list[log_service_pb2.LogRecord], dict[str, str]]:
    """The recorder's (and through it the resolver's) records, and how reading them went."""
    # Empty = every service the recorder can read (itself and the resolver).
    asked = [] if not query.services else wanted
    stub = log_service_pb2_grpc.LogServiceStub(be.recorder_channel)
    try:
        answer: log_service_pb2.ListLogsResponse = await stub.ListLogs(
            query_to_pb(query, asked), timeout=_TIMEOUT
        )
    except grpc.RpcError as exc:
        reason = f"{exc.code().name}: {exc.details() or 'no details'}"
        statuses = {"recorder": f"unavailable: {reason}"}
        if "resolver" in wanted:
            statuses["resolver"] = "unavailable: the recorder could not be asked"
        return [], statuses
    return list(answer.records), {s.service: _status(s) for s in answer.sources}


@router.get("/logs", summary="Recent log lines of the gateway, the recorder and the resolver")
async def logs(
    be: Annotated[Backend, Depends(backend)],
    level: Annotated[str | None, Query(description="this level and above")] = None,
    service: Annotated[
        list[str] | None, Query(description="gateway, recorder, resolver (repeat or comma)")
    ] = None,
    q: Annotated[str | None, Query(description="text in the message or any field")] = None,
    correlation_id: Annotated[str | None, Query(description="one request's lines")] = None,
    since: Annotated[str | None, Query(description="only lines at or after (ISO 8601)")] = None,
    limit: Annotated[int | None, Query(description=f"1 to {MAX_LIMIT} (200)")] = None,
) -> dict[str, Any]:
    """The newest lines matching every filter, newest first, ordered by time across services:
    ``{lines: [{time, level, service, logger, message, correlationId, eventAction, sessionId,
    channel, errorType, errorMessage, fields}], services: {name: "ok" | "unavailable: ..."},
    lokiUrl}``. ``services`` names each service asked; ``lokiUrl`` is the same query in
    Grafana's Explore when ``LOKI_URL`` is set, else null. Secrets are redacted as in the log
    files."""
    query = parse_query(level, service, q, correlation_id, since, limit)
    groups: list[list[log_service_pb2.LogRecord]] = []
    statuses: dict[str, str] = {}
    if query.wants_service("gateway"):
        records, source = read_ring("gateway", log_ring(), query)
        groups.append(records)
        statuses["gateway"] = _status(source)
    wanted = [name for name in SERVICES[1:] if query.wants_service(name)]
    if wanted:
        records, found = await _from_recorder(be, query, wanted)
        groups.append(records)
        statuses.update(found)
    settings = be.settings
    return {
        "lines": [line_json(r) for r in merge_newest_first(groups, query.limit)],
        "services": {name: statuses[name] for name in SERVICES if name in statuses},
        "lokiUrl": (
            explore_url(settings.loki_url, settings.loki_datasource, query)
            if settings.loki_url
            else None
        ),
    }
