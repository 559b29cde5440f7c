"""Notification services through Apprise: a local fake ntfy and a json:// sink receive the
short human text of each event, with the recording's still attached when there is one; what
went wrong is kept without the URL's secrets."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
from pathlib import Path

import pytest

from recorder_service.notify.apprise_sender import AppriseSender
from recorder_service.notify.catalogue import Notification, common
from recorder_service.notify.model import Message
from recorder_service.notify.thumbnails import Attachments
from simlab.fakes.receivers import FakeNtfy, JsonSink
from tests.recorder_service.notify.conftest import make_notifier

JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")


def message(kind: str, **data) -> Message:
    n = Notification(kind, {**common(channel="alice", site="chaturbate"), **data})
    return Message(n.id, n.type, n.time, n.body())


def target(store, url: str):
    return make_notifier(store).create({"kind": "apprise", "url": url})


@pytest.fixture
def ntfy():
    with FakeNtfy() as running:
        yield running


async def test_ntfy_gets_the_human_text(store, ntfy) -> None:
    sender = AppriseSender(timeout=5, threads=2)
    t = target(store, f"ntfy://127.0.0.1:{ntfy.port}/streamrec")
    attempt = await sender.send(
        t, message("channel.online", title="Sunday stream", viewers=42, availability="ONLINE")
    )
    assert attempt.ok, attempt.error
    (got,) = ntfy.messages
    assert got["topic"] == "streamrec"
    assert got["title"] == "alice is online"
    assert got["message"] == "alice is live on chaturbate\nSunday stream\n42 viewers"
    sender.close()


async def test_the_recordings_still_is_attached_where_one_exists(store, ntfy, tmp_path) -> None:
    folder = tmp_path / "records" / "alice"
    folder.mkdir(parents=True)
    (folder / "alice_1.mp4").write_bytes(b"media")
    (folder / "alice_1.poster.jpg").write_bytes(JPEG)
    sender = AppriseSender(timeout=5, threads=2, attachments=Attachments(tmp_path))
    t = target(store, f"ntfy://127.0.0.1:{ntfy.port}/streamrec")
    done = message(
        "recording.file_closed",
        file="records/alice/alice_1.mp4",
        mediaSeconds=3725,
        sizeBytes=3 * 2**30,
        completeness=0.998,
    )
    assert (await sender.send(t, done)).ok
    (got,) = ntfy.messages
    assert got["attachment"] == JPEG and got["filename"] == "alice_1.poster.jpg"
    assert got["title"] == "alice: file saved"
    assert got["message"] == "alice_1.mp4 (1:02:05, 3.0 GiB, 99.8 % complete)"
    # No poster: the text alone (a file event waits a moment for one being made).
    ntfy.messages.clear()
    assert (await sender.send(t, message("recording.gap", durationSeconds=4.5, cause="restart"))).ok
    assert ntfy.messages[0]["attachment"] is None
    sender.close()


async def test_json_gets_title_body_and_type(store) -> None:
    with JsonSink() as sink:
        sender = AppriseSender(timeout=5, threads=1)
        t = target(store, f"json://127.0.0.1:{sink.port}/notify")
        failed = message("recording.failed", reason="ffmpeg exited 1", mediaSeconds=60, bytes=2048)
        assert (await sender.send(t, failed)).ok
        (body,) = sink.bodies
        assert body["title"] == "alice: recording failed"
        assert body["message"].startswith("ffmpeg exited 1\n0:01:00, 2.0 KiB")
        assert body["type"] == "failure"
        sender.close()


async def test_json_carries_the_still_as_an_attachment(store, tmp_path) -> None:
    (tmp_path / "records" / "bo").mkdir(parents=True)
    (tmp_path / "records" / "bo" / "bo_1.poster.jpg").write_bytes(JPEG)
    with JsonSink() as sink:
        sender = AppriseSender(timeout=5, threads=1, attachments=Attachments(tmp_path))
        t = target(store, f"json://127.0.0.1:{sink.port}/notify")
        assert (
            await sender.send(t, message("recording.finished", files=["records/bo/bo_1.ts"]))
        ).ok
        (attached,) = sink.bodies[0]["attachments"]
        assert base64.b64decode(attached["base64"]) == JPEG
        sender.close()


async def test_a_failure_is_reported_without_the_urls_secrets(store) -> None:
    sender = AppriseSender(timeout=1, threads=1)
    url = "ntfys://streamrec:Sup3rS3cretPassw0rd@127.0.0.1:9/topicTok3nXYZ"
    t = target(store, url)
    # What the service's handlers (on the root logger) would write; pytest's caplog cannot
    # tell, it hooks Apprise's logger directly.
    seen = io.StringIO()
    handler = logging.StreamHandler(seen)
    root = logging.getLogger()
    root.addHandler(handler)
    level, root.level = root.level, logging.DEBUG
    try:
        attempt = await sender.send(t, message("disk.low", level="LOW"))
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    assert not attempt.ok and attempt.error
    for secret in ("Sup3rS3cretPassw0rd", "topicTok3nXYZ"):
        assert secret not in attempt.error
        assert secret not in seen.getvalue()  # Apprise's own lines never reach our handlers
    sender.close()


def test_every_type_has_a_short_text() -> None:
    from recorder_service.notify.catalogue import EVENT_TYPES
    from recorder_service.notify.texts import human_text

    for kind in EVENT_TYPES:
        title, body, level = human_text(kind, json.loads(message(kind).body)["data"])
        assert (
            title
            and body
            and len(title) <= 80
            and level in ("info", "success", "warning", "failure")
        )


async def test_attachments_stay_inside_the_recordings_and_thumbs(tmp_path: Path) -> None:
    (tmp_path / "records" / "a").mkdir(parents=True)
    (tmp_path / "thumbs").mkdir()
    (tmp_path / "thumbs" / "a.jpg").write_bytes(JPEG)
    (tmp_path / "secret.poster.jpg").write_bytes(JPEG)
    found = Attachments(tmp_path, poster_wait=0.3)
    assert await found("recording.file_closed", {"file": "records/a/x.ts"}) is None
    assert await found("recording.finished", {"file": "records/a/../../secret.ts"}) is None
    online = {"channel": "a", "thumbnailUrl": "http://site.example/ri/a.jpg"}
    assert await found("channel.online", online) == "http://site.example/ri/a.jpg"
    assert await found("channel.online", {"channel": "a"}) == str(tmp_path / "thumbs" / "a.jpg")
    assert await found(
        "channel.online", {"channel": "a", "thumbnailUrl": "file:///etc/passwd"}
    ) == str(tmp_path / "thumbs" / "a.jpg")


async def test_a_file_event_waits_for_the_poster_being_made(tmp_path: Path) -> None:
    folder = tmp_path / "records" / "b"
    folder.mkdir(parents=True)
    found = Attachments(tmp_path, poster_wait=5)

    async def make_later() -> None:
        await asyncio.sleep(0.5)
        (folder / "b_1.poster.jpg").write_bytes(JPEG)

    maker = asyncio.create_task(make_later())
    got = await found("recording.finished", {"file": "records/b/b_1.mp4"})
    await maker
    assert got == str(folder / "b_1.poster.jpg")
