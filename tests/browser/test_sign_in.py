"""Sign-in to the dashboard with API_TOKEN set: the token is exchanged once for an HttpOnly,
SameSite=Strict, expiring cookie; a wrong token, a request without the cookie, a request
without the CSRF token and a form posted from another origin are all refused; the Bearer API
is unchanged; sign-out ends it."""

from __future__ import annotations

import http.server
import re
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from simlab.harness import Stack
from tests.browser.conftest import screenshot

pytestmark = pytest.mark.e2e

TOKEN = "browser-test-token-0123456789"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # A watermark above what any test machine has free: the header's disk bar must go red.
    env = {"API_TOKEN": TOKEN, "SESSION_TTL": "3600", "MIN_FREE_BYTES": str(1 << 50)}
    with Stack(tmp_path_factory.mktemp("signin"), env_extra=env) as running:
        yield running


@pytest.fixture
def other_origin(stack: Stack) -> Iterator[str]:
    """A page on another origin (another port of the same host: the same *site*, so
    SameSite alone would not stop it) with a form that posts to the gateway."""
    page = (
        "<!doctype html><form id=f method=post "
        f'action="{stack.base_url}/api/models" enctype="text/plain">'
        '<input name=\'{"username":"evil","x":"\' value=\'"}\'></form>'
    ).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def sign_in(page: Page, stack: Stack, token: str) -> None:
    page.goto(stack.base_url + "/")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def test_a_wrong_token_is_refused_and_the_right_one_gives_a_safe_cookie(
    page: Page, stack: Stack, browser: Browser
) -> None:
    sign_in(page, stack, "not-the-token-at-all")
    expect(page.locator("#login-error")).to_contain_text("not the API token")
    assert page.context.cookies() == []
    screenshot(page, "sign-in-refused")

    page.get_by_label("API token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    expect(page.locator("#connection")).to_have_attribute("data-status", "live")
    expect(page.locator("#disk")).to_have_attribute("data-level", "critical")
    expect(page.locator("#disk-level")).to_have_text("disk almost full")
    (cookie,) = page.context.cookies()
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert time.time() < cookie["expires"] <= time.time() + 3600 + 5
    assert TOKEN not in cookie["value"]
    assert TOKEN not in page.content()

    # Signed in, the page works: add a channel through the UI, seen by the API with the token.
    page.get_by_role("button", name="Add channels").click()
    page.get_by_label("Usernames or links, one or more per line").fill("signed_in_user")
    page.locator("#add-form").get_by_role("button", name="Add").click()
    expect(page.locator('.card[data-key="signed_in_user"]')).to_be_visible()
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    seen = httpx.get(f"{stack.base_url}/api/models/signed_in_user", headers=bearer)
    assert seen.status_code == 200

    # The cookie alone does not change anything: the CSRF token must come with it.
    status = page.evaluate(
        """async () => (await fetch('/api/models', {method: 'POST',
            headers: {'Content-Type': 'application/json'},
            body: JSON.stringify({username: 'no_csrf'})})).status"""
    )
    assert status == 403
    assert httpx.get(f"{stack.base_url}/api/models/no_csrf", headers=bearer).status_code == 404
    # Reads need no CSRF token.
    assert page.evaluate("async () => (await fetch('/api/models')).status") == 200

    # Another browser with no cookie gets 401 from the API and the sign-in page for /.
    stranger = browser.new_context()
    try:
        assert stranger.request.get(f"{stack.base_url}/api/models").status == 401
        other = stranger.new_page()
        other.goto(stack.base_url + "/")
        expect(other).to_have_url(re.compile(r"/login$"))
    finally:
        stranger.close()

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    assert page.evaluate("async () => (await fetch('/api/models')).status") == 401


def test_a_form_posted_from_another_origin_is_refused(
    page: Page, stack: Stack, other_origin: str
) -> None:
    sign_in(page, stack, TOKEN)
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    page.goto(other_origin)
    with page.expect_navigation():
        page.evaluate("document.getElementById('f').submit()")
    assert "CROSS_SITE_REQUEST" in page.content()
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.get(f"{stack.base_url}/api/models/evil", headers=bearer).status_code == 404


def test_pages_forbid_inline_script_and_the_bearer_api_is_unchanged(stack: Stack) -> None:
    login = httpx.get(f"{stack.base_url}/login")
    policy = login.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert "<script>" not in login.text  # only <script type=module src=...>
    assert httpx.get(f"{stack.base_url}/api/models").status_code == 401
    with_key = httpx.get(f"{stack.base_url}/api/models", headers={"X-API-Key": TOKEN})
    assert with_key.status_code == 200
