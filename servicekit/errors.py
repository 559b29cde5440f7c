"""Domain errors: raised by the cores, mapped to gRPC status (then HTTP) once, at the edge."""

from __future__ import annotations

import enum
from collections.abc import Mapping


class ErrorKind(enum.Enum):
    """The canonical status a domain error maps to (names follow grpc.StatusCode)."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    UNAVAILABLE = "UNAVAILABLE"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    INTERNAL = "INTERNAL"


class DomainError(Exception):
    """An error with a canonical kind and a machine-readable reason (UPPER_SNAKE_CASE, AIP-193)."""

    kind: ErrorKind = ErrorKind.INTERNAL
    default_reason: str = "INTERNAL"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata: dict[str, str] = dict(metadata or {})


class InvalidArgument(DomainError):
    kind = ErrorKind.INVALID_ARGUMENT
    default_reason = "INVALID_ARGUMENT"


class NotFound(DomainError):
    kind = ErrorKind.NOT_FOUND
    default_reason = "NOT_FOUND"


class AlreadyExists(DomainError):
    kind = ErrorKind.ALREADY_EXISTS
    default_reason = "ALREADY_EXISTS"


class FailedPrecondition(DomainError):
    kind = ErrorKind.FAILED_PRECONDITION
    default_reason = "FAILED_PRECONDITION"


class ResourceExhausted(DomainError):
    kind = ErrorKind.RESOURCE_EXHAUSTED
    default_reason = "RESOURCE_EXHAUSTED"


class Unavailable(DomainError):
    kind = ErrorKind.UNAVAILABLE
    default_reason = "UNAVAILABLE"


class UpstreamError(DomainError):
    """The site or CDN answered something we cannot use (5xx, garbage, timeouts)."""

    kind = ErrorKind.UNAVAILABLE
    default_reason = "UPSTREAM_ERROR"


class PermissionDenied(DomainError):
    kind = ErrorKind.PERMISSION_DENIED
    default_reason = "PERMISSION_DENIED"


class DeadlineExceeded(DomainError):
    kind = ErrorKind.DEADLINE_EXCEEDED
    default_reason = "DEADLINE_EXCEEDED"


_BY_KIND: dict[ErrorKind, type[DomainError]] = {
    cls.kind: cls
    for cls in (
        InvalidArgument,
        NotFound,
        AlreadyExists,
        FailedPrecondition,
        ResourceExhausted,
        Unavailable,
        PermissionDenied,
        DeadlineExceeded,
    )
}


def error_for_kind(
    kind: ErrorKind,
    message: str,
    reason: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> DomainError:
    """Rebuild a domain error of ``kind`` (e.g. from a downstream service's status)."""
    cls = _BY_KIND.get(kind, DomainError)
    return cls(message, reason=reason or None, metadata=metadata)
