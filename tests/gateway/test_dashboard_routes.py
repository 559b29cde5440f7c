"""The dashboard's routes in-process: pages and their security headers, sign-in and its
cookie, the CSRF token on state changes, refusal of cross-site state changes (with or without
a token), the assets, and the .ts playback playlist's bad paths."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.routes.dashboard import FAILED_LOGIN_DELAY_S
from gateway.settings import GatewaySettings
from tests.gateway.conftest import gateway_client
from tests.gateway.fake_recorder import Fakes, assert_error

TOKEN = "dashboard-token-0123456789"


@pytest.fixture
async def locked(fakes: Fakes, output_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway_client(f"127.0.0.1:{fakes.port}", output_dir, api_token=TOKEN) as c:
        yield c


async def sign_in(client: httpx.AsyncClient) -> str:
    """Sign in; the client keeps the cookie. Returns the CSRF token."""
    response = await client.post("/auth/login", json={"token": TOKEN})
    assert response.status_code == 200, response.text
    token: str = response.json()["csrfToken"]
    return token


async def test_pages_need_sign_in_when_a_token_is_set(locked: httpx.AsyncClient) -> None:
    index = await locked.get("/")
    assert index.status_code == 303 and index.headers["location"] == "/login"
    page = await locked.get("/login")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"
    assert TOKEN not in page.text
    session = (await locked.get("/auth/session")).json()
    assert session == {
        "authRequired": True,
        "authenticated": False,
        "csrfToken": None,
        "expiresAt": None,
    }


async def test_a_wrong_token_is_refused_slowly_and_sets_no_cookie(
    locked: httpx.AsyncClient,
) -> None:
    began = time.monotonic()
    refused = await locked.post("/auth/login", json={"token": "wrong-token-0123456789"})
    assert time.monotonic() - began >= FAILED_LOGIN_DELAY_S * 0.9
    assert_error(refused, 401, "UNAUTHENTICATED")
    assert "set-cookie" not in refused.headers
    form = await locked.post("/auth/login", data={"token": "nope"})
    assert form.status_code == 303 and form.headers["location"] == "/login?failed=1"
    broken = await locked.post(
        "/auth/login", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_error(broken, 401, "UNAUTHENTICATED")


async def test_the_cookie_is_httponly_strict_expiring_and_opens_the_api(
    locked: httpx.AsyncClient, fakes: Fakes
) -> None:
    response = await locked.post("/auth/login", json={"token": TOKEN})
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=604800" in cookie
    assert "Secure" not in cookie  # plain http here; https gets Secure (below)
    assert TOKEN not in cookie
    assert (await locked.get("/")).status_code == 200
    assert (await locked.get("/login")).headers["location"] == "/"
    assert (await locked.get("/api/models")).status_code == 200

    csrf = response.json()["csrfToken"]
    body = {"username": "ann"}
    assert_error(await locked.post("/api/models", json=body), 403, "CSRF_TOKEN_INVALID")
    bad = await locked.post("/api/models", json=body, headers={"X-CSRF-Token": csrf + "x"})
    assert_error(bad, 403, "CSRF_TOKEN_INVALID")
    assert (await locked.get("/api/models/ann")).status_code == 404
    created = await locked.post("/api/models", json=body, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201, created.text
    assert (await locked.get("/auth/session")).json()["csrfToken"] == csrf

    out = await locked.post("/auth/logout", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 204 and "Max-Age=0" in out.headers["set-cookie"]
    assert_error(await locked.get("/api/models"), 401, "UNAUTHENTICATED")


async def test_a_forged_cookie_is_401(locked: httpx.AsyncClient) -> None:
    locked.cookies.set("streamrec_session", "abc.99999999999.c2lnbmF0dXJl")
    assert_error(await locked.get("/api/models"), 401, "UNAUTHENTICATED")
    assert (await locked.get("/")).status_code == 303


async def test_under_tls_the_cookie_is_secure(fakes: Fakes, output_dir: Path) -> None:
    settings = GatewaySettings(
        recorder_addr=f"127.0.0.1:{fakes.port}",
        output_dir=output_dir,
        build_commit="test",
        api_token=TOKEN,
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="https://gateway") as client,
    ):
        response = await client.post("/auth/login", json={"token": TOKEN})
        assert "Secure" in response.headers["set-cookie"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # another port of the same host
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
    ],
)
async def test_a_state_change_from_another_site_is_refused_even_with_the_token(
    locked: httpx.AsyncClient, fakes: Fakes, headers: dict[str, str]
) -> None:
    csrf = await sign_in(locked)
    response = await locked.post(
        "/api/models",
        json={"username": "evil"},
        headers={**headers, "X-CSRF-Token": csrf, "Authorization": f"Bearer {TOKEN}"},
    )
    assert_error(response, 403, "CROSS_SITE_REQUEST")
    assert fakes.calls() == []


async def test_without_a_token_cross_site_state_changes_are_still_refused(
    client: httpx.AsyncClient, fakes: Fakes
) -> None:
    refused = await client.post(
        "/api/start", json={"target": "alice"}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert_error(refused, 403, "CROSS_SITE_REQUEST")
    # Reads from anywhere, and changes from this origin or from programs, go on.
    read = await client.get("/api/models", headers={"Sec-Fetch-Site": "cross-site"})
    assert read.status_code == 200
    same = await client.post(
        "/api/models",
        json={"username": "ok_here"},
        headers={"Sec-Fetch-Site": "same-origin", "Origin": "http://gateway"},
    )
    assert same.status_code == 201, same.text
    assert (await client.post("/api/models", json={"username": "curl_user"})).status_code == 201
    # Without a token there is no sign-in to do.
    assert (await client.get("/login")).headers["location"] == "/"
    assert_error(await client.post("/auth/login", json={"token": "x"}), 404, "AUTH_NOT_REQUIRED")


async def test_assets_are_served_with_the_page_headers_and_nothing_else(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert '<script type="module" src="/assets/app.js?v=' in page.text
    script = await client.get("/assets/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert script.headers["x-content-type-options"] == "nosniff"
    assert "etag" in script.headers
    assert (await client.get("/assets/../settings.py")).status_code == 404
    assert (await client.get("/assets/nothing.js")).status_code == 404


async def test_without_built_assets_the_page_says_how_to_build_them(
    fakes: Fakes, output_dir: Path, tmp_path: Path
) -> None:
    settings = GatewaySettings(
        recorder_addr=f"127.0.0.1:{fakes.port}",
        output_dir=output_dir,
        build_commit="test",
        web_dir=tmp_path / "no-web",
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://gateway") as client,
    ):
        page = await client.get("/")
        assert page.status_code == 200 and "make run" in page.text


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/streams/playback/..%2Fx/a.ts", 400, "INVALID_PERSON"),
        ("/streams/playback/ann/..%2Fa.ts", 400, "INVALID_FILE_NAME"),
        ("/streams/playback/ann/a.mp4", 400, "NOT_A_TS_FILE"),
        ("/streams/playback/ann/missing.ts", 404, "FILE_NOT_FOUND"),
    ],
)
async def test_the_playback_playlist_refuses_bad_paths(
    client: httpx.AsyncClient, fakes: Fakes, path: str, status: int, code: str
) -> None:
    assert_error(await client.get(path), status, code)
    assert fakes.calls() == []
