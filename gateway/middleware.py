"""ASGI middleware: correlation ids in and out, body size cap, access log, last-resort 500s.

Written as plain ASGI (not BaseHTTPMiddleware) so streamed responses (SSE, files) keep the
correlation id in context for as long as they stream."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit import correlation
from servicekit.metrics import HTTP_SECONDS

log = logging.getLogger("gateway.http")


def _header(scope: Scope, names: tuple[str, ...]) -> str | None:
    wanted = {n.encode() for n in names}
    for key, value in scope.get("headers", ()):
        if key.lower() in wanted:
            try:
                decoded: str = value.decode("latin-1")
            except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes anything
                return ""
            return decoded
    return None


class RequestContextMiddleware:
    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, larger: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # Paths whose bodies may be larger (a whole watch list to import).
        self._larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = _header(scope, correlation.HTTP_HEADERS)
        cid, accepted = correlation.accept(raw)
        started = time.perf_counter()
        status = {"code": 0}
        with correlation.bound(cid):
            if raw is not None and not accepted:
                log.warning(
                    "invalid correlation id header replaced",
                    extra={"event.action": "correlation.replaced", "header.length": len(raw)},
                )
            limit = self._larger.get(scope.get("path", ""), self.max_body_bytes)
            length = _header(scope, ("content-length",))
            if length is not None and (not length.isdigit() or int(length) > limit):
                await self._json(send, 413, "request body too large", "BODY_TOO_LARGE", cid)
                self._log(scope, 413, started)
                return

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status["code"] = message["status"]
                    headers = [
                        (k, v)
                        for k, v in message.get("headers", [])
                        if k.lower() != b"x-request-id"
                    ]
                    headers.append((b"x-request-id", cid.encode()))
                    message["headers"] = headers
                await send(message)

            try:
                await self.app(scope, self._capped(receive, limit), send_with_id)
            except BodyTooLarge:
                if status["code"] == 0:
                    await self._json(send, 413, "request body too large", "BODY_TOO_LARGE", cid)
                    status["code"] = 413
            except Exception:
                log.exception(
                    "unhandled error",
                    extra={"event.action": "http.error", "url.path": scope["path"]},
                )
                if status["code"] == 0:
                    await self._json(send, 500, "internal error", "INTERNAL", cid)
                    status["code"] = 500
            except asyncio.CancelledError:
                # Cut off by the server (its shutdown grace ran out): still one access line.
                self._log(scope, status["code"] or 499, started)
                raise
            self._log(scope, status["code"], started)

    def _capped(self, receive: Receive, limit: int) -> Receive:
        """Count body bytes as they arrive: chunked uploads have no Content-Length to check."""
        seen = {"bytes": 0}

        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                seen["bytes"] += len(message.get("body", b""))
                if seen["bytes"] > limit:
                    raise BodyTooLarge
            return message

        return wrapped

    @staticmethod
    async def _json(send: Send, status: int, detail: str, code: str, cid: str) -> None:
        body = json.dumps({"detail": detail, "code": code, "correlation_id": cid}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-request-id", cid.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _log(scope: Scope, status: int, started: float) -> None:
        path = scope.get("path", "")
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        HTTP_SECONDS.labels(scope.get("method", ""), route, str(status)).observe(
            time.perf_counter() - started
        )
        if path in ("/healthz", "/readyz", "/metrics"):
            return
        extra: dict[str, Any] = {
            "event.action": "http.request",
            "http.request.method": scope.get("method"),
            "url.path": path,
            "http.response.status_code": status,
            "event.duration": int((time.perf_counter() - started) * 1e9),
        }
        # Reading the logs must not fill them: a logs page polls /api/logs. Nor must pictures:
        # a dashboard asks for every card's about once a minute (a 404: none yet).
        quiet = (path == "/api/logs" and status < 400) or (
            route in _PICTURE_ROUTES and status in (200, 304, 404)
        )
        level = logging.DEBUG if quiet else logging.INFO
        log.log(level, "%s %s -> %d", scope.get("method"), path, status, extra=extra)


_PICTURE_ROUTES = frozenset(
    {
        "/api/models/{username}/thumbnail",
        "/api/recordings/{username}/{filename}/poster",
        "/api/recordings/{username}/{filename}/sheet",
        "/api/recordings/{username}/{filename}/sheet.json",
    }
)


class BodyTooLarge(Exception):
    """Raised while reading a body that grew past the cap."""
