"""Server reflection as both ``grpc.reflection.v1`` and ``grpc.reflection.v1alpha``.

grpcio-reflection (1.85) ships only v1alpha (grpc/grpc#38576 asks for v1), and clients built
on the current spec ask for ``grpc.reflection.v1.ServerReflection`` and got UNIMPLEMENTED.
The v1 proto is v1alpha's with the package renamed: the same eight messages with the same
field numbers and types, so the same bytes on the wire (a message's package never travels).
So v1 is served by grpcio-reflection's own v1alpha servicer, with its v1alpha message classes
doing the (de)serializing under the v1 method name: no reflection logic is copied. What a
client cannot get from the v1alpha package is a description of v1 itself (``grpcurl describe
grpc.reflection.v1.ServerReflection``), so a v1 file descriptor, made from v1alpha's by
renaming the package, is added to the descriptor pool the servicer reads. Once
grpcio-reflection ships a v1 servicer, this module should give way to it.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc import aio
from grpc_reflection.v1alpha import reflection as v1alpha
from grpc_reflection.v1alpha import reflection_pb2 as v1alpha_pb2
from grpc_reflection.v1alpha import reflection_pb2_grpc as v1alpha_pb2_grpc

V1_PACKAGE = "grpc.reflection.v1"
V1_FILE = "grpc/reflection/v1/reflection.proto"
V1_SERVICE_NAME = f"{V1_PACKAGE}.ServerReflection"
V1ALPHA_SERVICE_NAME: str = v1alpha.SERVICE_NAME


def v1_file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    """v1alpha's reflection.proto renamed to v1, with the options of the published v1 file
    (v1alpha's ``deprecated`` dropped)."""
    proto = descriptor_pb2.FileDescriptorProto()
    v1alpha_pb2.DESCRIPTOR.CopyToProto(proto)
    old_prefix = f".{proto.package}."
    new_prefix = f".{V1_PACKAGE}."

    def renamed(type_name: str) -> str:
        return new_prefix + type_name.removeprefix(old_prefix)

    proto.name = V1_FILE
    proto.package = V1_PACKAGE
    for message in proto.message_type:
        for field in message.field:
            # Only message fields name a type: setting an empty one would mark it present.
            if field.HasField("type_name"):
                field.type_name = renamed(field.type_name)
    for service in proto.service:
        for method in service.method:
            method.input_type = renamed(method.input_type)
            method.output_type = renamed(method.output_type)
    proto.options.Clear()
    proto.options.java_package = "io.grpc.reflection.v1"
    proto.options.java_outer_classname = "ServerReflectionProto"
    proto.options.java_multiple_files = True
    proto.options.go_package = "google.golang.org/grpc/reflection/grpc_reflection_v1"
    return proto


def add_v1_descriptor(pool: descriptor_pool.DescriptorPool) -> None:
    """Put the v1 file into ``pool`` unless something (a later grpcio-reflection, another
    library) already did: adding a second, different file of that name would fail."""
    try:
        pool.FindFileByName(V1_FILE)
    except KeyError:
        pool.Add(v1_file_descriptor())


def enable_reflection(server: aio.Server, service_names: Sequence[str]) -> None:
    """Serve reflection on ``server`` as v1 and v1alpha, listing ``service_names`` plus both
    reflection services."""
    pool = descriptor_pool.Default()
    add_v1_descriptor(pool)
    servicer = v1alpha.aio.ReflectionServicer(
        (*service_names, V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME), pool=pool
    )
    v1alpha_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    v1_handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=v1alpha_pb2.ServerReflectionRequest.FromString,
        response_serializer=v1alpha_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                V1_SERVICE_NAME, {"ServerReflectionInfo": v1_handler}
            ),
        )
    )
