"""GetChannelTimeline names a channel by key, by username and source, or by folder: the same
name on two sites has two timelines, each from its own folder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from recorder_service.sqlite_store import SqliteStore
from recorder_service.store import Channel, Recording, RecordingState
from recorder_service.system_servicer import SystemServicer
from servicekit.errors import NotFound
from streamrec.v1 import system_service_pb2

NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)
NO_RETENTION: Any = None  # the timeline does not use it


@pytest.fixture
def servicer(tmp_path):
    store = SqliteStore(tmp_path / "db.sqlite")
    for source, person in (("chaturbate", "alice"), ("othersite", "othersite-alice")):
        store.add_channel(
            Channel(username="alice", source=source, person=person, created_at=NOW, updated_at=NOW)
        )
        store.save_recording(
            Recording(
                person=person,
                file_name=f"{person}.ts",
                start_time=NOW - timedelta(hours=1),
                end_time=NOW - timedelta(minutes=30),
                state=RecordingState.COMPLETE,
                media_seconds=1800,
            )
        )
    yield SystemServicer(store, NO_RETENTION, processes=lambda: [], clock=lambda: NOW)
    store.close()


async def timeline(servicer, username: str, source: str = ""):
    request = system_service_pb2.GetChannelTimelineRequest(username=username, source=source)
    return await servicer.GetChannelTimeline(request, None)


async def test_each_site_has_its_own_timeline(servicer) -> None:
    mine = await timeline(servicer, "alice")
    by_key = await timeline(servicer, "othersite:alice")
    by_field = await timeline(servicer, "alice", "othersite")
    assert (mine.source, mine.person, mine.username) == ("chaturbate", "alice", "alice")
    assert [r.file_name for r in mine.recorded] == ["alice.ts"]
    assert by_key == by_field
    assert (by_key.source, by_key.person, by_key.username) == (
        "othersite",
        "othersite-alice",
        "alice",
    )
    assert [r.file_name for r in by_key.recorded] == ["othersite-alice.ts"]


async def test_a_plain_folder_has_a_timeline_without_a_source(servicer) -> None:
    folder = await timeline(servicer, "othersite-alice")
    assert (folder.source, folder.person) == ("", "othersite-alice")
    assert [r.file_name for r in folder.recorded] == ["othersite-alice.ts"]


async def test_a_site_channel_not_watched_is_not_found(servicer) -> None:
    with pytest.raises(NotFound):
        await timeline(servicer, "othersite:bob")
