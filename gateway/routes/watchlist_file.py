"""``/api/watchlist/export`` and ``/api/watchlist/import``: the watch list as one JSON file.

Export writes every channel's site and settable fields (the shape ``POST /api/models`` takes);
an older export without sites imports onto the default site. Import
takes that file (or a bare list of entries), checks each entry on its own with the same rules
as ``POST /api/models``, creates the good ones and reports each entry's fate: ``created``,
``exists`` (left as it is), ``invalid`` (with the reason) or ``failed`` (the recorder's
reason). One bad entry never stops the others."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

import grpc
from fastapi import APIRouter, Body, Depends
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from gateway.backend import Backend, backend
from gateway.routes.watchlist import MASK_PATHS, ChannelBody, list_models
from gateway.sites import channel_key
from servicekit.errors import InvalidArgument
from servicekit.grpc_errors import parse_rpc_error
from streamrec.v1 import channel_service_pb2

router = APIRouter(prefix="/api/watchlist", tags=["models"])

FORMAT_VERSION = 1
MAX_ENTRIES = 10_000
#: The import's body may be larger than other requests' (see RequestContextMiddleware).
IMPORT_MAX_BYTES = 8 * 1024 * 1024
_IN_FLIGHT = 8
_EXPORTED = ("username", "site", *(ChannelBody.model_fields[p].alias or p for p in MASK_PATHS))


@router.get("/export", summary="The watch list as a file to import elsewhere")
async def export_watchlist(be: Annotated[Backend, Depends(backend)]) -> JSONResponse:
    channels = await list_models(be)
    body = {
        "format": "streamrec.watchlist",
        "version": FORMAT_VERSION,
        "exportedAt": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "channels": [{k: c[k] for k in _EXPORTED} for c in channels],
    }
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return JSONResponse(
        body,
        headers={"Content-Disposition": f'attachment; filename="streamrec-watchlist-{stamp}.json"'},
    )


def _entries(document: Any) -> list[Any]:
    if isinstance(document, list):
        entries = document
    elif isinstance(document, dict) and isinstance(document.get("channels"), list):
        version = document.get("version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise InvalidArgument(
                f"unknown watch-list format version {version!r} (this gateway reads "
                f"{FORMAT_VERSION})",
                reason="UNSUPPORTED_VERSION",
            )
        entries = document["channels"]
    else:
        raise InvalidArgument(
            'send an exported watch list ({"channels": [...]}) or a list of channels',
            reason="INVALID_WATCHLIST",
        )
    if len(entries) > MAX_ENTRIES:
        raise InvalidArgument(
            f"at most {MAX_ENTRIES} channels per import", reason="TOO_MANY_ENTRIES"
        )
    return entries


def _why(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg")))
    return "; ".join(parts)


@router.post("/import", summary="Add the channels of an exported watch list")
async def import_watchlist(
    be: Annotated[Backend, Depends(backend)], document: Annotated[Any, Body()]
) -> dict[str, Any]:
    entries = _entries(document)
    results: list[dict[str, Any]] = [{} for _ in entries]
    slots = asyncio.Semaphore(_IN_FLIGHT)
    seen: set[str] = set()

    async def one(index: int, entry: Any) -> None:
        name = entry.get("username") if isinstance(entry, dict) else None
        result: dict[str, Any] = {
            "index": index,
            "username": name if isinstance(name, str) else None,
            "key": None,
        }
        results[index] = result
        try:
            body = ChannelBody.model_validate(entry)
            ref = body.ref()
        except ValidationError as exc:
            result.update(result="invalid", detail=_why(exc))
            return
        except InvalidArgument as exc:
            result.update(result="invalid", detail=exc.message)
            return
        # The same name on two sites is two channels; a bare name is on the default site.
        key = channel_key(ref.site, ref.username)
        result.update(username=ref.username, key=key)
        if key.lower() in seen:
            result.update(result="invalid", detail="the file names this channel earlier")
            return
        seen.add(key.lower())
        request = channel_service_pb2.CreateChannelRequest(channel=body.channel_pb(ref))
        async with slots:
            try:
                await be.channels.CreateChannel(request, timeout=be.settings.rpc_timeout)
            except grpc.RpcError as exc:
                parsed = parse_rpc_error(exc)
                if parsed.code is grpc.StatusCode.ALREADY_EXISTS:
                    result.update(result="exists", detail="already in the watch list")
                else:
                    why = parsed.reason or parsed.code.name
                    result.update(result="failed", detail=f"{parsed.message} ({why})")
                return
        result.update(result="created", detail="")

    # Entries are checked in file order (the first of two with the same name is the one kept),
    # then created a few at a time.
    await asyncio.gather(*(one(i, e) for i, e in enumerate(entries)))
    counts = {
        k: sum(1 for r in results if r["result"] == k)
        for k in ("created", "exists", "invalid", "failed")
    }
    return {**counts, "entries": results}
