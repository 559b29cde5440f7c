"""Server reflection answers as grpc.reflection.v1 and as v1alpha on a real server built like
the resolver's and the recorder's (127.0.0.1, a free port)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc import aio
from grpc_reflection.v1alpha import reflection_pb2 as v1alpha_pb2

from servicekit.grpc_server import build_server
from servicekit.reflection import V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME
from streamrec.v1 import (
    channel_service_pb2,
    recorder_service_pb2,
    recording_service_pb2,
    resolver_service_pb2,
)

RESOLVER = [resolver_service_pb2.DESCRIPTOR.services_by_name["ResolverService"].full_name]
RECORDER = [
    recorder_service_pb2.DESCRIPTOR.services_by_name["RecorderService"].full_name,
    channel_service_pb2.DESCRIPTOR.services_by_name["ChannelService"].full_name,
    recording_service_pb2.DESCRIPTOR.services_by_name["RecordingService"].full_name,
]


def no_servicers(server: aio.Server) -> None:
    """Reflection lists the names build_server is given (the services pass their own, as
    here); whether a servicer answers behind a name is not reflection's business."""


SERVERS = {"resolver": RESOLVER, "recorder": RECORDER}


@contextlib.asynccontextmanager
async def serving(kind: str) -> AsyncIterator[aio.Channel]:
    app = build_server(no_servicers, SERVERS[kind], host="127.0.0.1", port=0)
    await app.server.start()
    channel = aio.insecure_channel(f"127.0.0.1:{app.port}")
    try:
        yield channel
    finally:
        await channel.close()
        await app.server.stop(0)


def message_class(full_name: str) -> Any:
    return message_factory.GetMessageClass(
        descriptor_pool.Default().FindMessageTypeByName(full_name)
    )


def reflection_call(channel: aio.Channel, version: str) -> tuple[Any, Callable[..., Any]]:
    """A bidirectional ServerReflectionInfo call of ``version`` and its request class: the v1
    classes come from the descriptor the server registered, as a v1 client's generated code
    would have them."""
    package = f"grpc.reflection.{version}"
    if version == "v1":
        request, response = (
            message_class(f"{package}.ServerReflectionRequest"),
            message_class(f"{package}.ServerReflectionResponse"),
        )
    else:
        request, response = (
            v1alpha_pb2.ServerReflectionRequest,
            v1alpha_pb2.ServerReflectionResponse,
        )
    call = channel.stream_stream(
        f"/{package}.ServerReflection/ServerReflectionInfo",
        request_serializer=request.SerializeToString,
        response_deserializer=response.FromString,
    )()
    return call, request


async def ask(channel: aio.Channel, version: str, **request_fields: Any) -> Any:
    call, request = reflection_call(channel, version)
    await call.write(request(**request_fields))
    reply = await asyncio.wait_for(call.read(), timeout=5)
    await call.done_writing()
    return reply


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
@pytest.mark.parametrize("kind", ["resolver", "recorder"])
async def test_reflection_lists_the_streamrec_services_through_v1_and_v1alpha(kind, version):
    async with serving(kind) as channel:
        reply = await ask(channel, version, list_services="")

    names = {s.name for s in reply.list_services_response.service}
    assert set(SERVERS[kind]) <= names
    assert {"grpc.health.v1.Health", V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME} <= names


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
async def test_reflection_returns_the_file_declaring_a_streamrec_service(version):
    async with serving("recorder") as channel:
        reply = await ask(channel, version, file_containing_symbol="streamrec.v1.RecorderService")

    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in reply.file_descriptor_response.file_descriptor_proto
    ]
    declaring = [f for f in files if any(s.name == "RecorderService" for s in f.service)]
    assert [f.package for f in declaring] == ["streamrec.v1"]


async def test_v1_reflection_describes_itself_in_the_v1_package():
    async with serving("resolver") as channel:
        reply = await ask(channel, "v1", file_containing_symbol=V1_SERVICE_NAME)

    (raw,) = reply.file_descriptor_response.file_descriptor_proto
    file = descriptor_pb2.FileDescriptorProto.FromString(raw)
    assert (file.name, file.package) == (
        "grpc/reflection/v1/reflection.proto",
        "grpc.reflection.v1",
    )
    (method,) = file.service[0].method
    assert method.input_type == ".grpc.reflection.v1.ServerReflectionRequest"
    assert method.output_type == ".grpc.reflection.v1.ServerReflectionResponse"
    assert not file.options.deprecated


async def test_unknown_symbol_is_a_not_found_answer_on_v1_too():
    async with serving("resolver") as channel:
        reply = await ask(channel, "v1", file_containing_symbol="no.such.Service")

    assert reply.error_response.error_code == 5  # NOT_FOUND
