"""``/api/disk``: the recorder's disk usage for the dashboard header (``GetStorage``).

The level (``OK``, ``LOW``, ``CRITICAL``) is the recorder's, computed against its own
watermark (``MIN_FREE_BYTES``): the gateway only renames fields. Retried on UNAVAILABLE like
the other reads."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from gateway.backend import Backend, backend
from gateway.schemas import enum_name
from servicekit.retry import call_idempotent
from streamrec.v1 import recording_service_pb2

router = APIRouter(prefix="/api", tags=["system"])


def disk_json(s: recording_service_pb2.GetStorageResponse) -> dict[str, Any]:
    """Disk usage as the REST API shows it (bytes as integers)."""
    level = enum_name(recording_service_pb2.StorageLevel.Name, s.level, "STORAGE_LEVEL_")
    return {
        "totalBytes": s.total_bytes,
        "usedBytes": s.used_bytes,
        "freeBytes": s.free_bytes,
        "recordingsBytes": s.recordings_bytes,
        "minFreeBytes": s.min_free_bytes,
        "level": level or "UNSPECIFIED",
    }


@router.get("/disk", summary="Disk usage of the recordings' file system")
async def disk(be: Annotated[Backend, Depends(backend)]) -> dict[str, Any]:
    """Total, used and free bytes of the file system holding the recordings, the bytes of the
    recordings themselves, the free-space watermark (``MIN_FREE_BYTES``, 0 = none) and
    ``level``: ``LOW`` under twice the watermark free, ``CRITICAL`` under 1.25 times it (new
    recordings are refused under 1x), else ``OK``."""
    request = recording_service_pb2.GetStorageRequest()
    response: recording_service_pb2.GetStorageResponse = await call_idempotent(
        lambda: be.recordings.GetStorage(request, timeout=be.settings.rpc_timeout)
    )
    return disk_json(response)
