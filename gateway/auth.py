"""Who may call the gateway.

With ``API_TOKEN`` set, every ``/api`` and ``/streams`` request must prove it knows the token,
in one of two ways:
- programs send it as ``Authorization: Bearer <token>`` or ``X-API-Key: <token>`` (unchanged);
- the dashboard's browser holds the sign-in cookie (see :mod:`gateway.session_cookie`), and a
  state-changing request from it must also carry the sign-in's CSRF token in ``X-CSRF-Token``.

Whatever the token setting, a state-changing request that a browser marks as coming from
another site or origin (``Sec-Fetch-Site``, ``Origin``) is refused: another page, even one on
another port of the same host, cannot make a visitor's browser start, stop or delete anything.

Plain ASGI, inside the correlation middleware (so a refusal carries the request's id). The token
is compared in constant time and never logged; health, readiness, metrics, the OpenAPI
documents and the dashboard's pages and assets stay open (they hold no recordings and no
secrets; the pages ask for sign-in themselves).
"""

from __future__ import annotations

import hmac
import logging
import time
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import session_cookie
from gateway.errors import error_response

log = logging.getLogger("gateway.auth")

PROTECTED_PREFIXES = ("/api/", "/streams/")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class AuthConfig:
    """What the middleware and the sign-in routes share (``app.state.auth``)."""

    token: str
    session_ttl: int

    @property
    def required(self) -> bool:
        return bool(self.token)

    @property
    def key(self) -> bytes:
        return session_cookie.session_key(self.token)


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (``name`` in lower case), as latin-1 text."""
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


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


def cookie_value(scope: Scope, name: str = session_cookie.COOKIE_NAME) -> str | None:
    raw = header(scope, b"cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


def signed_in(config: AuthConfig, scope: Scope) -> session_cookie.SignIn | None:
    """The valid sign-in the request's cookie proves, if any."""
    value = cookie_value(scope)
    if not config.required or value is None:
        return None
    return session_cookie.verify(config.key, value, time.time())


def cross_site(scope: Scope) -> bool:
    """True when the browser says the request comes from another site or origin. Programs
    (curl, the CLI's peers, tests) send neither header and are not affected."""
    fetch_site = header(scope, b"sec-fetch-site")
    if fetch_site is not None:
        # Computed by the browser itself: right even behind a proxy that rewrites Host.
        return fetch_site.lower() not in ("same-origin", "none")
    origin = header(scope, b"origin")
    if origin is None:
        return False
    host = header(scope, b"host") or ""
    _, _, origin_host = origin.partition("://")
    return origin == "null" or origin_host.lower() != host.lower()


def _refuse(status: int, detail: str, code: str, scope: Scope) -> JSONResponse:
    log.warning(
        "request refused: %s",
        detail,
        extra={
            "event.action": "http.unauthorized" if status == 401 else "http.forbidden",
            "url.path": scope.get("path", ""),
            "error.type": code,
        },
    )
    response = error_response(status, detail, code)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="streamrec"'
    return response


class TokenAuthMiddleware:
    def __init__(self, app: ASGIApp, *, config: AuthConfig) -> None:
        self.app = app
        self._config = config
        self._token = config.token.encode()

    def _protected(self, path: str) -> bool:
        return path.startswith(PROTECTED_PREFIXES) or path in ("/api", "/streams")

    def _check(self, scope: Scope) -> JSONResponse | None:
        """None when the request may go on, else the response refusing it."""
        path = scope.get("path", "")
        unsafe = scope.get("method", "GET") in UNSAFE_METHODS
        if unsafe and cross_site(scope):
            return _refuse(
                403,
                "a state-changing request from another site or origin is not accepted",
                "CROSS_SITE_REQUEST",
                scope,
            )
        if not self._token or not self._protected(path):
            return None
        given = _credential(scope)
        if given is not None:
            if hmac.compare_digest(given, self._token):
                return None
            return _refuse(401, "the API token is not valid", "UNAUTHENTICATED", scope)
        sign_in = signed_in(self._config, scope)
        if sign_in is None:
            return _refuse(
                401,
                "an API token is required: send 'Authorization: Bearer <token>' or "
                "'X-API-Key', or sign in to the dashboard",
                "UNAUTHENTICATED",
                scope,
            )
        if unsafe and not session_cookie.csrf_ok(
            self._config.key, sign_in, header(scope, session_cookie.CSRF_HEADER.encode())
        ):
            return _refuse(
                403,
                "the dashboard's CSRF token is missing or wrong (reload the page)",
                "CSRF_TOKEN_INVALID",
                scope,
            )
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self._check(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)
