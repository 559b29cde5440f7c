"""Every HTTP request the resolver makes goes through here: budget, backoff, capped bodies.

``SiteClient.request`` takes a slot from the host's :class:`RequestBudget`, sends, and retries
(tenacity, exponential backoff with jitter) what a retry can fix: 429, 5xx, timeouts and
dropped connections. A 429's ``Retry-After`` pauses the whole host in the budget for as long as
the site asked, so every other request to it waits too. Waiting is bounded by the policy's
``max_retry_after``: while a longer pause runs, requests to that host fail at once with
Unavailable(RATE_LIMITED) and are never sent. Status codes are the caller's to classify: the
last response is returned as it is once retries are spent. Transport failures become
:class:`UpstreamError` with a reason.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    wait_exponential_jitter,
)

from servicekit.errors import Unavailable, UpstreamError

from .budget import HostPaused, RequestBudget
from .metrics import BUDGET_WAIT_SECONDS, UPSTREAM_PAUSES, UPSTREAM_REQUESTS, UPSTREAM_SECONDS

__all__ = ["DEFAULT_MAX_BODY_BYTES", "RetryPolicy", "SiteClient", "SiteResponse", "redact_url"]

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024
# What a retry can fix; a malformed request (LocalProtocolError, UnsupportedProtocol) cannot.
_RETRYABLE_ERRORS = (
    httpx.TimeoutException,
    httpx.ConnectError,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)
_MAX_RETRY_AFTER = 86_400.0


def redact_url(url: str) -> str:
    """``scheme://host[:port]/path`` of ``url``: no query (tokens), no credentials, no fragment."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<malformed url>"
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` after the first attempt; waits grow from ``backoff_initial`` to
    ``backoff_max`` seconds; a Retry-After above ``max_retry_after`` seconds is not waited for."""

    retries: int = 2
    backoff_initial: float = 0.5
    backoff_max: float = 10.0
    max_retry_after: float = 10.0


@dataclass(frozen=True)
class SiteResponse:
    """A fully read response (the body is capped, so holding it is safe)."""

    status: int
    headers: httpx.Headers
    body: bytes
    url: str

    @property
    def text(self) -> str:
        """The body as text (UTF-8 unless the response says otherwise; bad bytes replaced)."""
        charset = "utf-8"
        ctype = self.headers.get("content-type", "")
        if "charset=" in ctype:
            charset = ctype.split("charset=", 1)[1].split(";")[0].strip() or charset
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON; ValueError when it is not JSON."""
        return json.loads(self.body)

    @property
    def retry_after(self) -> float | None:
        """Seconds from the ``Retry-After`` header (delta or HTTP date), None when absent."""
        return parse_retry_after(self.headers.get("retry-after"))

    @property
    def is_redirect(self) -> bool:
        return self.status in (301, 302, 303, 307, 308) and "location" in self.headers


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: ``"120"`` or an HTTP date; None if bad."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), _MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    wait = when.timestamp() - (time.time() if now is None else now)
    return min(max(0.0, wait), _MAX_RETRY_AFTER)


class SiteClient:
    """Budgeted, retrying HTTP for sources. ``client`` is shared and owned by the caller; it
    must not follow redirects (sources check each hop themselves)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        budget: RequestBudget,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._client = client
        self.budget = budget
        self.policy = policy or RetryPolicy()

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str | Sequence[str]] | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        too_large_reason: str = "RESPONSE_TOO_LARGE",
        final: Callable[[SiteResponse], bool] | None = None,
    ) -> SiteResponse:
        """Send one request under the budget, retrying 429/5xx/transport failures.

        ``final(response)`` returning True stops retries for a response that looks retryable
        but is not worth it (a challenge page served with 503, say). Raises UpstreamError
        (UPSTREAM_TIMEOUT, UPSTREAM_UNREACHABLE, UPSTREAM_PROTOCOL_ERROR, UPSTREAM_ERROR, or
        ``too_large_reason``), Unavailable(RATE_LIMITED) while the host is paused for longer
        than the policy waits; ``httpx.InvalidURL`` passes through (a garbage Location).
        """
        host = host_key(url)
        policy = self.policy

        def should_retry(response: SiteResponse) -> bool:
            if final is not None and final(response):
                return False
            if response.status == 429:
                wait = response.retry_after
                return wait is None or wait <= policy.max_retry_after
            return response.status >= 500

        exponential = wait_exponential_jitter(
            multiplier=policy.backoff_initial, max=policy.backoff_max, jitter=policy.backoff_initial
        )

        def wait(state: RetryCallState) -> float:
            outcome = state.outcome
            if outcome is not None and not outcome.failed and outcome.result().status == 429:
                return 0.0  # the budget pause holds every request to this host already
            return float(exponential(state))

        def give_back(state: RetryCallState) -> SiteResponse:
            assert state.outcome is not None
            result: SiteResponse = state.outcome.result()  # re-raises a transport error
            return result

        retrying = AsyncRetrying(
            retry=retry_if_result(should_retry) | retry_if_exception_type(_RETRYABLE_ERRORS),
            stop=stop_after_attempt(policy.retries + 1),
            wait=wait,
            before_sleep=lambda state: _log_retry(state, method, url),
            retry_error_callback=give_back,
        )
        with _transport_errors(url):
            result: SiteResponse = await retrying(
                self._send, method, url, host, headers, data, max_body_bytes, too_large_reason
            )
        return result

    async def _send(
        self,
        method: str,
        url: str,
        host: str,
        headers: Mapping[str, str] | None,
        data: Mapping[str, str | Sequence[str]] | None,
        max_body_bytes: int,
        too_large_reason: str,
    ) -> SiteResponse:
        try:
            async with self.budget.slot(host, max_pause=self.policy.max_retry_after) as waited:
                started = time.monotonic()
                request = self._client.build_request(method, url, headers=headers, data=data)
                response = await self._client.send(request, stream=True, follow_redirects=False)
                try:
                    body = b"" if method == "HEAD" else await _read_capped(response, max_body_bytes)
                except _TooLarge:
                    raise UpstreamError(
                        f"{redact_url(url)} sent more than {max_body_bytes} bytes",
                        reason=too_large_reason,
                        metadata={"limit_bytes": str(max_body_bytes)},
                    ) from None
                finally:
                    await response.aclose()
        except HostPaused as paused:
            raise Unavailable(
                f"{host} asked us to wait {paused.remaining:.0f} s more (Retry-After)",
                reason="RATE_LIMITED",
                metadata={"retry_after_seconds": str(max(1, round(paused.remaining)))},
            ) from None
        result = SiteResponse(response.status_code, response.headers, body, url)
        BUDGET_WAIT_SECONDS.observe(waited)
        UPSTREAM_SECONDS.observe(time.monotonic() - started)
        UPSTREAM_REQUESTS.labels(f"{result.status // 100}xx").inc()
        log.debug(
            "%s %s -> %d",
            method,
            redact_url(url),
            result.status,
            extra={
                "event.action": "http.client",
                "http.response.status_code": result.status,
                "event.duration": int((time.monotonic() - started) * 1e9),
                "budget.wait_s": round(waited, 3),
            },
        )
        if result.status == 429:
            UPSTREAM_PAUSES.inc()
            pause = result.retry_after
            self.budget.pause(host, self.policy.backoff_initial if pause is None else pause)
        return result


def host_key(url: str) -> str:
    """``host:port`` with the scheme's default port filled in: one budget per real host."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        return url
    return f"{(parts.hostname or '').lower()}:{port}"


class _TooLarge(Exception):
    pass


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    # Checked before and while reading: a hostile or broken server must not fill our memory
    # (the decoded size is what counts, so a gzip bomb stops early too).
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _log_retry(state: RetryCallState, method: str, url: str) -> None:
    outcome = state.outcome
    if outcome is None:
        return
    if outcome.failed:
        exc = outcome.exception()
        what = type(exc).__name__
        status = None
    else:
        status = outcome.result().status
        what = f"HTTP {status}"
    log.warning(
        "retrying %s %s after %s (attempt %d)",
        method,
        redact_url(url),
        what,
        state.attempt_number,
        extra={
            "event.action": "site.retry",
            "url.original": redact_url(url),
            "http.response.status_code": status,
            "retry.attempt": state.attempt_number,
            "retry.sleep_s": round(state.upcoming_sleep, 3),
        },
    )


@contextlib.contextmanager
def _transport_errors(url: str) -> Iterator[None]:
    """Turn httpx's transport failures into UpstreamErrors naming only the host and path."""
    where = redact_url(url)
    try:
        try:
            yield
        except httpx.HTTPError:
            UPSTREAM_REQUESTS.labels("error").inc()
            raise
    except httpx.TimeoutException as exc:
        raise UpstreamError(f"{where} timed out", reason="UPSTREAM_TIMEOUT") from exc
    except httpx.ProtocolError as exc:
        raise UpstreamError(
            f"{where} broke the HTTP protocol ({type(exc).__name__})",
            reason="UPSTREAM_PROTOCOL_ERROR",
        ) from exc
    except httpx.TransportError as exc:
        raise UpstreamError(
            f"{where} is unreachable ({type(exc).__name__})", reason="UPSTREAM_UNREACHABLE"
        ) from exc
    except httpx.HTTPError as exc:
        raise UpstreamError(
            f"{where} answered something unreadable ({type(exc).__name__})",
            reason="UPSTREAM_ERROR",
        ) from exc
