"""``/streams/sessions/{id}/...``: the live preview files the recorder writes.

Every path part is checked before a path is built, and the final path must stay inside
OUTPUT_DIR/sessions: no name a client sends can reach anything else."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse

from gateway.backend import Backend, backend
from servicekit.errors import InvalidArgument, NotFound

router = APIRouter(prefix="/streams", tags=["files"])

_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PREVIEW_FILE = re.compile(r"^[A-Za-z0-9_-]{1,128}\.(m3u8|ts)$")
_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t"}


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
    """The rolling HLS playlist (``stream.m3u8``) and segments of a running session."""
    if not _SESSION_ID.fullmatch(session_id) or not _PREVIEW_FILE.fullmatch(filename):
        raise InvalidArgument("bad session id or file name", reason="INVALID_PATH")
    path = safe_file(be.settings.output_dir / "sessions", session_id, filename)
    return FileResponse(
        path,
        media_type=_TYPES[path.suffix],
        headers={"Cache-Control": "no-cache" if path.suffix == ".m3u8" else "max-age=60"},
    )
