"""Notification services through Apprise URLs (ntfy, Discord, Telegram, email, json://...):
a short human text per event, with the thumbnail attached where one exists.

Apprise's plugins block (``requests``), so sends run on a small thread pool of their own and
never on the event loop. Apprise's own log lines can carry tokens (its debug lines print
request headers), so its logger is cut off from ours: what went wrong is taken from the
call's own log entries and scrubbed of the URL's secrets before it is kept or logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote

import apprise

from recorder_service.notify.model import Attempt, Message, Target
from recorder_service.notify.texts import human_text
from recorder_service.notify.urls import UrlPolicy
from servicekit.errors import InvalidArgument

# Apprise's lines never reach the service's log handlers (they may hold tokens).
logging.getLogger(apprise.LOGGER_NAME).propagate = False

#: ``attachments(event_type, data)``: a path or URL to attach, or None.
Attachments = Callable[[str, dict[str, Any]], Awaitable[str | None]]


async def _no_attachment(_event_type: str, _data: dict[str, Any]) -> str | None:
    return None


def _plugin(url: str) -> Any:
    return apprise.Apprise.instantiate(url, suppress_exceptions=True)


def check_apprise_url(url: str, policy: UrlPolicy) -> None:
    """InvalidArgument unless Apprise can use ``url``; UNSAFE_URL for one whose host is one of
    streamrec's own ports, link-local or a metadata address."""
    if len(url) > 2048 or any(c in url for c in "\r\n"):
        raise InvalidArgument("not an Apprise URL", reason="INVALID_APPRISE_URL")
    plugin = _plugin(url)
    if plugin is None:
        raise InvalidArgument(
            "Apprise does not know this URL (see its list of services)",
            reason="INVALID_APPRISE_URL",
        )
    port = getattr(plugin, "port", None)
    policy.check_plain_host(getattr(plugin, "host", None), port if isinstance(port, int) else None)


def mask_apprise_url(url: str) -> str:
    """Apprise's own privacy form of the URL (tokens and passwords shortened), without its
    query string (options, and headers a json:// URL may carry)."""
    plugin = _plugin(url)
    if plugin is None:
        return "***"
    return str(plugin.url(privacy=True)).split("?", 1)[0]


def secrets_of(url: str) -> list[str]:
    """Pieces of a URL that could be secret, longest first, to scrub from error text."""
    pieces = {url}
    rest = url.split("://", 1)[-1]
    for chunk in rest.replace("?", "/").replace("&", "/").replace("@", "/").split("/"):
        for part in (chunk, *chunk.split("=", 1), *chunk.split(":", 1)):
            if len(part) >= 6:
                pieces.add(part)
                pieces.add(unquote(part))
    return sorted(pieces, key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    for piece in secrets:
        text = text.replace(piece, "***")
    return text


class AppriseSender:
    def __init__(
        self,
        *,
        timeout: float,
        threads: int,
        attachments: Attachments = _no_attachment,
    ) -> None:
        self._timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="apprise")
        self._attachments = attachments

    def _notify(self, url: str, title: str, body: str, level: str, attach: str | None) -> Attempt:
        began = time.monotonic()
        ap = apprise.Apprise()
        if not ap.add(url):
            return Attempt(False, error="Apprise cannot use this URL")
        entries: list[str] = []

        def keep(entry: Any, _plugin: Any = None) -> None:
            if getattr(entry, "level", "") in ("WARNING", "ERROR", "CRITICAL"):
                entries.append(str(getattr(entry, "message", "")))

        def once(with_attachment: bool) -> bool:
            return bool(
                ap.notify(
                    body=body,
                    title=title,
                    notify_type=level,
                    attach=attach if with_attachment else None,
                    timeout=self._timeout,
                    log_callback=keep,
                    log_level=logging.WARNING,
                )
            )

        ok = once(bool(attach))
        if not ok and attach:
            # The image may be what failed (gone, too large for the service): the text matters.
            ok = once(False)
        latency = time.monotonic() - began
        if ok:
            return Attempt(True, latency_s=latency)
        error = scrub("; ".join(entries[-2:]) or "the service refused it", secrets_of(url))
        return Attempt(False, error=error[:500], latency_s=latency)

    async def send(self, target: Target, message: Message) -> Attempt:
        envelope = json.loads(message.body)
        data: dict[str, Any] = envelope.get("data") or {}
        title, body, level = human_text(message.type, data)
        attach = await self._attachments(message.type, data)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(
            self._pool, self._notify, target.url, title, body, level, attach
        )
        try:
            # Apprise bounds its own call; this is the backstop for a plugin that ignores it.
            return await asyncio.wait_for(future, self._timeout * 2 + 5)
        except TimeoutError:
            return Attempt(False, error=f"no answer within {self._timeout * 2 + 5:.0f}s")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
