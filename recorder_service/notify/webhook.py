"""Webhooks: the notification's JSON, POSTed with Standard Webhooks headers.

The id is the notification's, the same on every attempt (receivers drop duplicates by it);
the timestamp and signature are made for each attempt. Redirects are not followed, proxies
from the environment are not used, and the address is checked (resolved) before each send.
An attempt is bounded by NOTIFY_TIMEOUT, however slowly the receiver trickles its answer.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from email.utils import parsedate_to_datetime

import httpx

from recorder_service.notify.model import Attempt, Message, Target
from recorder_service.notify.signing import webhook_headers
from recorder_service.notify.urls import UrlPolicy
from servicekit.errors import DomainError

RESPONSE_KEPT = 512
USER_AGENT = "streamrec-webhooks/1"

# URLs being posted to now. httpx logs every request's URL at INFO; a webhook URL can carry
# its token in the path (Slack, Discord), where no redaction finds it, so those lines go.
_POSTING: collections.Counter[str] = collections.Counter()


class _NoWebhookUrls(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not any(str(a) in _POSTING for a in args[:3])


logging.getLogger("httpx").addFilter(_NoWebhookUrls())


def retry_after(value: str | None) -> float:
    """Seconds from a Retry-After header (delta seconds or an HTTP date); 0 when absent."""
    if not value:
        return 0.0
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return 0.0


def _printable(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    return "".join(c if c.isprintable() else " " for c in text).strip()


class WebhookSender:
    def __init__(self, *, timeout: float, policy: UrlPolicy) -> None:
        self._timeout = timeout
        self._policy = policy
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            headers={"user-agent": USER_AGENT},
        )

    async def send(self, target: Target, message: Message) -> Attempt:
        began = time.monotonic()
        try:
            async with asyncio.timeout(self._timeout):
                parts = self._policy.check_webhook_url(target.url)
                port = parts.port or (443 if parts.scheme == "https" else 80)
                await self._policy.check_resolved(parts.hostname or "", port)
                return await self._post(target, message, began)
        except DomainError as exc:
            return Attempt(False, error=exc.message, latency_s=time.monotonic() - began)
        except TimeoutError:
            return Attempt(
                False,
                error=f"no answer within {self._timeout:g}s",
                latency_s=time.monotonic() - began,
            )
        except httpx.HTTPError as exc:
            # The exception's text may hold the URL: only its kind is kept.
            kind = type(exc).__name__
            return Attempt(False, error=f"{kind}", latency_s=time.monotonic() - began)

    async def _post(self, target: Target, message: Message, began: float) -> Attempt:
        headers = {
            "content-type": "application/json",
            **webhook_headers(target.secret, message.id, int(time.time()), message.body),
        }
        request = self._client.build_request(
            "POST", target.url, content=message.body, headers=headers
        )
        key = str(request.url)
        _POSTING[key] += 1
        try:
            return await self._exchange(request, began)
        finally:
            _POSTING[key] -= 1
            if _POSTING[key] <= 0:
                del _POSTING[key]

    async def _exchange(self, request: httpx.Request, began: float) -> Attempt:
        async with contextlib.aclosing(await self._client.send(request, stream=True)) as response:
            kept = b""
            async for chunk in response.aiter_bytes():
                kept += chunk
                if len(kept) >= RESPONSE_KEPT:
                    break
            latency = time.monotonic() - began
            text = _printable(kept[:RESPONSE_KEPT])
            if 200 <= response.status_code < 300:
                return Attempt(True, response.status_code, latency_s=latency, response=text)
            return Attempt(
                False,
                response.status_code,
                error=f"HTTP {response.status_code}" + (f": {text[:200]}" if text else ""),
                retry_after=retry_after(response.headers.get("retry-after")),
                latency_s=latency,
                response=text,
            )

    async def close(self) -> None:
        await self._client.aclose()
