"""The dashboard in a real browser against the real services: badges for every kind of
channel, a card that turns RECORDING by itself when its room goes online, the recordings
browser and the player, adding, editing, pausing and removing channels, untrusted titles,
and phone-sized screens."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.fakes.chaturbate_site import FakeChaturbate
from tests.fakes.hls_origin import HlsOrigin
from tests.harness import Stack

pytestmark = pytest.mark.e2e

INTERVAL = 2.0
XSS_TITLE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def site() -> Iterator[FakeChaturbate]:
    with FakeChaturbate() as running:
        yield running


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, site: FakeChaturbate) -> Iterator[Stack]:
    env = {
        "CHATURBATE_BASE_URL": site.base_url,
        "CHATURBATE_THUMBNAIL_BASE_URL": f"{site.base_url}/ri",
        "STATUS_CACHE_TTL": "0",
        "SITE_RATE": "50",
        "SITE_BURST": "20",
        "SITE_JITTER": "0",
        "AUTORECORD_INTERVAL": str(INTERVAL),
        "AUTORECORD_JITTER": "0",
        "REMUX_MP4": "true",
    }
    with Stack(tmp_path_factory.mktemp("dash"), env_extra=env) as running:
        yield running


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        yield http


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 30.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def watch(api: httpx.Client, username: str, **fields: Any) -> None:
    created = api.post("/api/models", json={"username": username, **fields})
    assert created.status_code == 201, created.text


def card(page: Page, key: str) -> Any:
    return page.locator(f'.card[data-key="{key}"]')


def open_dashboard(page: Page, stack: Stack) -> None:
    page.goto(stack.base_url + "/")
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    expect(page.locator("#connection")).to_have_attribute("data-status", "live")


def test_badges_follow_the_site_and_a_card_turns_recording_without_a_reload(
    page: Page, stack: Stack, site: FakeChaturbate, origin: HlsOrigin, api: httpx.Client
) -> None:
    origin.add_stream("anna", window=6)
    site.add_room("anna", room_status="offline", title="back soon")
    site.add_room("bella", room_status="private")
    site.add_room("cara", room_status="away")
    site.add_room("dina", room_status="group")
    site.add_room("fay", room_status="offline")
    for name in ("anna", "bella", "cara", "dina", "nobody_here"):
        watch(api, name)
    watch(api, "fay", autoRecord=False)

    open_dashboard(page, stack)
    page.evaluate("window.__sameDocument = true")
    expected = {
        "anna": "OFFLINE",
        "bella": "PRIVATE",
        "cara": "AWAY",
        "dina": "GROUP",
        "nobody_here": "NOT FOUND",
        "fay": "PAUSED",
    }
    for key, label in expected.items():
        expect(card(page, key).locator(".badge")).to_have_text(label, timeout=20_000)
    expect(card(page, "anna").locator(".title")).to_have_text("back soon")
    expect(page.locator("#count-channels")).to_have_text("6")
    screenshot(page, "dashboard-desktop-states")

    site.set_room("anna", room_status="public", hls_url=origin.url("anna"), viewers=42)
    went_online = time.monotonic()
    expect(card(page, "anna").locator(".badge")).to_have_text(
        re.compile("STARTING|RECORDING"), timeout=(INTERVAL + 3) * 1000
    )
    expect(card(page, "anna").locator(".badge")).to_have_text("RECORDING", timeout=10_000)
    assert time.monotonic() - went_online < INTERVAL + 8
    assert page.evaluate("window.__sameDocument") is True  # patched, not reloaded
    expect(page.locator("#count-recording")).to_have_text("1")
    expect(card(page, "anna").locator(".size")).not_to_have_text("–", timeout=10_000)
    screenshot(page, "dashboard-desktop-recording")

    # The live preview of the running session plays in the page.
    card(page, "anna").get_by_role("button", name="Watch anna live").click()
    video = page.locator("#player")
    expect(video).to_be_visible()
    wait_for("the live preview to play", lambda: video.evaluate("v => v.currentTime") > 1.0, 40)

    # Offline: the session ends, is finalized, and its recording is in the browser.
    site.set_room("anna", room_status="offline")
    origin.stream("anna").end()
    expect(card(page, "anna").locator(".badge")).not_to_have_text(
        re.compile("RECORDING|STARTING|STOPPING"), timeout=30_000
    )
    page.locator("#sheet-close").click()
    card(page, "anna").get_by_role("button", name="Recordings of anna").click()
    row = page.locator("#recordings .recording").first
    expect(row.locator(".badge")).to_have_text("COMPLETE", timeout=30_000)
    assert page.evaluate("window.__sameDocument") is True
