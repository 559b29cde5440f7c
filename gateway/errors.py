"""gRPC status -> HTTP status and the JSON error body ``{"detail", "code", "correlation_id"}``."""

from __future__ import annotations

import grpc
from fastapi.responses import JSONResponse

from servicekit import correlation
from servicekit.errors import DomainError
from servicekit.grpc_errors import parse_rpc_error

_HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
# Reasons that deserve a more precise HTTP status than their canonical code gives.
_BY_REASON = {"LOW_DISK_SPACE": 507, "SHUTTING_DOWN": 503}


def error_response(status: int, detail: str, code: str) -> JSONResponse:
    """The one error body every gateway route returns."""
    cid = correlation.get()
    headers = {"X-Request-ID": cid} if cid else None
    return JSONResponse(
        {"detail": detail, "code": code, "correlation_id": cid}, status_code=status, headers=headers
    )


def _http_status(code: grpc.StatusCode, reason: str) -> int:
    return _BY_REASON.get(reason) or _HTTP_STATUS.get(code, 500)


def domain_error_response(error: DomainError) -> JSONResponse:
    """Map a domain error raised in the gateway itself (request shape checks)."""
    code = grpc.StatusCode[error.kind.value]
    return error_response(_http_status(code, error.reason), error.message, error.reason)


def rpc_error_response(error: grpc.RpcError) -> JSONResponse:
    """Map a failed gRPC call to its HTTP error."""
    parsed = parse_rpc_error(error)
    status = _http_status(parsed.code, parsed.reason)
    code = parsed.reason or parsed.code.name
    detail = parsed.message or parsed.code.name.replace("_", " ").lower()
    if parsed.code is grpc.StatusCode.UNAVAILABLE and not parsed.reason:
        detail, code = "recorder service unavailable", "RECORDER_UNAVAILABLE"
    return error_response(status, detail, code)
