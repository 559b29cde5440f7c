"""The dashboard's other pages in a real browser against the real services: a channel's
timeline with a gap drawn where it happened, the system page against the API, the watch list
exported and imported into an empty one, and the logs page following one request across the
three services."""

from __future__ import annotations

import http.server
import json
import re
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect
from standardwebhooks.webhooks import Webhook

from simlab.fakes.chaturbate_site import FakeChaturbate
from simlab.fakes.hls_origin import HlsOrigin
from simlab.harness import Stack, site_env
from tests.browser.conftest import screenshot

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, site: FakeChaturbate) -> Iterator[Stack]:
    env = site_env(site.base_url)
    with Stack(tmp_path_factory.mktemp("pages"), env_extra=env) as running:
        yield running


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        yield http


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat()


def plant(stack: Stack, person: str, now: datetime) -> datetime:
    """A finished recording of 2 h, ending 1 day ago, with a 5-minute gap an hour into it, and
    the site's online/offline changes around it, written into the recorder's own database."""
    start = now - timedelta(days=1, hours=2)
    end = now - timedelta(days=1)
    gap_at = start + timedelta(hours=1)
    folder = stack.output_dir / "records" / person
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "planted.mp4").write_bytes(b"\0" * 4096)
    db = sqlite3.connect(stack.output_dir / "streamrec.db", timeout=10)
    with db:
        db.execute(
            "INSERT INTO recordings (person, file_name, session_id, part, state, size_bytes,"
            " media_seconds, start_time, end_time, pinned) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                person,
                "planted.mp4",
                "s-planted",
                1,
                "COMPLETE",
                4096,
                6900.0,
                iso(start),
                iso(end),
                0,
            ),
        )
        db.execute(
            "INSERT INTO gaps (session_id, path, start_time, duration_s, cause, detail)"
            " VALUES (?,?,?,?,?,?)",
            (
                "s-planted",
                f"records/{person}/planted.mp4",
                iso(gap_at),
                300.0,
                "RESTART",
                "planted",
            ),
        )
        for at, availability in (
            (now - timedelta(days=3), "OFFLINE"),
            (start, "ONLINE"),
            (end, "OFFLINE"),
        ):
            db.execute(
                "INSERT INTO availability (username, time, availability) VALUES (?,?,?)",
                (person, iso(at), availability),
            )
    db.close()
    return gap_at


def test_the_channel_timeline_draws_a_planted_gap_where_it_happened(
    page: Page, stack: Stack, api: httpx.Client
) -> None:
    assert (
        api.post("/api/models", json={"username": "planted", "autoRecord": False}).status_code
        == 201
    )
    now = datetime.now(UTC)
    gap_at = plant(stack, "planted", now)
    page.goto(f"{stack.base_url}/#/channel/planted")
    expect(page.locator("#channel-title")).to_have_text("planted")
    gap = page.locator("#timeline .tl-gap")
    expect(gap).to_have_count(1)
    expect(page.locator("#tl-gaps li")).to_contain_text("restart · 300.0 s · planted")
    # Where it is drawn: its share of the 7-day window, measured on the page.
    track = page.locator("#timeline .tl-gaps").bounding_box()
    box = gap.bounding_box()
    assert track and box
    drawn = (box["x"] - track["x"]) / track["width"]
    expected = (gap_at - (now - timedelta(days=7))) / timedelta(days=7)
    assert abs(drawn - expected) < 0.01, (drawn, expected)
    online = page.locator("#timeline .tl-online")
    expect(online).to_have_count(1)
    recorded = page.locator("#timeline .tl-recorded")
    expect(recorded).to_have_count(1)
    # The recorded bar and the online span cover the same two hours.
    r, o = recorded.bounding_box(), online.bounding_box()
    assert r and o and abs(r["x"] - o["x"]) < 2 and abs(r["width"] - o["width"]) < 2
    expect(page.locator("#tl-completeness")).to_contain_text("95.8 %")  # 6900 / (6900 + 300)
    expect(page.locator("#channel-recordings .recording")).to_have_count(1)
    screenshot(page, "channel-timeline")


def test_the_system_page_shows_what_the_api_says(
    page: Page, stack: Stack, origin: HlsOrigin, api: httpx.Client
) -> None:
    origin.add_stream("sysrec", window=6)
    started = api.post("/api/start", json={"target": origin.url("sysrec"), "person": "sysrec"})
    assert started.status_code == 201, started.text
    try:
        page.goto(f"{stack.base_url}/#/system")
        expect(page.locator("#system-processes tr")).to_contain_text("sysrec", timeout=20_000)
        system = api.get("/api/system").json()
        (process,) = [p for p in system["processes"] if p["person"] == "sysrec"]
        row = page.locator("#system-processes tr", has_text="sysrec")
        expect(row.locator("td").first).to_have_text(str(process["pid"]))
        folders = {f["person"]: f for f in system["folders"]}
        expect(page.locator("#system-folders tr", has_text="planted")).to_contain_text("4.00 KiB")
        assert folders["planted"]["bytes"] == 4096
        expect(page.locator('[data-figure="Watermark"]')).to_have_text(re.compile(r"free$|^none$"))
        screenshot(page, "system")
    finally:
        api.post(f"/api/stop/{started.json()['session_id']}")


