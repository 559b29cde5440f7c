"""Correlation ids: one id per request (or background task), carried everywhere it causes work.

The id lives in a ContextVar so every log record, event and outgoing gRPC call made while
handling a request can pick it up without passing it around by hand.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from contextvars import ContextVar

#: HTTP headers accepted on the way in (first match wins); the first is echoed back out.
HTTP_HEADERS = ("x-request-id", "x-correlation-id")
#: gRPC metadata key carrying the id between services.
GRPC_METADATA_KEY = "x-request-id"

# Generous enough for UUIDs, ULIDs and most tracing ids; strict enough that nothing odd
# (newlines, quotes, control characters, kilobytes of junk) ever reaches a log line.
_VALID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/+=-]{0,127}$")

_current: ContextVar[str | None] = ContextVar("correlation_id", default=None)


def new_id(prefix: str = "") -> str:
    """Return a fresh random correlation id (32 hex chars, after an optional prefix)."""
    return f"{prefix}{uuid.uuid4().hex}"


def is_valid(value: str | None) -> bool:
    """True when ``value`` is safe to use and log as a correlation id."""
    return bool(value) and _VALID.fullmatch(value or "") is not None


def accept(value: str | None) -> tuple[str, bool]:
    """Return ``(id, accepted)``: the incoming id when valid, else a new one and False."""
    if value is not None and is_valid(value):
        return value, True
    return new_id(), False


def get() -> str | None:
    """The correlation id of the current context, if any."""
    return _current.get()


def set_id(value: str | None) -> None:
    """Set the correlation id of the current context (for tasks that own their context)."""
    _current.set(value)


@contextlib.contextmanager
def bound(value: str | None) -> Iterator[str | None]:
    """Run a block with ``value`` as the current correlation id, restoring the old one after."""
    token = _current.set(value)
    try:
        yield value
    finally:
        _current.reset(token)
