"""``/streams/sessions/{id}/...``: the live preview files the recorder writes, and
``/streams/records/{person}/{file}``: the recordings (with HTTP Range requests).

Every path part is checked before a path is built, and the final path (symlinks resolved)
must stay inside OUTPUT_DIR/sessions or OUTPUT_DIR/records: no name a client sends can reach
anything else."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse
from starlette.types import Message, Receive, Scope, Send

from gateway.backend import Backend, backend
from gateway.schemas import check_file_name, check_person
from servicekit.errors import InvalidArgument, NotFound
from servicekit.layout import records_root
from servicekit.retry import call_idempotent
from streamrec.v1 import recorder_service_pb2

router = APIRouter(prefix="/streams", tags=["files"])

_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PREVIEW_FILE = re.compile(r"^[A-Za-z0-9_-]{1,128}\.(m3u8|ts)$")
_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t"}
PLAYLIST = "stream.m3u8"
_RECORDING_TYPES = {".ts": "video/mp2t", ".mp4": "video/mp4"}


def safe_file(root: Path, *parts: str) -> Path:
    """``root/parts...`` if it exists as a regular file inside ``root``; NotFound otherwise."""
    base = root.resolve()
    path = base.joinpath(*parts).resolve()
    if base not in path.parents:
        raise InvalidArgument("path escapes the data folder", reason="INVALID_PATH")
    if not path.is_file():
        raise NotFound("no such file", reason="FILE_NOT_FOUND")
    return path


@router.get("/sessions/{session_id}/{filename}", summary="Live preview (HLS) of a session")
async def preview(
    session_id: str, filename: str, be: Annotated[Backend, Depends(backend)]
) -> FileResponse:
    """The rolling HLS playlist (``stream.m3u8``) and segments of a running session. Each
    playlist request asks the recorder for the preview (``OpenPreview``), which starts it on
    first use (``PREVIEW=on_demand``) and keeps it running while a player reloads it."""
    if not _SESSION_ID.fullmatch(session_id) or not _PREVIEW_FILE.fullmatch(filename):
        raise InvalidArgument("bad session id or file name", reason="INVALID_PATH")
    if filename == PLAYLIST:
        request = recorder_service_pb2.OpenPreviewRequest(session_id=session_id)
        await call_idempotent(
            lambda: be.recorder.OpenPreview(request, timeout=be.settings.rpc_timeout)
        )
    path = safe_file(be.settings.output_dir / "sessions", session_id, filename)
    return FileResponse(
        path,
        media_type=_TYPES[path.suffix],
        headers={"Cache-Control": "no-cache" if path.suffix == ".m3u8" else "max-age=60"},
    )


class SnapshotFileResponse(FileResponse):
    """A FileResponse that never sends more body than its Content-Length declares.

    A recording still being written grows while it is sent, and Starlette reads on to the end
    of the file: more bytes than declared, which the server answers by breaking the connection.
    What is served is the file as it was when the response started."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        left: int | None = None
        finished = False

        async def capped(message: Message) -> None:
            nonlocal left, finished
            if message["type"] == "http.response.start":
                for key, value in message.get("headers", ()):
                    if key.lower() == b"content-length":
                        left = int(value)
            elif message["type"] == "http.response.body" and left is not None:
                if finished:
                    return
                body: bytes = message.get("body", b"")[:left]
                left -= len(body)
                more = bool(message.get("more_body", False)) and left > 0
                finished = not more
                message = {"type": "http.response.body", "body": body, "more_body": more}
            await send(message)

        await super().__call__(scope, receive, capped)


_RECORD_ROUTE = "/records/{person}/{filename:path}"


@router.get(_RECORD_ROUTE, summary="A recording file (supports Range requests)")
@router.head(_RECORD_ROUTE, summary="A recording file's headers (size, type, Accept-Ranges)")
async def recording_file(
    person: str, filename: str, be: Annotated[Backend, Depends(backend)]
) -> FileResponse:
    """``OUTPUT_DIR/records/{person}/{filename}`` (a ``.ts`` or ``.mp4``), playable in a browser
    and seekable: ``Range`` requests get 206 with ``Content-Range`` (416 when unsatisfiable)."""
    # ``{filename:path}`` lets names with (encoded) slashes reach the check: a 400, not a 404.
    folder, name = check_person(person), check_file_name(filename)
    path = safe_file(records_root(be.settings.output_dir), folder, name)
    try:
        stat_result = path.stat()
    except FileNotFoundError:
        raise NotFound("no such file", reason="FILE_NOT_FOUND") from None
    return SnapshotFileResponse(
        path,
        media_type=_RECORDING_TYPES[Path(name).suffix],
        filename=name,
        content_disposition_type="inline",
        stat_result=stat_result,
        headers={"Accept-Ranges": "bytes", "Cache-Control": "no-cache"},
    )
