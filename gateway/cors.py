"""CORS for the read-only parts of the gateway, for the origins in ``CORS_ALLOW_ORIGINS``.

A player on a page of another origin (hls.js) can read the live preview
(``/streams/sessions/...``), the recordings (``/streams/records/...``) and the read-only API
(GET and HEAD of ``/api/...``); nothing else is ever approved, and with the setting empty this
middleware adds nothing at all. No ``Access-Control-Allow-Credentials``: cookies never go
cross-origin, so a page of another origin can only get past ``API_TOKEN`` by sending the token
itself (``Authorization: Bearer``, ``X-API-Key``), which the preflight allows, with ``Range``.

Ours rather than Starlette's CORSMiddleware behind a path filter: Starlette's sends
``Access-Control-Expose-Headers`` to every origin, listed or not, and answers a preflight it
refuses with a 400 that still carries the ``Access-Control-Allow-*`` headers. Here a request the
allow-list does not cover goes on as if this middleware were not there: no CORS header, and a
preflight that is not approved reaches the app like any OPTIONS request (401 with a token set,
else 405), which a browser takes as "no".

Plain ASGI, registered outermost: browsers never send credentials on a preflight, so it is
answered here, before the token check, and streamed responses (SSE, files) keep their headers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.settings import SettingsError

log = logging.getLogger("gateway.cors")

SETTING = "CORS_ALLOW_ORIGINS"
ANY_ORIGIN = "*"
READ_METHODS = frozenset({"GET", "HEAD"})
# The paths a page of another origin may read; under /api only GET and HEAD are ever allowed.
PATH_PREFIXES = ("/streams/sessions/", "/streams/records/", "/api/")
# What a cross-origin player or client sends: the token, a byte range, a correlation id, and
# the id an EventSource resumes from. The CORS-safelisted ones are allowed by every browser
# anyway; listing them keeps a client that names them in a preflight from being refused.
ALLOW_HEADERS = (
    "Authorization",
    "X-API-Key",
    "Range",
    "X-Request-ID",
    "X-Correlation-ID",
    "Last-Event-ID",
    "Accept",
    "Accept-Language",
    "Content-Language",
    "Content-Type",
)
EXPOSE_HEADERS = ("Content-Range", "Accept-Ranges", "Content-Length", "X-Request-ID")
MAX_AGE = 600  # seconds a browser may keep an approved preflight

_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
_HOST = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\]")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_allow_origins(value: str) -> tuple[str, ...]:
    """``CORS_ALLOW_ORIGINS``: comma-separated ``scheme://host[:port]`` origins, each written
    the way a browser sends it in ``Origin`` (lower case, no default port), or ``*`` alone
    for any origin; empty for none. Raises SettingsError naming the variable otherwise."""
    entries = [part.strip() for part in value.split(",") if part.strip()]
    if ANY_ORIGIN in entries:
        if len(entries) > 1:
            raise SettingsError(f"{SETTING}: '*' (any origin) cannot be combined with origins")
        return (ANY_ORIGIN,)
    return tuple(dict.fromkeys(_origin(entry) for entry in entries))


def _origin(entry: str) -> str:
    problem = SettingsError(
        f"{SETTING}: {entry!r} is not an origin: write scheme://host[:port] with no path, "
        "like https://app.example or http://127.0.0.1:3000"
    )
    try:
        parts = urlsplit(entry)
        port = parts.port
    except ValueError:
        raise problem from None
    scheme = parts.scheme.lower()
    netloc = parts.netloc.lower()
    host = netloc.rpartition(":")[0] if port is not None else netloc.removesuffix(":")
    if (
        not _SCHEME.fullmatch(scheme)
        or "@" in netloc
        or not _HOST.fullmatch(host)
        or parts.path
        or parts.query
        or parts.fragment
        or entry.rstrip().endswith(("?", "#"))
    ):
        raise problem
    # A browser leaves the scheme's default port out of Origin: so does the list.
    if port is None or port == _DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class CorsMiddleware:
    def __init__(self, app: ASGIApp, *, allow_origins: Collection[str]) -> None:
        self.app = app
        self.any_origin = ANY_ORIGIN in allow_origins
        self.origins = frozenset(allow_origins)

    def _allowed(self, origin: str) -> bool:
        return self.any_origin or origin in self.origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not self.origins
            or not scope.get("path", "").startswith(PATH_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET")
        origin = _header(scope, b"origin")
        if method == "OPTIONS" and origin is not None and self._approves(scope, origin):
            await self._preflight(scope, send, origin)
            return
        if method not in READ_METHODS:
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, self._with_headers(send, origin))

    def _approves(self, scope: Scope, origin: str) -> bool:
        """Whether a preflight from ``origin`` asks only for what a reader may do."""
        method = _header(scope, b"access-control-request-method")
        if method is None or method.strip() not in READ_METHODS or not self._allowed(origin):
            return False
        allowed = {name.lower() for name in ALLOW_HEADERS}
        requested = _header(scope, b"access-control-request-headers") or ""
        return all(name.strip().lower() in allowed for name in requested.split(",") if name.strip())

    async def _preflight(self, scope: Scope, send: Send, origin: str) -> None:
        headers = [
            (b"access-control-allow-origin", (ANY_ORIGIN if self.any_origin else origin).encode()),
            (b"access-control-allow-methods", b"GET, HEAD"),
            (b"access-control-allow-headers", ", ".join(ALLOW_HEADERS).encode()),
            (b"access-control-max-age", str(MAX_AGE).encode()),
            (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
            (b"content-length", b"0"),
        ]
        log.debug(
            "CORS preflight approved",
            extra={"event.action": "http.cors_preflight", "url.path": scope.get("path", "")},
        )
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    def _with_headers(self, send: Send, origin: str | None) -> Send:
        """``send`` adding the CORS headers for an allowed ``origin``, and ``Vary: Origin``
        whenever the answer depends on it (a cache must not hand one origin's answer to
        another)."""
        allowed = origin is not None and self._allowed(origin)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if allowed and self.any_origin:
                    headers.append((b"access-control-allow-origin", b"*"))
                elif allowed and origin is not None:
                    headers.append((b"access-control-allow-origin", origin.encode("latin-1")))
                if allowed:
                    expose = ", ".join(EXPOSE_HEADERS).encode()
                    headers.append((b"access-control-expose-headers", expose))
                if not self.any_origin:
                    headers.append((b"vary", b"Origin"))
                message = {**message, "headers": headers}
            await send(message)

        return sending
