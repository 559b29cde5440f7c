"""The watch list across sites in a real browser: the real gateway process (and its built
dashboard) in front of the fake recorder of the gateway tests, whose watch list is keyed by
(site, username) as the recorder's is. A site badge on each card, a site filter, an add form
that takes a site (or site:user), links and API calls by the channel's key."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from grpc import aio
from playwright.sync_api import Page, expect

from servicekit.grpc_server import build_server
from simlab.harness import Stack, wait_for
from streamrec.v1 import channel_service_pb2 as ch
from streamrec.v1 import channel_service_pb2_grpc as ch_grpc
from streamrec.v1 import recorder_service_pb2, recorder_service_pb2_grpc
from tests.browser.conftest import screenshot
from tests.cli.conftest import FakeRecorder, WatchScript
from tests.gateway.fake_recorder import FakeChannels

pytestmark = pytest.mark.e2e


class FakeBackend:
    """The fake ChannelService and RecorderService on loopback, served by an event loop in a
    thread of their own (the browser test drives Playwright's sync API in this one)."""

    def __init__(self) -> None:
        self.channels = FakeChannels()
        snapshot = recorder_service_pb2.WatchSessionsResponse(
            snapshot=recorder_service_pb2.SessionSnapshot(sequence=1)
        )
        self.recorder = FakeRecorder(watch=[WatchScript([snapshot]) for _ in range(50)])
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> FakeBackend:
        self._thread.start()

        def register(server: aio.Server) -> None:
            ch_grpc.add_ChannelServiceServicer_to_server(self.channels, server)
            recorder_service_pb2_grpc.add_RecorderServiceServicer_to_server(self.recorder, server)

        async def serve() -> Any:
            app = build_server(
                register,
                ["streamrec.v1.ChannelService", "streamrec.v1.RecorderService"],
                host="127.0.0.1",
                port=0,
            )
            await app.server.start()
            return app

        self.app = asyncio.run_coroutine_threadsafe(serve(), self.loop).result(10)
        self.port = self.app.port
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.app.server.stop(0), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="module")
def backend() -> Iterator[FakeBackend]:
    fake = FakeBackend().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, backend: FakeBackend) -> Iterator[Stack]:
    """The real gateway process alone, its RECORDER_ADDR on the fake."""
    work: Path = tmp_path_factory.mktemp("sites")
    stack = Stack(work, env_extra={"RECORDER_ADDR": f"127.0.0.1:{backend.port}"})
    (stack.output_dir / "records").mkdir(parents=True)
    try:
        stack.start_service("gateway")
        stack.wait_http_ready()
        yield stack
    finally:
        stack.stop()


def card(page: Page, key: str) -> Any:
    return page.locator(f'.card[data-key="{key}"]')


