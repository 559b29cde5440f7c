"""An HTTP proxy on loopback in front of a SOCKS5 proxy, so that ffmpeg can use a SOCKS5 CDN proxy.

ffmpeg speaks only HTTP proxies (``-http_proxy`` or the ``http_proxy`` variable). A site whose
CDN must be reached through a SOCKS5 proxy (``<SITE>_CDN_PROXY=socks5://...``) gets one of these
per proxy URL: ffmpeg talks HTTP to ``127.0.0.1:<port>``, the bridge opens the SOCKS5 tunnel
(``python-socks``) and copies bytes both ways. It understands the two requests an HTTP proxy
client sends: ``CONNECT host:port`` (https URLs: the TLS stays end to end, between ffmpeg and
the CDN) and an absolute-form ``GET http://host:port/path`` (plain http: forwarded in origin
form, one request per connection). No library offers this bridge as an asyncio component
(pproxy does it as a whole program); it is ~150 lines of stream copying.

The bridge asks for a random credential of its own, so another local user cannot borrow the
SOCKS exit through it; that credential, like the SOCKS proxy's, is never logged.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import secrets
from urllib.parse import urlsplit

from python_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError
from python_socks.async_.asyncio import Proxy

__all__ = ["SocksBridge", "SocksBridges", "is_socks"]

log = logging.getLogger(__name__)

_MAX_HEAD = 64 * 1024
_CONNECT_TIMEOUT = 15.0
_HOP_BY_HOP = (b"proxy-authorization", b"proxy-connection", b"connection", b"keep-alive")


def is_socks(proxy: str | None) -> bool:
    """True for a socks5:// or socks5h:// proxy URL."""
    return bool(proxy) and urlsplit(proxy or "").scheme.lower() in ("socks5", "socks5h")


def _target(method: bytes, target: bytes) -> tuple[str, int, bytes | None]:
    """(host, port, the origin-form path or None for CONNECT) of a proxy request line.

    Raises ValueError for anything else (a relative path, another scheme, no host)."""
    if method == b"CONNECT":
        host, _, port = target.decode("ascii").rpartition(":")
        if not host or not port.isdigit():
            raise ValueError("CONNECT needs host:port")
        return host.strip("[]"), int(port), None
    url = urlsplit(target.decode("ascii"))
    if url.scheme != "http" or not url.hostname:
        raise ValueError("an absolute http:// URL is needed")
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    return url.hostname, url.port or 80, path.encode("ascii")


class SocksBridge:
    """One loopback HTTP proxy relaying through ``socks_url``; ``url`` is what ffmpeg gets."""

    def __init__(self, socks_url: str) -> None:
        self._socks_url = socks_url
        self._token = secrets.token_urlsafe(18)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        """``http://bridge:<token>@127.0.0.1:<port>`` (a secret: give it to ffmpeg, not to logs)."""
        return f"http://bridge:{self._token}@127.0.0.1:{self.port}"

    async def start(self) -> SocksBridge:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def _authorized(self, head: list[bytes]) -> bool:
        expected = b"Basic " + base64.b64encode(f"bridge:{self._token}".encode())
        for line in head[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"proxy-authorization":
                return secrets.compare_digest(value.strip(), expected)
        return False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._relay(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raw = await reader.readuntil(b"\r\n\r\n")
        if len(raw) > _MAX_HEAD:
            raise ValueError("request head too large")
        head = raw[:-4].split(b"\r\n")
        if not self._authorized(head):
            writer.write(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="streamrec"\r\nContent-Length: 0\r\n'
                b"Connection: close\r\n\r\n"
            )
            await writer.drain()
            return
        method, target, version = head[0].split(b" ", 2)
        try:
            host, port, path = _target(method, target)
        except ValueError:
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            return
        try:
            sock = await Proxy.from_url(self._socks_url).connect(
                host, port, timeout=_CONNECT_TIMEOUT
            )
        except (ProxyError, ProxyConnectionError, ProxyTimeoutError, OSError) as exc:
            log.warning(
                "SOCKS5 CDN proxy refused a connection: %s",
                type(exc).__name__,
                extra={"event.action": "socks_bridge.connect", "event.outcome": "failure"},
            )
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            return
        up_reader, up_writer = await asyncio.open_connection(sock=sock)
        try:
            if path is None:
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await writer.drain()
            else:
                kept = [
                    line
                    for line in head[1:]
                    if line.partition(b":")[0].strip().lower() not in _HOP_BY_HOP
                ]
                request = [b" ".join((method, path, version)), *kept, b"Connection: close"]
                up_writer.write(b"\r\n".join(request) + b"\r\n\r\n")
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            up_writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            if writer.can_write_eof():
                writer.write_eof()


class SocksBridges:
    """One bridge per SOCKS5 proxy URL, started on first use; ``close`` stops them all."""

    def __init__(self) -> None:
        self._bridges: dict[str, SocksBridge] = {}
        self._lock = asyncio.Lock()

    async def http_proxy_for(self, proxy: str | None) -> str | None:
        """The proxy URL ffmpeg can use for ``proxy``: itself for an HTTP proxy (or None), a
        loopback bridge for a SOCKS5 one."""
        if not is_socks(proxy):
            return proxy
        assert proxy is not None
        async with self._lock:
            bridge = self._bridges.get(proxy)
            if bridge is None:
                bridge = await SocksBridge(proxy).start()
                self._bridges[proxy] = bridge
            return bridge.url

    async def close(self) -> None:
        bridges, self._bridges = list(self._bridges.values()), {}
        for bridge in bridges:
            await bridge.close()
