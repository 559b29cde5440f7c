"""The dashboard in a real browser against the real services: badges for every kind of
channel, a card that turns RECORDING by itself when its room goes online, the recordings
browser and the player, adding, editing, pausing and removing channels, untrusted titles,
and phone-sized screens."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Request, expect

from simlab.fakes.chaturbate_site import FakeChaturbate
from simlab.fakes.hls_origin import HlsOrigin
from simlab.harness import Stack, site_env, wait_for
from tests.browser.conftest import screenshot

pytestmark = pytest.mark.e2e

INTERVAL = 2.0
XSS_TITLE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, site: FakeChaturbate) -> Iterator[Stack]:
    env = {**site_env(site.base_url, autorecord_interval=INTERVAL), "REMUX_MP4": "true"}
    with Stack(tmp_path_factory.mktemp("dash"), env_extra=env) as running:
        yield running


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        yield http


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
    expect(card(page, "anna").locator(".size")).not_to_have_text("\u2013", timeout=10_000)
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


def test_a_file_being_written_plays_through_hls_and_the_finished_mp4_plays_and_seeks(
    page: Page, stack: Stack, origin: HlsOrigin, api: httpx.Client
) -> None:
    origin.add_stream("vod", window=6)
    started = api.post("/api/start", json={"target": origin.url("vod"), "person": "vod"})
    assert started.status_code == 201, started.text
    session_id = started.json()["session_id"]
    wait_for(
        "media on disk",
        lambda: api.get(f"/api/sessions/{session_id}").json()["media_seconds"] > 8,
    )
    open_dashboard(page, stack)
    # A session nobody watches still has its card.
    expect(card(page, "vod").locator(".badge")).to_have_text("RECORDING")
    card(page, "vod").get_by_role("button", name="Recordings of vod").click()
    row = page.locator("#recordings .recording").first
    expect(row.locator(".badge")).to_have_text("WRITING")
    row.get_by_role("button", name=re.compile("^Play ")).click()
    video = page.locator("#player")
    wait_for("the growing .ts to play", lambda: video.evaluate("v => v.currentTime") > 1.0, 40)
    assert video.evaluate("v => v.src").startswith("blob:")  # through hls.js (MSE)

    stopped = api.post(f"/api/stop/{session_id}")
    assert stopped.status_code == 200, stopped.text
    expect(row.locator(".badge")).to_have_text("COMPLETE", timeout=30_000)
    expect(page.locator("#recordings .rec-file").first).to_have_text(re.compile(r"\.mp4$"))
    page.locator("#recordings .recording").first.get_by_role(
        "button", name=re.compile("^Play ")
    ).click()
    wait_for("the MP4 to play", lambda: video.evaluate("v => v.currentTime") > 0.5, 30)
    assert video.evaluate("v => v.src").endswith(".mp4")
    duration = video.evaluate("v => v.duration")
    assert duration > 6
    video.evaluate(f"v => {{ v.currentTime = {duration - 2:.1f}; }}")
    wait_for("the seek", lambda: video.evaluate("v => v.currentTime") >= duration - 2.5, 15)
    wait_for(
        "playback after the seek",
        lambda: video.evaluate("v => !v.seeking && v.readyState >= 2"),
        15,
    )

    # Its pictures: a poster in the list, and the contact sheet of the grid the API describes.
    first = page.locator("#recordings .recording").first
    poster = first.locator("img.poster")
    expect(poster).to_be_visible(timeout=30_000)
    wait_for("the poster", lambda: poster.evaluate("i => i.complete && i.naturalWidth") > 0)
    listed = api.get("/api/recordings/vod").json()[0]
    grid = api.get(listed["sheetUrl"] + ".json").json()
    first.get_by_role("button", name=re.compile("^Contact sheet of ")).click()
    sheet = page.locator("#image-full")
    wait_for("the contact sheet", lambda: sheet.evaluate("i => i.complete && i.naturalWidth") > 0)
    assert sheet.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [
        grid["columns"] * grid["tileWidth"],
        grid["rows"] * grid["tileHeight"],
    ]
    screenshot(page, "contact-sheet")
    page.locator("#dlg-image").get_by_role("button", name="Close").click()

    # Download is a plain link to the file; delete asks first, then the file is gone.
    download = page.locator("#recordings .recording").first.get_by_role(
        "link", name=re.compile("^Download ")
    )
    assert (download.get_attribute("href") or "").startswith("/streams/records/vod/")
    page.locator("#recordings .recording").first.get_by_role(
        "button", name=re.compile("^Delete ")
    ).click()
    page.locator("#confirm-yes").click()
    expect(page.locator("#recordings")).to_have_text("No recordings yet.")
    assert api.get("/api/recordings/vod").json() == []


def test_bulk_add_edit_pause_and_remove_each_reach_the_api(
    page: Page, stack: Stack, api: httpx.Client
) -> None:
    open_dashboard(page, stack)
    page.get_by_role("button", name="Add channels").click()
    page.get_by_label("Usernames or links, one or more per line").fill(
        "gina\nhttps://chaturbate.com/Hank/ ivy\nbad/name"
    )
    page.locator("#add-form").get_by_role("button", name="Add").click()
    expect(page.locator("#add-report")).to_contain_text("bad/name")
    page.locator("#add-cancel").click()
    for name in ("gina", "hank", "ivy"):
        expect(card(page, name)).to_be_visible()
        assert api.get(f"/api/models/{name}").status_code == 200

    # Edit: retention, a size limit and a quality, sent as one PUT.
    card(page, "gina").get_by_role("button", name="Edit gina").click()
    page.locator("#edit-retention").fill("7")
    page.locator("#edit-max-bytes").fill("2G")
    page.locator("#edit-height").fill("720")
    page.locator("#edit-form").get_by_role("button", name="Save").click()
    expect(page.locator("#dlg-edit")).not_to_be_visible()
    gina = api.get("/api/models/gina").json()
    assert (gina["retentionDays"], gina["maxBytes"]) == (7, 2 * 1024**3)
    assert gina["quality"]["height"] == 720 and gina["quality"]["policy"] == "closest"

    # A wrong size is refused in the dialog, nothing is sent.
    card(page, "gina").get_by_role("button", name="Edit gina").click()
    page.locator("#edit-max-bytes").fill("lots")
    page.locator("#edit-form").get_by_role("button", name="Save").click()
    expect(page.locator("#edit-error")).to_contain_text("Size limit")
    page.locator("#edit-cancel").click()
    assert api.get("/api/models/gina").json()["maxBytes"] == 2 * 1024**3

    card(page, "hank").get_by_role("button", name="Pause auto-record of hank").click()
    expect(card(page, "hank").locator(".badge")).to_have_text("PAUSED")
    assert api.get("/api/models/hank").json()["autoRecord"] is False

    # Remove asks first: Cancel keeps the channel, Remove removes it.
    card(page, "ivy").get_by_role("button", name="Remove ivy from the watch list").click()
    page.locator("#confirm-no").click()
    assert api.get("/api/models/ivy").status_code == 200
    card(page, "ivy").get_by_role("button", name="Remove ivy from the watch list").click()
    page.locator("#confirm-yes").click()
    expect(card(page, "ivy")).to_have_count(0)
    assert api.get("/api/models/ivy").status_code == 404

    # Bulk: select two, remove both with one confirmation.
    card(page, "gina").get_by_label("Select gina").check()
    card(page, "hank").get_by_label("Select hank").check()
    expect(page.locator("#bulk-count")).to_have_text("2 selected")
    page.locator("#bulkbar").get_by_role("button", name="Remove").click()
    page.locator("#confirm-yes").click()
    expect(card(page, "gina")).to_have_count(0)
    assert api.get("/api/models/gina").status_code == 404
    assert api.get("/api/models/hank").status_code == 404

    # Density, filters and sort are remembered by this browser.
    page.get_by_role("button", name="Compact").click()
    page.get_by_label("Status").select_option("paused")
    page.reload()
    expect(page.locator("#grid")).to_have_class(re.compile("density-compact"))
    expect(page.get_by_label("Status")).to_have_value("paused")
    page.get_by_label("Status").select_option("")
    page.get_by_role("button", name="Grid").click()


def test_a_room_title_with_markup_shows_as_text(
    page: Page, stack: Stack, site: FakeChaturbate, api: httpx.Client
) -> None:
    site.add_room("xss", room_status="offline", title=XSS_TITLE)
    watch(api, "xss")
    wait_for("the title", lambda: api.get("/api/models/xss").json()["lastTitle"] == XSS_TITLE)
    open_dashboard(page, stack)
    title = card(page, "xss").locator(".title")
    expect(title).to_have_text(XSS_TITLE)
    injected = 'img[src="x"], img[src$="/x"]'
    assert page.locator(injected).count() == 0 and title.locator("*").count() == 0
    card(page, "xss").get_by_role("button", name="Recordings of xss").click()
    expect(page.locator("#sheet-summary")).to_contain_text(XSS_TITLE)
    assert page.locator(injected).count() == 0
    # (the page fixture fails the test if a script opened an alert)


def test_a_phone_sized_screen_has_no_horizontal_scrolling_and_details_in_a_sheet(
    page: Page, stack: Stack, site: FakeChaturbate, api: httpx.Client
) -> None:
    site.add_room(
        "a_very_long_username_for_a_small_screen_indeed", room_status="offline", title="A" * 300
    )
    watch(api, "a_very_long_username_for_a_small_screen_indeed")
    page.set_viewport_size({"width": 390, "height": 844})
    open_dashboard(page, stack)
    expect(card(page, "a_very_long_username_for_a_small_screen_indeed")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "dashboard-phone-390")
    details = card(page, "a_very_long_username_for_a_small_screen_indeed").get_by_role(
        "button", name=re.compile("^Details of ")
    )
    box = details.bounding_box()
    assert box and box["height"] >= 40  # a thumb-sized target
    details.click()
    expect(page.locator("#sheet")).to_be_visible()
    expect(page.locator("#sheet-actions").get_by_role("button", name="Edit")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "dashboard-phone-390-sheet")
    page.keyboard.press("Escape")
    expect(page.locator("#sheet")).to_be_hidden()


def test_live_updates_resume_where_they_stopped_after_the_gateway_restarts(
    page: Page, stack: Stack, origin: HlsOrigin, api: httpx.Client
) -> None:
    origin.add_stream("resume_me", window=6)
    started = api.post(
        "/api/start", json={"target": origin.url("resume_me"), "person": "resume_me"}
    )
    assert started.status_code == 201, started.text
    requests: list[Request] = []
    page.on("request", lambda r: requests.append(r) if "/api/events" in r.url else None)
    open_dashboard(page, stack)
    page.evaluate("window.__sameDocument = true")
    size = card(page, "resume_me").locator(".size")
    expect(card(page, "resume_me").locator(".badge")).to_have_text("RECORDING", timeout=20_000)
    before = wait_for("a size", lambda: (t := size.text_content()) != "\u2013" and t)

    stack.services["gateway"].stop()
    expect(page.locator("#connection")).to_have_attribute("data-status", "reconnecting")
    stack.start_service("gateway")
    stack.wait_http_ready()
    expect(page.locator("#connection")).to_have_attribute("data-status", "live", timeout=30_000)
    wait_for("progress after the restart", lambda: size.text_content() != before, 30)
    assert page.evaluate("window.__sameDocument") is True
    resumed = [{"url": r.url, **r.all_headers()} for r in requests[1:]]
    assert resumed, requests
    # The browser resumed from the last event it had: Last-Event-ID (or ?after=) is set.
    assert any(r.get("last-event-id") or "after=" in r["url"] for r in resumed), resumed
    assert api.post(f"/api/stop/{started.json()['session_id']}").status_code == 200


def relative_luminance(rgb: tuple[float, ...]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(page: Page, selector: str) -> float:
    """Contrast ratio of an element's text against the first opaque background behind it."""
    fg, bg = page.evaluate(
        """(selector) => {
            const el = document.querySelector(selector);
            const rgb = (s) => s.match(/[\\d.]+/g).map(Number);
            let node = el, bg = null;
            while (node && node.nodeType === 1) {
                const c = rgb(getComputedStyle(node).backgroundColor);
                if (c.length < 4 || c[3] > 0.9) { bg = c; break; }
                node = node.parentElement;
            }
            return [rgb(getComputedStyle(el).color), bg || [255, 255, 255]];
        }""",
        selector,
    )
    light, dark = sorted((relative_luminance(fg), relative_luminance(bg)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_keyboard_use_visible_focus_and_enough_contrast(
    page: Page, stack: Stack, api: httpx.Client
) -> None:
    watch(api, "keyboard_user", autoRecord=False)
    open_dashboard(page, stack)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    reached = []
    for _ in range(8):  # the page links, then the first control of the channels
        page.keyboard.press("Tab")
        reached.append(
            page.evaluate("document.activeElement.id || document.activeElement.textContent")
        )
        if reached[-1] == "add-btn":
            break
    assert reached == ["Channels", "System", "Logs", "Notifications", "add-btn"], reached
    outline = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, parseFloat(s.outlineWidth)]; })()"
    )
    assert outline[0] != "none" and outline[1] >= 2, outline
    page.keyboard.press("Enter")
    expect(page.locator("#dlg-add")).to_be_visible()
    assert page.evaluate("document.activeElement.id") == "add-targets"
    page.keyboard.press("Escape")
    expect(page.locator("#dlg-add")).not_to_be_visible()
    # Every control of a card is a real button reachable by Tab, with a name.
    buttons = card(page, "keyboard_user").locator("button")
    assert buttons.count() >= 4
    for i in range(buttons.count()):
        assert buttons.nth(i).get_attribute("aria-label") or buttons.nth(i).text_content()
    card(page, "keyboard_user").get_by_role(
        "button", name="Resume auto-record of keyboard_user"
    ).focus()
    page.keyboard.press("Enter")
    expect(card(page, "keyboard_user").locator(".badge")).not_to_have_text("PAUSED")
    for selector in (
        "body",
        ".counts dt",
        '.card[data-key="keyboard_user"] .name',
        '.card[data-key="keyboard_user"] .badge',
        "#add-btn",
    ):
        assert contrast(page, selector) >= 4.5, selector
    assert api.delete("/api/models/keyboard_user").status_code == 200