def test_two_sites_badges_filter_add_links_and_remove(
    page: Page, gateway: Stack, backend: FakeBackend
) -> None:
    fake = backend.channels
    fake.channels.clear()
    fake.add(ch.Channel(username="alice", auto_record=True))
    fake.add(ch.Channel(username="alice", source="stripchat", auto_record=True))
    fake.add(ch.Channel(username="bob", source="cam4", auto_record=True))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))

    page.goto(gateway.base_url + "/")
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    # The same name on two sites is two cards, each with its site as a badge.
    for key, site in (
        ("alice", "chaturbate"),
        ("stripchat:alice", "stripchat"),
        ("cam4:bob", "cam4"),
    ):
        expect(card(page, key).locator(".site")).to_have_text(site)
    expect(card(page, "stripchat:alice").locator("a.name")).to_have_attribute(
        "href", "https://stripchat.com/alice"
    )
    screenshot(page, "sites-grid")

    # The site filter offers the watch list's sites and keeps one site's cards.
    site_filter = page.get_by_role("combobox", name="Site")
    site_filter.select_option("stripchat")
    expect(page.locator(".card:visible")).to_have_count(1)
    expect(card(page, "stripchat:alice")).to_be_visible()
    site_filter.select_option("cam4")
    expect(page.locator(".card:visible")).to_have_count(1)
    site_filter.select_option("")
    expect(page.locator(".card:visible")).to_have_count(3)

    # The add form: plain names on the chosen site, site:user and room links name their own.
    page.get_by_role("button", name="Add channels").click()
    page.get_by_label("Usernames or links, one or more per line").fill(
        "carol\ncam4:dave\nhttps://chaturbate.com/Erin/\nbad/name"
    )
    page.get_by_label("Site of plain usernames").select_option("stripchat")
    page.locator("#add-form").get_by_role("button", name="Add").click()
    expect(page.locator("#add-report")).to_contain_text("bad/name")
    page.locator("#add-cancel").click()
    for key in ("stripchat:carol", "cam4:dave", "erin"):
        expect(card(page, key)).to_be_visible()
    assert {("stripchat", "carol"), ("cam4", "dave"), ("chaturbate", "erin")} <= set(fake.channels)
    expect(card(page, "stripchat:carol").locator(".site")).to_have_text("stripchat")

    # Editing reaches that site's channel, not the default site's of the same name.
    fake.add(ch.Channel(username="carol", auto_record=True))
    card(page, "stripchat:carol").get_by_role("button", name="Edit stripchat:carol").click()
    page.locator("#edit-retention").fill("9")
    page.locator("#edit-form").get_by_role("button", name="Save").click()
    expect(page.locator("#dlg-edit")).not_to_be_visible()
    assert fake.channels[("stripchat", "carol")].retention_days == 9
    assert fake.channels[("chaturbate", "carol")].retention_days == 0

    # Start now: that site's username, the folder left to the recorder (records/<site>-<user>/).
    card(page, "stripchat:carol").get_by_role(
        "button", name="Start recording stripchat:carol now"
    ).click()
    started = wait_for(
        "a start",
        lambda: [r for m, r, _ in backend.recorder.calls if m == "StartRecording"],
        timeout=10,
    )
    assert [(r.source, r.target, r.person) for r in started] == [("stripchat", "carol", "")]

    # A channel's page is reached by its key, and its recordings are those of its own folder.
    card(page, "stripchat:alice").get_by_role(
        "button", name="Timeline and details of stripchat:alice"
    ).click()
    expect(page).to_have_url(f"{gateway.base_url}/#/channel/stripchat%3Aalice")
    expect(page.locator("#view-channel")).to_be_visible()
    page.go_back()
    expect(card(page, "alice")).to_be_visible()
    asked = [u.removeprefix(gateway.base_url) for u in requests]
    assert "/api/recordings/stripchat-alice" in asked, asked
    assert any(u.startswith("/api/models/stripchat%3Aalice/timeline") for u in asked), asked
    expect(card(page, "stripchat:alice").locator("img.thumb-img")).to_have_attribute(
        "src", re.compile(r"^/api/models/stripchat%3Aalice/thumbnail\?t=\d+$")
    )

    # Removing one site's alice leaves the other's.
    card(page, "stripchat:alice").get_by_role(
        "button", name="Remove stripchat:alice from the watch list"
    ).click()
    page.locator("#confirm-yes").click()
    expect(card(page, "stripchat:alice")).to_have_count(0)
    expect(card(page, "alice")).to_be_visible()
    assert ("stripchat", "alice") not in fake.channels
    assert ("chaturbate", "alice") in fake.channels
    deletes = [c.request for c in fake.seen.calls if c.method == "DeleteChannel"]
    assert [(d.source, d.username) for d in deletes] == [("stripchat", "alice")]


def test_the_site_filter_is_remembered(page: Page, gateway: Stack, backend: FakeBackend) -> None:
    backend.channels.channels.clear()
    backend.channels.add(ch.Channel(username="zoe", source="bongacams", auto_record=True))
    backend.channels.add(ch.Channel(username="yan", auto_record=True))
    page.goto(gateway.base_url + "/")
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    page.get_by_role("combobox", name="Site").select_option("bongacams")
    page.reload()
    expect(page.get_by_role("combobox", name="Site")).to_have_value("bongacams")
    expect(page.locator(".card:visible")).to_have_count(1)
    expect(card(page, "bongacams:zoe")).to_be_visible()
    with httpx.Client(base_url=gateway.base_url) as http:
        listed = http.get("/api/models", params={"site": "bongacams"}).json()
    assert [c["key"] for c in listed] == ["bongacams:zoe"]
