"""Domain error <-> gRPC status, with a machine-readable reason (google.rpc.ErrorInfo, AIP-193)."""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from servicekit.errors import DomainError

DOMAIN = "streamrec"


def to_status(error: DomainError, correlation_id: str | None) -> grpc.Status:
    """Build the rich status for a domain error (ErrorInfo carries reason and metadata)."""
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN)
    info.metadata.update(error.metadata)
    if correlation_id:
        info.metadata["correlation_id"] = correlation_id
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(
        code=code_pb2.Code.Value(error.kind.value),
        message=error.message,
        details=[detail],
    )
    return rpc_status.to_status(status)


@dataclass(frozen=True)
class CallError:
    """What a client learns from a failed call: canonical code, message, reason, metadata."""

    code: grpc.StatusCode
    message: str
    reason: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


def parse_rpc_error(error: grpc.RpcError) -> CallError:
    """Read code, message and ErrorInfo back from a failed call (sync or aio)."""
    code: grpc.StatusCode = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    message: str = error.details() if hasattr(error, "details") else str(error)
    reason = ""
    metadata: dict[str, str] = {}
    trailing = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    for key, value in trailing or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                    info = error_details_pb2.ErrorInfo()
                    detail.Unpack(info)
                    reason = info.reason
                    metadata = dict(info.metadata)
    return CallError(code=code, message=message or "", reason=reason, metadata=metadata)


def domain_error_from_rpc(error: grpc.RpcError, *, unavailable_reason: str) -> DomainError:
    """Turn a downstream service's failure into a domain error of the same kind and reason,
    so it travels on unchanged (UNAVAILABLE gets ``unavailable_reason``)."""
    from servicekit.errors import ErrorKind, error_for_kind

    parsed = parse_rpc_error(error)
    name = parsed.code.name if parsed.code is not None else "INTERNAL"
    try:
        kind = ErrorKind(name)
    except ValueError:
        kind = ErrorKind.INTERNAL
    if kind is ErrorKind.UNAVAILABLE and not parsed.reason:
        return error_for_kind(kind, parsed.message or "service unavailable", unavailable_reason)
    metadata = {k: v for k, v in parsed.metadata.items() if k != "correlation_id"}
    return error_for_kind(kind, parsed.message, parsed.reason or None, metadata)
