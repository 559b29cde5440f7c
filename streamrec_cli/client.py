"""The recorder's three services over one gRPC channel, a time budget per command, retries for
the calls that may be retried, and failed calls turned into (exit status, one-line message)."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc

from servicekit import correlation
from servicekit.grpc_errors import parse_rpc_error
from servicekit.grpc_interceptors import service_channel
from servicekit.retry import call_idempotent
from servicekit.tls import TlsConfig
from streamrec.v1 import (
    channel_service_pb2_grpc,
    recorder_service_pb2_grpc,
    recording_service_pb2_grpc,
)

T = TypeVar("T")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_NOT_FOUND = 4

#: The page size asked for when listing everything (the services' maximum).
PAGE_SIZE = 1000
_MAX_PAGES = 10_000
# Never send a deadline shorter than this, even when the budget is (nearly) spent.
_MIN_DEADLINE = 0.05


class Failure(Exception):
    """A command failed: the exit status and what to tell the user."""

    def __init__(self, exit_code: int, detail: str, reason: str) -> None:
        super().__init__(detail)
        self.exit_code = exit_code
        self.detail = detail
        self.reason = reason

    def line(self, request_id: str) -> str:
        """``streamrec: <detail> (<REASON>, request id <id>)``, newline included."""
        return f"streamrec: {self.detail} ({self.reason}, request id {request_id})\n"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def failure_from_rpc(
    error: grpc.RpcError, *, addr: str, timeout: float, connected: bool = True
) -> Failure:
    """What a failed call means for the user. UNAVAILABLE without a reason is the recorder not
    being reachable at all (one with a reason, like RESOLVER_UNAVAILABLE, comes from a recorder
    that answered); so is a deadline that passed before the channel ever connected."""
    parsed = parse_rpc_error(error)
    code: grpc.StatusCode = parsed.code
    message = _one_line(parsed.message) or code.name.replace("_", " ").lower()
    if not parsed.reason:
        if code == grpc.StatusCode.UNAVAILABLE:
            return Failure(
                EXIT_UNREACHABLE, f"cannot reach the recorder at {addr}: {message}", code.name
            )
        if code == grpc.StatusCode.DEADLINE_EXCEEDED and not connected:
            return Failure(
                EXIT_UNREACHABLE,
                f"no answer from the recorder at {addr} within {timeout:g}s",
                code.name,
            )
    exit_code = EXIT_NOT_FOUND if code == grpc.StatusCode.NOT_FOUND else EXIT_ERROR
    return Failure(exit_code, message, parsed.reason or code.name)


@dataclass
class Client:
    """Stubs for RecorderService, ChannelService and RecordingService on the recorder.

    ``timeout`` is the budget of the whole command: every call, retry and page comes out of it.
    Calls made inside :meth:`connect` carry ``request_id`` as their ``x-request-id``."""

    addr: str
    timeout: float
    request_id: str
    channel: Any
    recorder: recorder_service_pb2_grpc.RecorderServiceStub
    channels: channel_service_pb2_grpc.ChannelServiceStub
    recordings: recording_service_pb2_grpc.RecordingServiceStub
    deadline: float = field(default=0.0)

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, addr: str, budget: float, request_id: str) -> AsyncIterator[Client]:
        # GRPC_TLS_CA (and a client certificate for mutual TLS) as the services use them.
        channel = service_channel(addr, TlsConfig.from_env().channel_credentials())
        client = cls(
            addr,
            budget,
            request_id,
            channel,
            recorder_service_pb2_grpc.RecorderServiceStub(channel),
            channel_service_pb2_grpc.ChannelServiceStub(channel),
            recording_service_pb2_grpc.RecordingServiceStub(channel),
            deadline=time.monotonic() + budget,
        )
        try:
            with correlation.bound(request_id):
                yield client
        except grpc.RpcError as exc:
            raise client.failure(exc) from None
        finally:
            await channel.close()

    def remaining(self) -> float:
        """Seconds left of the command's budget (never less than a sliver)."""
        return max(self.deadline - time.monotonic(), _MIN_DEADLINE)

    def connected(self) -> bool:
        state = self.channel.get_state(try_to_connect=False)
        return bool(state == grpc.ChannelConnectivity.READY)

    def failure(self, error: grpc.RpcError) -> Failure:
        return failure_from_rpc(
            error, addr=self.addr, timeout=self.timeout, connected=self.connected()
        )

    async def retried(self, call: Callable[[float], Awaitable[T]]) -> T:
        """An idempotent call (``call(deadline_seconds)``), retried while the recorder cannot be
        reached, within the command's budget."""
        return await call_idempotent(lambda: call(self.remaining()), max_delay=self.remaining())

    async def once(self, call: Callable[[float], Awaitable[T]]) -> T:
        """A call that must not be repeated (stop, create, update, delete)."""
        return await call(self.remaining())

    async def all_pages(
        self, fetch: Callable[[str, float], Awaitable[tuple[Sequence[T], str]]]
    ) -> list[T]:
        """Every item of a paged List call: ``fetch(page_token, deadline)`` returns one page
        and the next token (empty on the last page). Each page is retried on its own."""
        items: list[T] = []
        seen: set[str] = set()
        token = ""
        for _ in range(_MAX_PAGES):
            page, token = await self.retried(functools.partial(fetch, token))
            items.extend(page)
            if not token:
                return items
            if token in seen:
                break
            seen.add(token)
        raise Failure(EXIT_ERROR, "the recorder's paging did not end", "PAGING_LOOP")
