"""``/streams/playback/{person}/{file}``: a ``.ts`` recording as an HLS playlist of byte ranges
of the file (see :mod:`gateway.ts_playlist`), so that a browser can play and seek it with
hls.js, also while it is still being written (the playlist then grows, like a live one).

An MP4 recording needs none of this: the browser plays ``/streams/records/...`` itself."""

from __future__ import annotations

import asyncio
import collections
import threading
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from gateway.backend import Backend, backend
from gateway.routes.files import safe_file
from gateway.schemas import check_file_name, check_person
from gateway.ts_playlist import TsIndex, index_file, playlist
from servicekit.errors import FailedPrecondition, InvalidArgument
from servicekit.layout import records_root
from servicekit.retry import call_idempotent
from streamrec.v1 import recording_service_pb2

router = APIRouter(prefix="/streams", tags=["files"])
_INDEXES: collections.OrderedDict[Path, tuple[int, TsIndex]] = collections.OrderedDict()
_INDEXES_KEPT = 64
_INDEXING = threading.Lock()  # one scan at a time: indexes are continued in place


def playback_url(person: str, file_name: str) -> str:
    """Where a browser plays a recording: the file itself for MP4, the playlist for TS."""
    if file_name.endswith(".ts"):
        return f"/streams/playback/{quote(person)}/{quote(file_name)}"
    return f"/streams/records/{quote(person)}/{quote(file_name)}"


def _index_locked(path: Path) -> TsIndex | None:
    """The file's keyframe index, continued from the last one made while the file grew."""
    inode = path.stat().st_ino
    kept = _INDEXES.get(path)
    previous = kept[1] if kept and kept[0] == inode else None
    index = index_file(path, previous)
    if index is not None:
        _INDEXES[path] = (inode, index)
        _INDEXES.move_to_end(path)
        while len(_INDEXES) > _INDEXES_KEPT:
            _INDEXES.popitem(last=False)
    return index


def _playlist_text(path: Path, url: str, growing: bool) -> str | None:
    with _INDEXING:
        index = _index_locked(path)
        return None if index is None else playlist(index, path, url, growing=growing)


@router.get("/playback/{person}/{filename:path}", summary="A .ts recording as an HLS playlist")
async def ts_playback(
    person: str, filename: str, be: Annotated[Backend, Depends(backend)]
) -> Response:
    folder, name = check_person(person), check_file_name(filename)
    if not name.endswith(".ts"):
        raise InvalidArgument("only .ts recordings have a playlist", reason="NOT_A_TS_FILE")
    path = safe_file(records_root(be.settings.output_dir), folder, name)
    request = recording_service_pb2.GetRecordingRequest(person=folder, file_name=name)
    reply: recording_service_pb2.GetRecordingResponse = await call_idempotent(
        lambda: be.recordings.GetRecording(request, timeout=be.settings.rpc_timeout)
    )
    growing = reply.recording.state == recording_service_pb2.RECORDING_STATE_WRITING
    url = f"/streams/records/{quote(folder)}/{quote(name)}"
    text = await asyncio.to_thread(_playlist_text, path, url, growing)
    if text is None:
        raise FailedPrecondition(
            "the recording has no video stream to index", reason="NO_VIDEO_STREAM"
        )
    return Response(
        text,
        media_type="application/vnd.apple.mpegurl",
        headers={"Cache-Control": "no-cache"},
    )
