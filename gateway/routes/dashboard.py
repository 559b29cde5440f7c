"""The web dashboard: its two pages, its built assets, and sign-in.

The pages are static HTML shells; the dashboard itself is an ES module (gateway/web/src,
built into gateway/web/dist by ``npm run build``) that talks to the same REST API and event
stream as any client. Everything is served from this origin with a Content-Security-Policy
that allows no inline script and nothing from elsewhere.

Sign-in (only when ``API_TOKEN`` is set): ``POST /auth/login`` exchanges the token for an
HttpOnly, SameSite=Strict cookie (Secure under TLS) that expires after ``SESSION_TTL``;
``GET /auth/session`` gives the page the CSRF token it must send on state-changing requests;
``POST /auth/logout`` drops the cookie.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from gateway import session_cookie
from gateway.auth import AuthConfig, signed_in
from gateway.errors import error_response

log = logging.getLogger("gateway.dashboard")
router = APIRouter(include_in_schema=False)

#: No inline script or style, nothing from another origin. hls.js plays through Media Source
#: Extensions (``blob:`` media) and transmuxes in a worker loaded from /assets.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_SECURITY = tuple(SECURITY_HEADERS.items())
# A failed sign-in waits this long before it answers: guessing is slow even from one browser.
FAILED_LOGIN_DELAY_S = 0.5
_MISSING_ASSETS = (
    "<!doctype html><title>streamrec</title><p>The dashboard's assets are not built. "
    "Run <code>make run</code> (or <code>npm ci &amp;&amp; npm run build</code>).</p>"
)


class Pages:
    """The HTML shells, with each asset's URL carrying a hash of its content (so a browser
    never mixes an old script with a new page)."""

    def __init__(self, web_dir: Path) -> None:
        self.dist = web_dir / "dist"
        self._pages = web_dir / "pages"
        self._cache: dict[str, tuple[float, str]] = {}

    def built(self) -> bool:
        return (self.dist / "app.js").is_file()

    def _version(self, name: str) -> str:
        try:
            data = (self.dist / name).read_bytes()
        except OSError:
            return "0"
        return hashlib.sha256(data).hexdigest()[:12]

    def html(self, page: str) -> str:
        if not self.built():
            return _MISSING_ASSETS
        path = self._pages / f"{page}.html"
        stamp = max(path.stat().st_mtime, (self.dist / "app.js").stat().st_mtime)
        cached = self._cache.get(page)
        if cached and cached[0] == stamp:
            return cached[1]
        text = path.read_text(encoding="utf-8")
        for asset in ("app.js", "app.css", "login.js"):
            text = text.replace("{{" + asset + "}}", f"/assets/{asset}?v={self._version(asset)}")
        self._cache[page] = (stamp, text)
        return text


def _page(pages: Pages, name: str) -> HTMLResponse:
    return HTMLResponse(pages.html(name), headers={**SECURITY_HEADERS, "Cache-Control": "no-store"})


def _config(request: Request) -> AuthConfig:
    config: AuthConfig = request.app.state.auth
    return config


@router.get("/")
async def index(request: Request) -> Response:
    config = _config(request)
    if config.required and signed_in(config, request.scope) is None:
        return RedirectResponse("/login", status_code=303, headers=SECURITY_HEADERS)
    return _page(request.app.state.pages, "index")


@router.get("/login")
async def login_page(request: Request) -> Response:
    config = _config(request)
    if not config.required or signed_in(config, request.scope) is not None:
        return RedirectResponse("/", status_code=303, headers=SECURITY_HEADERS)
    return _page(request.app.state.pages, "login")


async def _given_token(request: Request) -> tuple[str, bool]:
    """The token a sign-in sent, and whether it came from a plain HTML form."""
    body = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            data: Any = json.loads(body or b"{}")
        except ValueError:
            data = {}
        token = data.get("token") if isinstance(data, dict) else None
        return (token if isinstance(token, str) else ""), False
    fields = parse_qs(body.decode("latin-1"), max_num_fields=5)
    return (fields.get("token") or [""])[0], True


def _cookie(response: Response, request: Request, value: str, max_age: int) -> None:
    response.set_cookie(
        session_cookie.COOKIE_NAME,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


@router.post("/auth/login")
async def login(request: Request) -> Response:
    config = _config(request)
    token, from_form = await _given_token(request)
    if not config.required:
        return error_response(404, "sign-in is off: API_TOKEN is not set", "AUTH_NOT_REQUIRED")
    if not token or not hmac.compare_digest(token.encode(), config.token.encode()):
        log.warning(
            "dashboard sign-in refused: %s token",
            "missing" if not token else "wrong",
            extra={"event.action": "auth.login_failed"},
        )
        await asyncio.sleep(FAILED_LOGIN_DELAY_S)
        if from_form:
            return RedirectResponse("/login?failed=1", status_code=303)
        return error_response(401, "that is not the API token", "UNAUTHENTICATED")
    value, sign_in = session_cookie.issue(config.key, time.time(), config.session_ttl)
    log.info(
        "dashboard signed in",
        extra={"event.action": "auth.login", "auth.expires": sign_in.expires},
    )
    response: Response
    if from_form:
        response = RedirectResponse("/", status_code=303)
    else:
        response = JSONResponse(
            {
                "authRequired": True,
                "authenticated": True,
                "csrfToken": session_cookie.csrf_token(config.key, sign_in),
                "expiresAt": sign_in.expires,
            }
        )
    _cookie(response, request, value, config.session_ttl)
    return response


@router.post("/auth/logout")
async def logout(request: Request) -> Response:
    response = Response(status_code=204)
    _cookie(response, request, "", 0)
    log.info("dashboard signed out", extra={"event.action": "auth.logout"})
    return response


@router.get("/auth/session")
async def session(request: Request) -> JSONResponse:
    """What the page needs to know: is sign-in on, is this browser signed in, and the CSRF
    token to send back (readable only by a page of this origin)."""
    config = _config(request)
    sign_in = signed_in(config, request.scope)
    body: dict[str, Any] = {
        "authRequired": config.required,
        "authenticated": not config.required or sign_in is not None,
        "csrfToken": session_cookie.csrf_token(config.key, sign_in) if sign_in else None,
        "expiresAt": sign_in.expires if sign_in else None,
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


class Assets(StaticFiles):
    """The built assets, revalidated by ETag on each load, with the page's security headers."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                headers.append((b"cache-control", b"no-cache"))
                headers.extend((k.lower().encode(), v.encode()) for k, v in _SECURITY)
                message = {**message, "headers": headers}
            await send(message)

        await super().__call__(scope, receive, with_headers)


def mount(app: Any, pages: Pages) -> None:
    """Serve the pages and /assets on ``app``."""
    app.state.pages = pages
    app.include_router(router)
    app.mount("/assets", Assets(directory=pages.dist, check_dir=False), name="assets")
