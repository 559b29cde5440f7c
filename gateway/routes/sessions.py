"""The seed's recording routes: start, status, stop."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query

from gateway.backend import Backend, backend
from gateway.schemas import SOURCE_TYPES, StartBody, session_json
from gateway.sites import check_site
from servicekit import correlation
from servicekit.retry import call_idempotent
from streamrec.v1 import recorder_service_pb2

router = APIRouter(prefix="/api", tags=["recordings"])
SessionId = Annotated[str, Path(max_length=64, description="session id")]


@router.post("/start", status_code=201, summary="Start recording a target")
async def start(
    body: StartBody,
    be: Annotated[Backend, Depends(backend)],
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> dict[str, Any]:
    """Resolve the target and start recording it (``site`` names a username's site; so does a
    ``site:username`` target). 409 if that person is already recording."""
    # The request id makes a retried start (ours on UNAVAILABLE, or the client's with the
    # same Idempotency-Key) return the same session instead of starting twice.
    request_id = idempotency_key or correlation.get() or correlation.new_id()
    request = recorder_service_pb2.StartRecordingRequest(
        target=body.target,
        source=check_site(body.site) if body.site else "",
        source_type=SOURCE_TYPES[body.source_type or "auto"],
        name=body.name or "",
        person=body.person or "",
        request_id=request_id,
        quality=body.quality.to_pb() if body.quality else None,
    )
    response = await call_idempotent(
        lambda: be.recorder.StartRecording(request, timeout=be.settings.rpc_timeout)
    )
    return session_json(response.session)


@router.get("/status", summary="List recording sessions")
async def status(
    be: Annotated[Backend, Depends(backend)],
    include_ended: Annotated[bool, Query(alias="all")] = False,
) -> list[dict[str, Any]]:
    """Running sessions (``?all=true`` adds recently ended ones), newest first."""
    sessions: list[dict[str, Any]] = []
    token = ""

    async def page(token: str) -> recorder_service_pb2.ListSessionsResponse:
        request = recorder_service_pb2.ListSessionsRequest(
            page_size=1000, page_token=token, include_ended=include_ended
        )
        reply: recorder_service_pb2.ListSessionsResponse = await call_idempotent(
            lambda: be.recorder.ListSessions(request, timeout=be.settings.rpc_timeout)
        )
        return reply

    while True:
        response = await page(token)
        sessions.extend(session_json(s) for s in response.sessions)
        token = response.next_page_token
        if not token:
            return sessions


@router.get("/sessions/{session_id}", summary="One session")
async def get_session(session_id: SessionId, be: Annotated[Backend, Depends(backend)]) -> Any:
    request = recorder_service_pb2.GetSessionRequest(session_id=session_id)
    response = await call_idempotent(
        lambda: be.recorder.GetSession(request, timeout=be.settings.rpc_timeout)
    )
    return session_json(response.session)


@router.post("/stop/{session_id}", summary="Stop a session")
async def stop(session_id: SessionId, be: Annotated[Backend, Depends(backend)]) -> Any:
    """Stop a session and return it once its file is finalized (404 if unknown)."""
    request = recorder_service_pb2.StopRecordingRequest(session_id=session_id)
    response = await call_idempotent(
        lambda: be.recorder.StopRecording(request, timeout=be.settings.rpc_timeout)
    )
    return session_json(response.session)
