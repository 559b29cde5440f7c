"""API token on the gateway: when API_TOKEN is set, every ``/api`` and ``/streams`` request
must carry it as ``Authorization: Bearer <token>`` or ``X-API-Key: <token>``.

Plain ASGI, inside the correlation middleware (so a 401 carries the request's id). The token
is compared in constant time and never logged; health, readiness, metrics and the OpenAPI
documents stay open (they hold no recordings and no secrets).
"""

from __future__ import annotations

import hmac
import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.errors import error_response

log = logging.getLogger("gateway.auth")

PROTECTED_PREFIXES = ("/api/", "/streams/")


def _credential(scope: Scope) -> bytes | None:
    api_key: bytes | None = None
    for key, value in scope.get("headers", ()):
        name = key.lower()
        if name == b"authorization":
            scheme, _, token = bytes(value).partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                return token.strip()
        elif name == b"x-api-key" and value:
            api_key = bytes(value).strip()
    return api_key


class TokenAuthMiddleware:
    def __init__(self, app: ASGIApp, *, token: str) -> None:
        self.app = app
        self._token = token.encode()

    def _protected(self, path: str) -> bool:
        return bool(self._token) and (
            path.startswith(PROTECTED_PREFIXES) or path in ("/api", "/streams")
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._protected(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        given = _credential(scope)
        if given is not None and hmac.compare_digest(given, self._token):
            await self.app(scope, receive, send)
            return
        reason = "missing" if given is None else "wrong"
        log.warning(
            "request refused: %s API token",
            reason,
            extra={"event.action": "http.unauthorized", "url.path": scope.get("path", "")},
        )
        response = error_response(
            401,
            "an API token is required: send 'Authorization: Bearer <token>' or 'X-API-Key'"
            if given is None
            else "the API token is not valid",
            "UNAUTHENTICATED",
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="streamrec"'
        await response(scope, receive, send)