def test_export_then_import_into_an_empty_watch_list(
    page: Page, stack: Stack, api: httpx.Client, tmp_path: Path
) -> None:
    for name in ("exp_one", "exp_two"):
        api.post("/api/models", json={"username": name, "retentionDays": 5, "autoRecord": False})
    page.goto(stack.base_url + "/")
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    with page.expect_download() as download:
        page.get_by_role("link", name="Export").click()
    saved = tmp_path / "watchlist.json"
    download.value.save_as(saved)
    document = json.loads(saved.read_text())
    names = {c["username"] for c in document["channels"]}
    assert {"exp_one", "exp_two"} <= names
    for name in names:
        assert api.delete(f"/api/models/{name}").status_code == 200
    assert api.get("/api/models").json() == []
    document["channels"].append({"username": "bad name"})
    saved.write_text(json.dumps(document))
    page.locator("#import-file").set_input_files(str(saved))
    expect(page.locator("#dlg-report")).to_be_visible()
    expect(page.locator("#report-summary")).to_have_text(
        f"{len(names)} added, 0 already watched, 1 invalid, 0 failed."
    )
    expect(page.locator("#report-lines")).to_contain_text("bad name")
    page.locator("#dlg-report").get_by_role("button", name="Close").click()
    expect(page.locator('.card[data-key="exp_one"]')).to_be_visible()
    assert {c["username"] for c in api.get("/api/models").json()} == names
    assert api.get("/api/models/exp_two").json()["retentionDays"] == 5


class Receiver:
    """A webhook receiver on loopback that keeps what it gets."""

    def __init__(self) -> None:
        received: list[tuple[dict[str, str], bytes]] = []
        self.received = received

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append((dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def test_a_webhook_target_is_added_tested_edited_and_removed_from_the_page(
    page: Page, stack: Stack, api: httpx.Client
) -> None:
    receiver = Receiver()
    try:
        page.goto(f"{stack.base_url}/#/notifications")
        page.get_by_role("button", name="Add a target").click()
        page.locator("#target-name").fill("my hook")
        page.locator("#target-url").fill(receiver.url)
        page.get_by_role("button", name="Generate").click()
        secret = page.locator("#target-secret").input_value()
        assert secret.startswith("whsec_")
        page.get_by_label("recording.finished").check()
        page.locator("#target-form").get_by_role("button", name="Save").click()
        target = page.locator(".target", has_text="my hook")
        expect(target).to_be_visible()
        expect(target).to_contain_text("Events: recording.finished")
        (listed,) = [
            t for t in api.get("/api/notifications/targets").json() if t["name"] == "my hook"
        ]
        assert listed["events"] == ["recording.finished"] and "secret" not in listed

        target.get_by_role("button", name="Send a test to my hook").click()
        expect(target.locator(".test-result")).to_contain_text("Delivered: HTTP 200")
        headers, body = receiver.received[-1]
        lower = {k.lower(): v for k, v in headers.items()}
        Webhook(secret).verify(body, lower)  # raises when the signature is wrong

        target.get_by_role("button", name="Edit my hook").click()
        page.locator("#target-cooldown").fill("600")
        page.locator("#target-form").get_by_role("button", name="Save").click()
        expect(page.locator(".target", has_text="my hook")).to_contain_text("cooldown 600 s")
        assert (
            api.get(f"/api/notifications/targets/{listed['id']}").json()["cooldownSeconds"] == 600
        )

        # A URL the recorder refuses is said in the dialog.
        page.get_by_role("button", name="Add a target").click()
        page.locator("#target-url").fill("http://169.254.169.254/latest/meta-data")
        page.locator("#target-form").get_by_role("button", name="Save").click()
        expect(page.locator("#target-error")).to_contain_text("UNSAFE_URL")
        page.locator("#target-cancel").click()

        page.locator(".target", has_text="my hook").get_by_role(
            "button", name="Remove my hook"
        ).click()
        page.locator("#confirm-yes").click()
        expect(page.locator(".target", has_text="my hook")).to_have_count(0)
        assert api.get(f"/api/notifications/targets/{listed['id']}").status_code == 404
    finally:
        receiver.close()


def test_a_request_id_typed_in_the_logs_page_shows_its_lines_from_all_three_services(
    page: Page, stack: Stack, site: FakeChaturbate, api: httpx.Client
) -> None:
    site.add_room("logged", room_status="public", title="hello")
    request_id = "browser-logs-0001"
    looked = api.get("/api/model/logged/status", headers={"X-Request-ID": request_id})
    assert looked.status_code == 200, looked.text
    page.goto(f"{stack.base_url}/#/logs")
    page.get_by_label("Correlation id").fill(request_id)
    page.get_by_role("button", name="Show").click()
    lines = page.locator("#logs-lines .log-line")
    for service in ("gateway", "recorder", "resolver"):
        expect(lines.and_(page.locator(f'[data-service="{service}"]')).first).to_be_visible()
    texts = lines.locator(".log-cid").all_text_contents()
    assert texts and set(texts) == {request_id}
    # A line's correlation id is a link to all of that request's lines.
    lines.first.locator(".log-cid").click()
    expect(page).to_have_url(re.compile(f"#/logs\\?cid={request_id}$"))
    expect(page.locator("#logs-cid")).to_have_value(request_id)
    screenshot(page, "logs")
