"""call_idempotent: only UNAVAILABLE is retried, with a logged, bounded, jittered backoff."""

from __future__ import annotations

import logging
import time
import warnings

import grpc
import pytest
from grpc import aio

from servicekit.retry import call_idempotent, is_unavailable

FAST = 0.002  # initial_wait that keeps every test in the milliseconds


def rpc_error(code: grpc.StatusCode, details: str = "down") -> aio.AioRpcError:
    return aio.AioRpcError(code, aio.Metadata(), aio.Metadata(), details=details)


class Flaky:
    """Fails with the given exceptions, in order, then returns ``"ok"``."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0
        self.raised: list[BaseException] = []

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            exc = self.failures.pop(0)
            self.raised.append(exc)
            raise exc
        return "ok"


def retry_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event.action", None) == "grpc.retry"]


@pytest.fixture(autouse=True)
def _capture(caplog):
    caplog.set_level(logging.DEBUG, logger="servicekit.retry")


async def test_unavailable_is_retried_until_the_call_succeeds(caplog):
    fn = Flaky(rpc_error(grpc.StatusCode.UNAVAILABLE), rpc_error(grpc.StatusCode.UNAVAILABLE))

    assert await call_idempotent(fn, initial_wait=FAST) == "ok"

    assert fn.calls == 3
    lines = retry_lines(caplog)
    assert len(lines) == 2  # one warning per retry
    assert all(r.levelno == logging.WARNING for r in lines)
    assert [getattr(r, "retry.attempt") for r in lines] == [1, 2]
    assert {getattr(r, "error.message") for r in lines} == {"down"}


@pytest.mark.parametrize(
    "failure",
    [
        rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "bad"),
        rpc_error(grpc.StatusCode.NOT_FOUND, "gone"),
        rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "slow"),
        ValueError("not a gRPC error"),
    ],
    ids=["invalid-argument", "not-found", "deadline-exceeded", "plain-exception"],
)
async def test_other_failures_are_not_retried(caplog, failure):
    fn = Flaky(failure)

    with pytest.raises(type(failure)) as caught:
        await call_idempotent(fn, initial_wait=FAST)

    assert caught.value is failure
    assert fn.calls == 1
    assert not retry_lines(caplog)


async def test_gives_up_after_attempts_and_reraises_the_last_unavailable(caplog):
    errors = [rpc_error(grpc.StatusCode.UNAVAILABLE, f"down {i}") for i in range(5)]
    fn = Flaky(*errors)

    with pytest.raises(aio.AioRpcError) as caught:
        await call_idempotent(fn, attempts=3, initial_wait=FAST)

    assert fn.calls == 3
    assert caught.value is fn.raised[-1]
    assert caught.value.details() == "down 2"  # type: ignore[attr-defined]
    assert len(retry_lines(caplog)) == 2


async def test_stops_retrying_once_max_delay_has_passed():
    fn = Flaky(*[rpc_error(grpc.StatusCode.UNAVAILABLE) for _ in range(1000)])
    started = time.monotonic()

    with pytest.raises(aio.AioRpcError):
        await call_idempotent(fn, attempts=1000, max_delay=0.05, initial_wait=0.005)

    elapsed = time.monotonic() - started
    assert 2 <= fn.calls < 20  # bounded by time, far below ``attempts``
    assert elapsed < 0.05 + 0.03  # no sleep starts that would end past max_delay


async def test_backoff_scales_with_initial_wait(caplog):
    fn = Flaky(*[rpc_error(grpc.StatusCode.UNAVAILABLE) for _ in range(3)])

    started = time.monotonic()
    assert await call_idempotent(fn, attempts=4, initial_wait=FAST) == "ok"

    sleeps = [getattr(r, "retry.sleep_s") for r in retry_lines(caplog)]
    assert len(sleeps) == 3
    # initial * 2**n plus jitter of at most initial: milliseconds here, never a fixed second.
    assert all(s <= FAST * 2**n + FAST + 0.001 for n, s in enumerate(sleeps))
    assert time.monotonic() - started < 0.5


async def test_call_idempotent_uses_no_deprecated_tenacity_arguments():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        assert await call_idempotent(Flaky(), initial_wait=FAST) == "ok"


def test_is_unavailable_only_for_grpc_unavailable():
    assert is_unavailable(rpc_error(grpc.StatusCode.UNAVAILABLE))
    assert not is_unavailable(rpc_error(grpc.StatusCode.INTERNAL))
    assert not is_unavailable(ConnectionError("not grpc"))
