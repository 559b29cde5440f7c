"""Load-generating clients for ``tools.bench``, each run as a process of its own:
``python -m tools.bench_clients KIND --target T --n N --start-at UNIX_TIME --duration S``.

- ``watch``: N ``WatchSessions`` subscribers (grpc.aio) on the recorder at ``T``;
  ``watch-batched`` the same with ``allow_batches`` (events waiting together come as one
  message);
- ``sse``: N ``GET /api/events`` clients (bare sockets) at the gateway URL ``T``;
- ``http``: N concurrent loops of ``GET T`` (httpx);
- ``grpc-list``: N concurrent loops of ``ListSessions`` on the recorder at ``T``.

Clients connect at once; what they measure counts only within ``[start-at, start-at +
duration]`` (wall clock), so the bench can line its CPU samples up with that window. The
result is one JSON object on stdout: ``{"samples_ms": [...], "count", "errors", ...}``. For
event streams a sample is the delivery latency of one event: the time it was received minus the
``event_time`` the recorder stamped on it (same machine, same clock); for requests it is the
time from sending a request to having read its whole response.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import grpc
import httpx
from grpc import aio

from streamrec.v1 import recorder_service_pb2, recorder_service_pb2_grpc

PER_CHANNEL = 50  # gRPC subscribers sharing one channel (one HTTP/2 connection)


@dataclass
class Result:
    start_at: float
    end_at: float
    samples_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    connected: int = 0
    received: int = 0

    def inside(self, t: float) -> bool:
        return self.start_at <= t <= self.end_at

    def as_json(self) -> dict[str, Any]:
        return {
            "samples_ms": [round(s, 2) for s in self.samples_ms],
            "count": len(self.samples_ms),
            "received": self.received,
            "connected": self.connected,
            "errors": dict(self.errors),
            "window_s": self.end_at - self.start_at,
        }


async def _watch_one(stub: Any, result: Result, batches: bool) -> None:
    call = stub.WatchSessions(recorder_service_pb2.WatchSessionsRequest(allow_batches=batches))
    try:
        first = True
        async for message in call:
            if first:
                result.connected += 1
                first = False
            now = time.time()
            kind = message.WhichOneof("payload")
            if kind == "event":
                events = [message.event]
            elif kind == "batch":
                events = list(message.batch.events)
            else:
                continue
            result.received += len(events)
            if result.inside(now):
                for event in events:
                    sent = event.event_time.ToNanoseconds() / 1e9
                    result.samples_ms.append((now - sent) * 1000)
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.CANCELLED:
            result.errors[exc.code().name] += 1


async def watch(target: str, n: int, result: Result, *, batches: bool = False) -> None:
    channels = [aio.insecure_channel(target) for _ in range((n + PER_CHANNEL - 1) // PER_CHANNEL)]
    stubs = [recorder_service_pb2_grpc.RecorderServiceStub(c) for c in channels]
    tasks = [
        asyncio.create_task(_watch_one(stubs[i // PER_CHANNEL], result, batches)) for i in range(n)
    ]
    await _until(result.end_at, tasks)
    for channel in channels:
        await channel.close()


_EVENT_TIME = re.compile(rb'^data: \{"sequence":\d+,"type":"[A-Z_]+","event_time":"([^"]+)"')


def sse_event_times(buffer: bytes) -> tuple[list[bytes], bytes]:
    """The ``event_time`` of every complete event ``data:`` line in ``buffer`` (a snapshot has
    none), and the incomplete rest. A regex over the raw bytes, not a JSON parse: the clients
    must cost as little CPU as possible, since they share the machine with what they measure."""
    *lines, rest = buffer.split(b"\n")
    stamps = [m[1] for line in lines if (m := _EVENT_TIME.match(line))]
    return stamps, rest


async def _sse_one(host: str, port: int, path: str, result: Result) -> None:
    """One SSE client on a bare socket: HTTP/1.1 by hand and a regex over the raw bytes (the
    gateway sends each SSE frame as one chunk, so no data line is split by the chunking)."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as exc:
        result.errors[type(exc).__name__] += 1
        return
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b" ", 2)[1]
        if status != b"200":
            result.errors[f"HTTP {status.decode()}"] += 1
            return
        result.connected += 1
        rest = b""
        while chunk := await reader.read(65536):
            now = time.time()
            stamps, rest = sse_event_times(rest + chunk)
            result.received += len(stamps)
            if result.inside(now):
                for stamp in stamps:
                    sent = datetime.fromisoformat(stamp.decode().replace("Z", "+00:00"))
                    result.samples_ms.append((now - sent.timestamp()) * 1000)
    except (OSError, asyncio.IncompleteReadError) as exc:
        result.errors[type(exc).__name__] += 1
    finally:
        writer.close()


async def sse(url: str, n: int, result: Result) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    tasks = [asyncio.create_task(_sse_one(host, port, parts.path or "/", result)) for _ in range(n)]
    await _until(result.end_at, tasks)


async def _loop(request: Callable[[], Awaitable[None]], result: Result) -> None:
    while time.time() < result.end_at:
        began = time.time()
        try:
            await request()
        except (httpx.HTTPError, grpc.RpcError, ValueError) as exc:
            result.errors[type(exc).__name__] += 1
            continue
        done = time.time()
        result.received += 1
        if began >= result.start_at and done <= result.end_at:
            result.samples_ms.append((done - began) * 1000)


async def http_load(url: str, n: int, result: Result) -> None:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:

        async def get() -> None:
            response = await client.get(url)
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code}")

        result.connected = n
        await asyncio.gather(*(_loop(get, result) for _ in range(n)))


async def grpc_list(target: str, n: int, result: Result) -> None:
    async with aio.insecure_channel(target) as channel:
        stub = recorder_service_pb2_grpc.RecorderServiceStub(channel)
        request = recorder_service_pb2.ListSessionsRequest(page_size=1000)

        async def call() -> None:
            await stub.ListSessions(request, timeout=30)

        result.connected = n
        await asyncio.gather(*(_loop(call, result) for _ in range(n)))


async def _until(end_at: float, tasks: list[asyncio.Task[None]]) -> None:
    await asyncio.sleep(max(0.0, end_at - time.time()))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


KINDS: dict[str, Callable[[str, int, Result], Coroutine[Any, Any, None]]] = {
    "watch": watch,
    "watch-batched": functools.partial(watch, batches=True),
    "sse": sse,
    "http": http_load,
    "grpc-list": grpc_list,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_clients", description=__doc__)
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("--target", required=True, help="host:port (gRPC) or a URL (HTTP)")
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--start-at", type=float, required=True, help="UNIX time")
    parser.add_argument("--duration", type=float, required=True)
    args = parser.parse_args(argv)
    result = Result(args.start_at, args.start_at + args.duration)
    asyncio.run(KINDS[args.kind](args.target, args.n, result))
    sys.stdout.write(json.dumps(result.as_json()) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
