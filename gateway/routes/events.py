"""``GET /api/events``: WatchSessions as server-sent events, resumable with Last-Event-ID.

The SSE ``id`` of every event is its recorder sequence. When the gRPC stream drops (recorder
restarting, or this client was too slow) the gateway resumes it from the last sequence it
sent, so the browser sees one unbroken stream."""

from __future__ import annotations

import asyncio
import collections
import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

import grpc
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.responses import StreamingResponse
from grpc import aio

from gateway.backend import Backend, backend
from gateway.schemas import event_json, session_json
from servicekit.errors import InvalidArgument
from streamrec.v1 import recorder_service_pb2, session_pb2

router = APIRouter(prefix="/api", tags=["events"])
log = logging.getLogger("gateway.events")  # the logger name its lines have always carried
_RETRY_MS = 2000
_RESUMABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)
# Frames of recent events by their wire bytes: every SSE client gets each event from its own
# gRPC stream, and the same bytes always make the same frame.
_FRAMES: collections.OrderedDict[bytes, tuple[bytes, int]] = collections.OrderedDict()
_FRAMES_KEPT = 256
_CLOSING = object()  # what _read returns once the gateway shuts down


def _frame(event: str, data: dict[str, Any], sequence: int | None) -> bytes:
    lines = [f"id: {sequence}"] if sequence is not None else []
    lines += [f"event: {event}", f"data: {json.dumps(data, separators=(',', ':'))}", "", ""]
    return "\n".join(lines).encode()


def to_sse(message: recorder_service_pb2.WatchSessionsResponse) -> tuple[bytes, int | None]:
    """One WatchSessions message as SSE frames (a batch of events is one frame each, written
    together), with the sequence it brings us to."""
    kind = message.WhichOneof("payload")
    if kind == "event":
        return _event_frame(message.event)
    if kind == "batch":
        frames = [_event_frame(e) for e in message.batch.events]
        return b"".join(f for f, _ in frames), frames[-1][1] if frames else None
    if kind == "snapshot":
        snap = message.snapshot
        data = {"sequence": snap.sequence, "sessions": [session_json(s) for s in snap.sessions]}
        return _frame("snapshot", data, snap.sequence), snap.sequence
    return f": heartbeat {message.heartbeat.sequence}\n\n".encode(), None


def _event_frame(event: session_pb2.SessionEvent) -> tuple[bytes, int]:
    """An event's frame, made once for all the clients it goes to."""
    key = event.SerializeToString(deterministic=True)
    found = _FRAMES.get(key)
    if found is None:
        data = event_json(event)
        found = _FRAMES[key] = _frame(data["type"].lower(), data, event.sequence), event.sequence
        if len(_FRAMES) > _FRAMES_KEPT:
            _FRAMES.popitem(last=False)
    return found


def _parse_after(last_event_id: str | None, after: int | None) -> int:
    if last_event_id is not None and last_event_id.strip():
        value = last_event_id.strip()
        if not value.isdigit() or len(value) > 19:
            raise InvalidArgument("Last-Event-ID must be an event sequence", reason="BAD_EVENT_ID")
        return int(value)
    return after or 0


def shutdown_event(app: FastAPI) -> asyncio.Event:
    """Set when the gateway begins to shut down: every event stream then ends at once, so the
    server need not wait for them (or cut them off) and each gets its access line."""
    found: asyncio.Event | None = getattr(app.state, "events_shutdown", None)
    if found is None:
        found = app.state.events_shutdown = asyncio.Event()
    return found


async def _read(call: Any, closing: asyncio.Future[Any]) -> Any:
    """The call's next message, or ``_CLOSING`` once the gateway shuts down."""
    read = asyncio.ensure_future(call.read())
    await asyncio.wait((read, closing), return_when=asyncio.FIRST_COMPLETED)
    if read.done():
        return read.result()
    read.cancel()
    return _CLOSING


def _closed(last: int) -> None:
    log.info(
        "event stream closed: the gateway is shutting down (the client resumes after %d)",
        last,
        extra={"event.action": "sse.shutdown", "sequence": last},
    )


async def _stream(
    be: Backend,
    first: recorder_service_pb2.WatchSessionsResponse,
    call: Any,
    last: int,
    shutdown: asyncio.Event,
) -> AsyncIterator[bytes]:
    yield f"retry: {_RETRY_MS}\n\n".encode()
    closing = asyncio.ensure_future(shutdown.wait())
    message: Any = first
    delay = 0.5
    try:
        while True:
            try:
                while message is not aio.EOF:
                    frame, sequence = to_sse(message)
                    if sequence is not None:
                        last = sequence
                    yield frame
                    delay = 0.5
                    message = await _read(call, closing)
                    if message is _CLOSING:
                        _closed(last)
                        return
                log.info("event stream ended by the recorder; resuming", extra={"sequence": last})
            except grpc.RpcError as exc:
                if exc.code() not in _RESUMABLE:
                    raise
                log.warning(
                    "event stream dropped (%s); resuming after %d",
                    exc.code().name,
                    last,
                    extra={"event.action": "sse.resume", "sequence": last},
                )
            call.cancel()
            # Keep the browser's connection warm while the recorder comes back.
            yield b": reconnecting\n\n"
            await asyncio.wait((closing,), timeout=delay)
            if closing.done():
                _closed(last)
                return
            delay = min(delay * 2, 5.0)
            call = be.recorder.WatchSessions(
                recorder_service_pb2.WatchSessionsRequest(after_sequence=last, allow_batches=True)
            )
            message = aio.EOF
            try:
                message = await _read(call, closing)
            except grpc.RpcError as exc:
                if exc.code() not in _RESUMABLE:
                    raise
            if message is _CLOSING:
                _closed(last)
                return
    finally:
        closing.cancel()
        call.cancel()


@router.get("/events", summary="Session events as server-sent events")
async def events(
    request: Request,
    be: Annotated[Backend, Depends(backend)],
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=32)] = None,
    after: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
) -> StreamingResponse:
    """A snapshot of the sessions (or, with ``Last-Event-ID`` / ``?after=N``, the events after
    that sequence), then every session event live, with ``: heartbeat`` comments."""
    after_seq = _parse_after(last_event_id, after)
    call = be.recorder.WatchSessions(
        recorder_service_pb2.WatchSessionsRequest(after_sequence=after_seq, allow_batches=True)
    )
    first = await call.read()  # a recorder that is down fails here, as a 503, not mid-stream
    return StreamingResponse(
        _stream(be, first, call, after_seq, shutdown_event(request.app)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
