"""``streamrec watch``: follow WatchSessions, resuming after a dropped stream, into one of the
views of views.py. Ctrl-C (or SIGTERM) ends it with status 0."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol, TextIO

import grpc

from servicekit.grpc_errors import parse_rpc_error
from streamrec.v1 import recorder_service_pb2
from streamrec_cli.client import EXIT_OK, Client
from streamrec_cli.views import JsonView, LineView, TtyView

# Codes after which the stream is opened again (from the last sequence seen).
RESUMABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.INTERNAL,
    }
)
FIRST_DELAY = 0.5
MAX_DELAY = 8.0


class View(Protocol):
    def message(self, message: recorder_service_pb2.WatchSessionsResponse) -> None: ...

    def notice(self, text: str) -> None:
        """Something about the stream itself (dropped, resuming), not about a session."""

    def tick(self) -> None:
        """Called about once a second."""

    def close(self) -> None: ...


def sequence_of(message: recorder_service_pb2.WatchSessionsResponse) -> int | None:
    """The sequence a message brings the stream to (heartbeats do not count: the next resume
    must not skip an event that was still on its way)."""
    kind = message.WhichOneof("payload")
    if kind == "event":
        return int(message.event.sequence)
    if kind == "snapshot":
        return int(message.snapshot.sequence)
    return None


async def follow(
    recorder: Any,
    view: View,
    *,
    after: int = 0,
    connect_timeout: float = 30.0,
    first_delay: float = FIRST_DELAY,
    max_delay: float = MAX_DELAY,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Feed ``view`` from WatchSessions until cancelled. A stream that ends or drops with a
    resumable code is opened again after the last sequence seen, with a capped exponential
    backoff. Until the first connection succeeds, failing for ``connect_timeout`` seconds
    raises the last error (the recorder is not there); after that, it never gives up."""
    last = after
    delay = first_delay
    connected = False
    give_up_at = clock() + connect_timeout
    while True:
        call = recorder.WatchSessions(
            recorder_service_pb2.WatchSessionsRequest(after_sequence=last)
        )
        try:
            if await call.initial_metadata():  # empty when the call failed to start
                connected, delay = True, first_delay
            async for message in call:
                connected, delay = True, first_delay
                sequence = sequence_of(message)
                if sequence is not None:
                    last = sequence
                view.message(message)
            why = "the recorder ended the stream"
        except grpc.RpcError as exc:
            code: grpc.StatusCode = exc.code()
            if code not in RESUMABLE or (not connected and clock() + delay > give_up_at):
                raise
            why = f"stream lost ({parse_rpc_error(exc).reason or code.name})"
        finally:
            call.cancel()
        if connected:  # before that, quiet: the caller reports the failure if it lasts
            view.notice(f"{why}; resuming after #{last} in {delay:g}s")
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay)


def make_view(as_json: bool, addr: str, out: TextIO | None = None) -> View:
    """JSON lines with ``--json``; else the live table on a TTY, plain lines otherwise."""
    stream = out if out is not None else sys.stdout
    if as_json:
        return JsonView(stream, sys.stderr)
    if stream.isatty():
        return TtyView(stream, addr)
    return LineView(stream, sys.stderr)


async def _tick(view: View) -> None:
    while True:
        await asyncio.sleep(1.0)
        view.tick()


async def run(client: Client, after: int, view: View) -> int:
    """Follow the recorder until Ctrl-C / SIGTERM (status 0) or an error that cannot be
    resumed (raised, for the caller to report)."""
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stopped.set)
    follower = asyncio.create_task(
        follow(client.recorder, view, after=after, connect_timeout=client.timeout)
    )
    waiter = asyncio.create_task(stopped.wait())
    ticker = asyncio.create_task(_tick(view))
    try:
        await asyncio.wait({follower, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (follower, waiter, ticker):
            task.cancel()
        await asyncio.gather(follower, waiter, ticker, return_exceptions=True)
        for sig in signals:
            loop.remove_signal_handler(sig)
        view.close()
    error = follower.exception() if follower.done() and not follower.cancelled() else None
    if error is not None:
        raise error
    return EXIT_OK
