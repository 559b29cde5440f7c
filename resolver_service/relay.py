"""The playlist relay: media playlists that ffmpeg cannot read as the CDN serves them,
rewritten on every reload; segment bytes never pass through here.

Some sites (Stripchat's "mouflon") hide their segment names in the media playlist, so ffmpeg
cannot be pointed at the CDN's playlist. A source publishes such a playlist here instead::

    url = await relay.publish(
        upstream_url,            # the CDN's media playlist (checked http(s))
        client=ctx.cdn,          # read through the CDN client: CDN budget, CDN proxy
        headers=cdn_headers,     # Referer/Origin/User-Agent the CDN wants
        rewrite=playlists.rewrite,  # async (text, final URL) -> playlist with absolute URIs
        label="stripchat:alice",    # for logs only
    )

``publish`` reads and rewrites the playlist once (a DomainError from the read or from
``rewrite``, an advert or a key problem, fails the Resolve with its reason: nothing is
recorded) and returns ``<public base>/r/<random id>.m3u8``: no upstream URL, token or key in
it. Each GET of that URL re-reads the upstream playlist and rewrites it again; the segment URIs
in the answer are the CDN's own, absolute, so ffmpeg fetches the media directly (through its
CDN proxy; the relay host belongs in ffmpeg's ``no_proxy``). When a read or a rewrite fails
the relay answers an HTTP error carrying the reason (``X-Streamrec-Reason``) and logs it:
ffmpeg's reload fails, and the recorder's gap/restart machinery takes over (a restart resolves
anew, which reports the reason). Entries not read for ``idle_ttl`` seconds are forgotten.

The server is uvicorn + starlette on the resolver's own event loop (``start``/``stop``), bound
to ``RELAY_HOST``:``RELAY_PORT`` (0: any free port); ``RELAY_PUBLIC_URL`` is the base the
recorder reaches it by when that is not the bound address (compose, Kubernetes). It is
hand-written because no library re-serves a live playlist rewritten per reload while leaving
the segments to the client (see ``docs/sites/stripchat-media.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from resolver_service.metrics import RESOLVER_CALLS
from resolver_service.site_client import SiteClient, redact_url
from resolver_service.targets import check_http_url
from servicekit.errors import DomainError, InvalidArgument, NotFound, UpstreamError

__all__ = ["PlaylistRelay", "Rewrite"]

log = logging.getLogger(__name__)

#: (playlist text, the URL it was read from after redirects) -> the playlist ffmpeg gets.
Rewrite = Callable[[str, str], Awaitable[str]]

MAX_PLAYLIST_BYTES = 2 * 1024 * 1024
MAX_REDIRECTS = 5
_M3U8 = "application/vnd.apple.mpegurl"


@dataclass
class _Entry:
    upstream: str
    client: SiteClient
    headers: dict[str, str]
    rewrite: Rewrite
    label: str
    last_read: float
    reads: int = 0
    failures: int = 0
    last_reason: str = ""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers: the resolver owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class PlaylistRelay:
    """Serves published playlists, re-read and rewritten per request (see the module doc)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        public_url: str = "",
        idle_ttl: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._host, self._port = host, port
        self._public = public_url.rstrip("/")
        self._idle_ttl = idle_ttl
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._janitor: asyncio.Task[None] | None = None
        self._bound = ""
        self.app = Starlette(routes=[Route("/r/{entry}.m3u8", self._serve, methods=["GET"])])

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and serve on the running event loop (returns once listening)."""
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        sock.setblocking(False)
        host, port = sock.getsockname()[:2]
        self._bound = f"http://{f'[{host}]' if family == socket.AF_INET6 else host}:{port}"
        config = uvicorn.Config(self.app, access_log=False, lifespan="off", log_config=None)
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="relay")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
                raise RuntimeError("the playlist relay stopped while starting")
            await asyncio.sleep(0.01)
        self._janitor = asyncio.create_task(self._expire_forever(), name="relay-janitor")
        log.info(
            "playlist relay listening on %s (public %s)",
            self._bound,
            self.base_url,
            extra={"event.action": "relay.start"},
        )

    async def stop(self) -> None:
        """Stop serving and forget every entry."""
        if self._janitor is not None:
            self._janitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._janitor
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        self._server = self._task = self._janitor = None
        self._entries.clear()

    async def __aenter__(self) -> PlaylistRelay:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """Where the recorder reaches the relay (``RELAY_PUBLIC_URL``, else the bound one)."""
        if not self._public and not self._bound:
            raise RuntimeError("the playlist relay is not started")
        return self._public or self._bound

    def __len__(self) -> int:
        return len(self._entries)

    # -- publishing -----------------------------------------------------------------------

    async def publish(
        self,
        upstream_url: str,
        *,
        client: SiteClient,
        headers: Mapping[str, str],
        rewrite: Rewrite,
        label: str = "",
    ) -> str:
        """Read and rewrite ``upstream_url`` once, then serve it under a new opaque URL.

        Raises what the read or ``rewrite`` raised (a DomainError with its reason: the caller's
        Resolve fails with it) and nothing is published then."""
        entry = _Entry(
            upstream=check_http_url(upstream_url),
            client=client,
            headers=dict(headers),
            rewrite=rewrite,
            label=label,
            last_read=self._clock(),
        )
        await self._read(entry)
        entry_id = secrets.token_urlsafe(18)
        self._entries[entry_id] = entry
        log.info(
            "relay: publishing %s",
            label or "a playlist",
            extra={
                "event.action": "relay.publish",
                "url.original": redact_url(entry.upstream),
                "relay.entries": len(self._entries),
            },
        )
        return f"{self.base_url}/r/{entry_id}.m3u8"

    def expire(self) -> int:
        """Forget entries not read for ``idle_ttl`` seconds; how many went."""
        now = self._clock()
        stale = [k for k, e in self._entries.items() if now - e.last_read > self._idle_ttl]
        for key in stale:
            entry = self._entries.pop(key)
            log.info(
                "relay: %s expired after %d reads",
                entry.label or "a playlist",
                entry.reads,
                extra={"event.action": "relay.expire"},
            )
        return len(stale)

    async def _expire_forever(self) -> None:
        while True:
            await asyncio.sleep(max(1.0, self._idle_ttl / 4))
            self.expire()

    # -- serving --------------------------------------------------------------------------

    async def _serve(self, request: Request) -> Response:
        entry = self._entries.get(request.path_params["entry"])
        if entry is None:
            return PlainTextResponse("no such playlist (expired?)\n", status_code=404)
        entry.last_read = self._clock()
        try:
            async with entry.lock:  # one upstream read at a time per playlist
                text = await self._read(entry)
        except DomainError as exc:
            entry.failures += 1
            if exc.reason != entry.last_reason:
                log.warning(
                    "relay: %s cannot be served: %s",
                    entry.label or "a playlist",
                    exc.message,
                    extra={"event.action": "relay.read", "error.type": exc.reason},
                )
            entry.last_reason = exc.reason
            RESOLVER_CALLS.labels("relay", "playlist", exc.reason).inc()
            status = 404 if isinstance(exc, NotFound) else 502
            return PlainTextResponse(
                f"{exc.reason}: {exc.message}\n",
                status_code=status,
                headers={"X-Streamrec-Reason": exc.reason, "Cache-Control": "no-store"},
            )
        entry.reads += 1
        if entry.last_reason:
            log.info(
                "relay: %s readable again (after %s)",
                entry.label or "a playlist",
                entry.last_reason,
                extra={"event.action": "relay.read", "event.outcome": "success"},
            )
            entry.last_reason = ""
        return Response(text, media_type=_M3U8, headers={"Cache-Control": "no-store"})

    async def _read(self, entry: _Entry) -> str:
        text, final_url = await self._fetch(entry)
        return await entry.rewrite(text, final_url)

    async def _fetch(self, entry: _Entry) -> tuple[str, str]:
        current = entry.upstream
        for _ in range(MAX_REDIRECTS + 1):
            try:
                response = await entry.client.request(
                    "GET",
                    current,
                    headers=entry.headers,
                    max_body_bytes=MAX_PLAYLIST_BYTES,
                    too_large_reason="PLAYLIST_TOO_LARGE",
                )
            except httpx.InvalidURL as exc:
                raise UpstreamError(
                    "the CDN redirects to an invalid location", reason="UNSAFE_REDIRECT"
                ) from exc
            if response.is_redirect:
                try:
                    current = check_http_url(urljoin(current, response.headers["location"]))
                except InvalidArgument as exc:
                    raise UpstreamError(
                        f"the CDN redirects to a refused location: {exc.message}",
                        reason="UNSAFE_REDIRECT",
                    ) from exc
                continue
            where = redact_url(current)
            if response.status in (404, 410):
                raise NotFound(
                    f"no playlist at {where} (HTTP {response.status})", reason="STREAM_NOT_FOUND"
                )
            if response.status != 200:
                raise UpstreamError(
                    f"{where} answered HTTP {response.status}",
                    reason=f"UPSTREAM_HTTP_{response.status}",
                    metadata={"http_status": str(response.status)},
                )
            return response.body.decode("utf-8", errors="replace"), current
        raise UpstreamError("too many redirects", reason="TOO_MANY_REDIRECTS")
