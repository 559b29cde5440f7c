"""Retry policy for idempotent gRPC calls: only UNAVAILABLE is retried (AIP-194)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

from servicekit.grpc_errors import parse_rpc_error

T = TypeVar("T")
log = logging.getLogger("servicekit.retry")


def is_unavailable(exc: BaseException) -> bool:
    """True for a gRPC failure that is safe to retry on an idempotent call: the service could
    not be reached. An UNAVAILABLE that a reachable service reports with a reason (say, the
    recorder passing on RESOLVER_UNAVAILABLE after its own retries) is not retried again, so
    retries never multiply along the call chain."""
    if not isinstance(exc, grpc.RpcError) or exc.code() != grpc.StatusCode.UNAVAILABLE:
        return False
    return not parse_rpc_error(exc).reason


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    log.warning(
        "retrying %s after UNAVAILABLE (attempt %d)",
        getattr(state.fn, "__qualname__", "call"),
        state.attempt_number,
        extra={
            "event.action": "grpc.retry",
            "retry.attempt": state.attempt_number,
            "retry.sleep_s": round(state.upcoming_sleep, 3),
            "error.message": exc.details() if isinstance(exc, grpc.RpcError) else str(exc),
        },
    )


async def call_idempotent(
    fn: Callable[[], Awaitable[T]],
    *,
    attempts: int = 4,
    max_delay: float = 10.0,
    initial_wait: float = 0.2,
) -> T:
    """Run ``fn`` (an idempotent gRPC call), retrying UNAVAILABLE with jittered backoff.

    Bounded by ``attempts`` and by ``max_delay`` seconds overall; the last error is re-raised.
    """
    retrying = AsyncRetrying(
        retry=retry_if_exception(is_unavailable),
        # stop_before_delay: never start a sleep that would end past max_delay.
        stop=stop_after_attempt(attempts) | stop_before_delay(max_delay),
        wait=wait_exponential_jitter(multiplier=initial_wait, max=2.0, jitter=initial_wait),
        before_sleep=_log_retry,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await fn()
    raise AssertionError("unreachable: tenacity re-raises the last error")
