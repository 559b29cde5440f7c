"""gRPC interceptors: correlation ids in and out, domain errors to status codes, access logs."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from grpc import aio

from servicekit import correlation
from servicekit.errors import DomainError, InvalidArgument
from servicekit.grpc_errors import to_status
from servicekit.metrics import observe_rpc

log = logging.getLogger("servicekit.grpc")

_UnaryBehavior = Callable[[Any, aio.ServicerContext], Awaitable[Any]]
_StreamBehavior = Callable[[Any, aio.ServicerContext], AsyncIterator[Any]]


def _incoming_id(context: aio.ServicerContext) -> str:
    raw = None
    for key, value in context.invocation_metadata() or ():
        if key == correlation.GRPC_METADATA_KEY and isinstance(value, str):
            raw = value
            break
    cid, accepted = correlation.accept(raw)
    if raw is not None and not accepted:
        log.warning(
            "invalid correlation id replaced",
            extra={"event.action": "correlation.replaced", "header.length": len(raw)},
        )
    return cid


async def _fail(context: aio.ServicerContext, method: str, exc: BaseException, cid: str) -> None:
    """Abort the call with the status that ``exc`` maps to (always raises)."""
    if isinstance(exc, DomainError):
        await context.abort_with_status(to_status(exc, cid))
    log.error(
        "unhandled error in %s",
        method,
        exc_info=exc,
        extra={"event.action": "grpc.error", "rpc.method": method},
    )
    internal = DomainError(f"internal error (correlation id {cid})")
    await context.abort_with_status(to_status(internal, cid))


# Calls answered at DEBUG when they succeed: a logs page polls ListLogs, and reading the logs
# must not fill them with lines about the reading; a dashboard asks for every card's picture
# about once a minute.
_QUIET_WHEN_OK = ("/streamrec.v1.LogService/", "/streamrec.v1.MediaService/")


def _log_done(method: str, started: float, code: str) -> None:
    observe_rpc(method, time.perf_counter() - started, code)
    quiet = code == "OK" and method.startswith(_QUIET_WHEN_OK)
    log.log(
        logging.DEBUG if quiet else logging.INFO,
        "%s -> %s",
        method,
        code,
        extra={
            "event.action": "grpc.request",
            "rpc.method": method,
            "rpc.grpc.status_code": code,
            "event.duration": int((time.perf_counter() - started) * 1e9),
        },
    )


def _code_name(exc: BaseException) -> str:
    if isinstance(exc, DomainError):
        return exc.kind.value
    if isinstance(exc, aio.AbortError):
        return "ABORTED_BY_HANDLER"
    return "INTERNAL"


class _Undecodable:
    """Stands in for a request whose bytes are no valid encoding of its message."""

    def __init__(self, error: str) -> None:
        self.error = error


def _tolerant(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    # grpc.aio answers UNKNOWN when a deserializer raises; we want INVALID_ARGUMENT with a
    # reason, like any other bad input, so the failure is carried into the handler wrapper.
    if deserialize is None:
        return None

    def wrapped(data: bytes) -> Any:
        try:
            return deserialize(data)
        except (DecodeError, ValueError, TypeError) as exc:
            return _Undecodable(f"{type(exc).__name__}: {exc}")

    return wrapped


def _check_decoded(request: Any) -> None:
    if isinstance(request, _Undecodable):
        raise InvalidArgument(
            "the request is not a valid protobuf encoding of its message",
            reason="MALFORMED_REQUEST",
        )


class ServerInterceptor(aio.ServerInterceptor):
    """Sets the correlation ContextVar for unary and streaming handlers alike, echoes the id
    in the initial metadata, maps domain errors to rich statuses and writes one access line per
    call. Health and reflection calls are not logged (probes would drown everything else)."""

    _QUIET = ("/grpc.health.v1.Health/", "/grpc.reflection.")

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method.startswith(self._QUIET):
            return handler
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(method, handler.unary_unary),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(method, handler.unary_stream),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        return handler  # client-streaming methods: none in streamrec.v1

    @staticmethod
    def _wrap_unary(method: str, behavior: _UnaryBehavior) -> _UnaryBehavior:
        async def wrapped(request: Any, context: aio.ServicerContext) -> Any:
            cid = _incoming_id(context)
            started = time.perf_counter()
            with correlation.bound(cid):
                await context.send_initial_metadata(((correlation.GRPC_METADATA_KEY, cid),))
                try:
                    _check_decoded(request)
                    response = await behavior(request, context)
                except Exception as exc:
                    _log_done(method, started, _code_name(exc))
                    if isinstance(exc, aio.AbortError):
                        raise
                    await _fail(context, method, exc, cid)
                    raise  # unreachable: _fail aborts
                _log_done(method, started, "OK")
                return response

        return wrapped

    @staticmethod
    def _wrap_stream(method: str, behavior: _StreamBehavior) -> _StreamBehavior:
        async def wrapped(request: Any, context: aio.ServicerContext) -> AsyncIterator[Any]:
            cid = _incoming_id(context)
            started = time.perf_counter()
            with correlation.bound(cid):
                await context.send_initial_metadata(((correlation.GRPC_METADATA_KEY, cid),))
                log.info(
                    "%s stream opened",
                    method,
                    extra={"event.action": "grpc.stream.open", "rpc.method": method},
                )
                try:
                    _check_decoded(request)
                    async for item in behavior(request, context):
                        yield item
                except Exception as exc:
                    _log_done(method, started, _code_name(exc))
                    if isinstance(exc, aio.AbortError):
                        raise
                    await _fail(context, method, exc, cid)
                    raise
                _log_done(method, started, "OK")

        return wrapped


def _with_id(metadata: Any) -> list[tuple[str, str | bytes]]:
    items = [(k, v) for k, v in (metadata or ()) if k != correlation.GRPC_METADATA_KEY]
    cid = correlation.get() or correlation.new_id()
    items.append((correlation.GRPC_METADATA_KEY, cid))
    return items


def _details(details: aio.ClientCallDetails) -> aio.ClientCallDetails:
    return aio.ClientCallDetails(
        method=details.method,
        timeout=details.timeout,
        metadata=aio.Metadata(*_with_id(details.metadata)),
        credentials=details.credentials,
        wait_for_ready=details.wait_for_ready,
    )


class ClientUnaryInterceptor(aio.UnaryUnaryClientInterceptor):
    """Forwards the current correlation id as ``x-request-id`` metadata on unary calls."""

    async def intercept_unary_unary(
        self, continuation: Any, client_call_details: aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(_details(client_call_details), request)


class ClientStreamInterceptor(aio.UnaryStreamClientInterceptor):
    """Forwards the current correlation id as ``x-request-id`` metadata on streaming calls."""

    async def intercept_unary_stream(
        self, continuation: Any, client_call_details: aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(_details(client_call_details), request)


def client_interceptors() -> list[aio.ClientInterceptor]:
    """The interceptors every streamrec gRPC client channel uses."""
    return [ClientUnaryInterceptor(), ClientStreamInterceptor()]


_CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.max_receive_message_length", 16 * 2**20),
]


def insecure_channel(target: str) -> aio.Channel:
    """An aio channel to another streamrec service with correlation forwarding."""
    return aio.insecure_channel(
        target, interceptors=client_interceptors(), options=_CHANNEL_OPTIONS
    )


def service_channel(target: str, credentials: grpc.ChannelCredentials | None) -> aio.Channel:
    """A channel to another streamrec service: TLS when ``credentials`` are given (see
    servicekit.tls), plaintext otherwise; correlation forwarding either way."""
    if credentials is None:
        return insecure_channel(target)
    return aio.secure_channel(
        target, credentials, interceptors=client_interceptors(), options=_CHANNEL_OPTIONS
    )
