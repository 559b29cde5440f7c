"""``/api/recordings`` and ``/api/cleanup``: the recording files (``RecordingService``).

Person and file names are checked here before any call (a bad one is a 400 even when the
recorder is down). Reads are retried on UNAVAILABLE; deleting and pinning are not."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, Path
from google.protobuf.field_mask_pb2 import FieldMask
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from gateway.backend import PAGE_SIZE, Backend, all_pages, backend
from gateway.routes.playback import playback_url
from gateway.schemas import (
    PERSON_RE,
    check_file_name,
    check_person,
    enum_name,
    gap_json,
    iso_time,
    seconds,
)
from servicekit.retry import call_idempotent
from streamrec.v1 import recording_service_pb2

router = APIRouter(prefix="/api", tags=["recordings"])

Person = Annotated[
    str, Path(description="the recording folder ([A-Za-z0-9_-], 1-64; case does not matter)")
]
FileName = Annotated[str, Path(description="a .ts or .mp4 file name in that folder")]
# ``:path`` so that a name with an (encoded) slash reaches the check and gets its 400.
_FILE_ROUTE = "/recordings/{username}/{filename:path}"


class PinBody(BaseModel):
    """``PUT /api/recordings/{username}/{filename}``."""

    model_config = ConfigDict(extra="forbid")

    pinned: bool = Field(..., description="pinned recordings are never deleted by retention")


class CleanupBody(BaseModel):
    """``POST /api/cleanup`` (the body is optional: none means every channel, for real)."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel)

    person: str | None = Field(
        None, pattern=PERSON_RE.pattern, description="only this folder (absent = every one)"
    )
    dry_run: bool = Field(False, description="report what would be deleted, delete nothing")


def recording_json(r: recording_service_pb2.Recording) -> dict[str, Any]:
    """A recording file as the REST API shows it; ``url`` serves it (with Range support)."""
    state = enum_name(recording_service_pb2.RecordingState.Name, r.state, "RECORDING_STATE_")
    base = f"/api/recordings/{quote(r.person)}/{quote(r.file_name)}"  # its pictures (media.py)
    return {
        "person": r.person,
        "file": r.file_name,
        "path": r.path,
        "url": f"/streams/records/{quote(r.person)}/{quote(r.file_name)}",
        "playbackUrl": playback_url(r.person, r.file_name),
        "size": r.size_bytes,
        "duration": seconds(r.media_duration),
        "startTime": iso_time(r.start_time, r.HasField("start_time")),
        "endTime": iso_time(r.end_time, r.HasField("end_time")),
        "state": state or "UNSPECIFIED",
        "sessionId": r.session_id or None,
        "part": r.part,
        "parts": r.parts,
        "pinned": r.pinned,
        "format": r.format,
        "gaps": [gap_json(g) for g in r.gaps],
        "completeness": round(r.completeness, 4),
        "posterUrl": f"{base}/poster" if r.has_poster else None,
        "sheetUrl": f"{base}/sheet" if r.has_sheet else None,
    }


def retention_json(r: recording_service_pb2.RunRetentionResponse) -> dict[str, Any]:
    return {
        "filesDeleted": r.files_deleted,
        "bytesFreed": r.bytes_freed,
        "freeBytes": r.free_bytes,
        "dryRun": r.dry_run,
        "channels": [
            {
                "person": c.person,
                "filesDeleted": c.files_deleted,
                "bytesFreed": c.bytes_freed,
                "files": list(c.files),
            }
            for c in r.channels
        ],
    }


@router.get("/recordings/{username}", summary="A person's recordings")
async def list_recordings(
    username: Person, be: Annotated[Backend, Depends(backend)]
) -> list[dict[str, Any]]:
    """Every recording file in ``records/{username}/``, newest first (an empty list when
    there are none)."""
    person = check_person(username)

    async def page(token: str) -> tuple[Sequence[recording_service_pb2.Recording], str]:
        request = recording_service_pb2.ListRecordingsRequest(
            person=person, page_size=PAGE_SIZE, page_token=token
        )
        reply: recording_service_pb2.ListRecordingsResponse = await call_idempotent(
            lambda: be.recordings.ListRecordings(request, timeout=be.settings.rpc_timeout)
        )
        return reply.recordings, reply.next_page_token

    return [recording_json(r) for r in await all_pages(page)]


@router.get(_FILE_ROUTE, summary="One recording")
async def get_recording(
    username: Person, filename: FileName, be: Annotated[Backend, Depends(backend)]
) -> dict[str, Any]:
    request = recording_service_pb2.GetRecordingRequest(
        person=check_person(username), file_name=check_file_name(filename)
    )
    response: recording_service_pb2.GetRecordingResponse = await call_idempotent(
        lambda: be.recordings.GetRecording(request, timeout=be.settings.rpc_timeout)
    )
    return recording_json(response.recording)


@router.put(_FILE_ROUTE, summary="Pin or unpin a recording")
async def update_recording(
    username: Person,
    filename: FileName,
    body: PinBody,
    be: Annotated[Backend, Depends(backend)],
) -> dict[str, Any]:
    """A pinned recording is never deleted by retention. 404 if there is no such file."""
    recording = recording_service_pb2.Recording(
        person=check_person(username), file_name=check_file_name(filename), pinned=body.pinned
    )
    request = recording_service_pb2.UpdateRecordingRequest(
        recording=recording, update_mask=FieldMask(paths=["pinned"])
    )
    response: recording_service_pb2.UpdateRecordingResponse = await be.recordings.UpdateRecording(
        request, timeout=be.settings.rpc_timeout
    )
    return recording_json(response.recording)


@router.delete(_FILE_ROUTE, summary="Delete a recording")
async def delete_recording(
    username: Person, filename: FileName, be: Annotated[Backend, Depends(backend)]
) -> dict[str, Any]:
    """404 if there is no such file; 409 while it is being written."""
    name = check_file_name(filename)
    request = recording_service_pb2.DeleteRecordingRequest(
        person=check_person(username), file_name=name
    )
    response: recording_service_pb2.DeleteRecordingResponse = await be.recordings.DeleteRecording(
        request, timeout=be.settings.rpc_timeout
    )
    return {"file": name, "deleted": True, "bytesFreed": response.bytes_freed}


@router.post("/cleanup", summary="Apply the retention policy now")
async def cleanup(
    be: Annotated[Backend, Depends(backend)],
    body: Annotated[CleanupBody | None, Body()] = None,
) -> dict[str, Any]:
    """Delete what the channels' retention settings say should go (pinned recordings and files
    being written stay); ``dryRun`` only reports it. No body: every channel, for real."""
    options = body or CleanupBody.model_validate({})
    request = recording_service_pb2.RunRetentionRequest(
        person=options.person.lower() if options.person else "", dry_run=options.dry_run
    )
    # Idempotent in effect (a second run finds nothing more to delete), so it is retried when
    # the recorder could not be reached at all.
    response: recording_service_pb2.RunRetentionResponse = await call_idempotent(
        lambda: be.recordings.RunRetention(request, timeout=be.settings.rpc_timeout)
    )
    return retention_json(response)
