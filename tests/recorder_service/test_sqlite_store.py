"""The SQLite store: every row round-trips, keys are enforced, and a kill -9 loses nothing
that was committed."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta

import pytest

from recorder_service.model import Session, SessionState, VariantInfo
from recorder_service.ports import QualityWish
from recorder_service.sqlite_store import SqliteStore
from recorder_service.store import Channel, GapRecord, Recording, RecordingState
from servicekit.errors import AlreadyExists, NotFound

T0 = datetime(2026, 11, 20, 22, 30, tzinfo=UTC)


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "streamrec.db")
    yield s
    s.close()


def channel(username="alice", **kw):
    return Channel(username=username, created_at=T0, updated_at=T0, **kw)


def session(session_id="s1", state=SessionState.RECORDING, start=T0, **kw):
    return Session(
        session_id=session_id,
        person="alice",
        name="Alice",
        target="alice",
        source_type="chaturbate",
        start_time=start,
        correlation_id="cid-1",
        preview_path=f"sessions/{session_id}/stream.m3u8",
        state=state,
        **kw,
    )


def recording(file_name="a.ts", start=T0, **kw):
    kw.setdefault("state", RecordingState.COMPLETE)
    return Recording(person="alice", file_name=file_name, start_time=start, **kw)


def test_channel_round_trips_every_field(store):
    c = channel(
        target="https://cdn.example/x.m3u8",
        source="hls",
        name="Alice",
        auto_record=True,
        retention_days=7,
        max_bytes=10**12,
        max_count=50,
        quality=QualityWish(height=720, policy="CLOSEST", fps=30.0, fallback=False),
    )
    store.add_channel(c)
    assert store.get_channel("hls", "alice") == c
    assert store.list_channels() == [c]
    assert store.count_channels() == 1


def test_a_second_channel_with_the_same_username_is_refused(store):
    store.add_channel(channel())
    with pytest.raises(AlreadyExists) as err:
        store.add_channel(channel(name="other"))
    assert err.value.reason == "CHANNEL_EXISTS"
    assert store.get_channel("chaturbate", "alice").name == ""


def test_unknown_channels_are_not_found_for_get_update_and_delete(store):
    for call in (
        lambda: store.get_channel("chaturbate", "bob"),
        lambda: store.update_channel(channel("bob")),
        lambda: store.delete_channel("chaturbate", "bob"),
    ):
        with pytest.raises(NotFound):
            call()


def test_channels_list_by_username_and_page(store):
    for name in ("carol", "alice", "bob"):
        store.add_channel(channel(name))
    assert [c.username for c in store.list_channels()] == ["alice", "bob", "carol"]
    assert [c.username for c in store.list_channels(offset=1, limit=1)] == ["bob"]


def test_the_same_name_on_two_sites_is_two_channels_in_two_folders(store):
    store.add_channel(channel(name="cb"))
    store.add_channel(channel(source="stripchat", person="stripchat-alice", name="sc"))
    assert store.get_channel("chaturbate", "alice").name == "cb"
    assert store.get_channel("stripchat", "alice").person == "stripchat-alice"
    assert [c.source for c in store.list_channels()] == ["chaturbate", "stripchat"]
    assert [c.key for c in store.list_channels(source="stripchat")] == ["stripchat:alice"]
    store.delete_channel("stripchat", "alice")
    assert [c.key for c in store.list_channels()] == ["alice"]


def test_two_channels_cannot_share_a_folder(store):
    store.add_channel(channel())
    with pytest.raises(AlreadyExists) as err:
        store.add_channel(channel(source="hls", target="http://cdn.example/a.m3u8"))
    assert err.value.reason == "CHANNEL_FOLDER_TAKEN"
    assert store.count_channels() == 1


def test_a_lookup_finds_the_exact_spelling_first_then_any_case(store):
    store.add_channel(channel("Alice", source="stripchat", person="stripchat-alice-1"))
    store.add_channel(channel("alice", source="stripchat", person="stripchat-alice-2"))
    store.add_channel(channel("bob"))
    assert store.get_channel("stripchat", "Alice").person == "stripchat-alice-1"
    assert store.get_channel("stripchat", "alice").person == "stripchat-alice-2"
    assert store.get_channel("chaturbate", "BOB").username == "bob"
    with pytest.raises(NotFound):
        store.get_channel("stripchat", "bob")


def test_update_and_delete_channel(store):
    store.add_channel(channel())
    store.update_channel(channel(auto_record=True, retention_days=3))
    assert store.get_channel("chaturbate", "alice").retention_days == 3
    store.delete_channel("chaturbate", "alice")
    assert store.list_channels() == []


def test_session_round_trips_every_field(store):
    s = session(
        end_time=T0 + timedelta(hours=1),
        record_paths=("records/alice/a.ts", "records/alice/a_p1.ts"),
        bytes_written=123,
        media_seconds=12.5,
        bitrate_kbps=2500.0,
        speed=1.01,
        last_progress_time=T0 + timedelta(minutes=59),
        variant=VariantInfo(width=1280, height=720, fps=30.0, bandwidth=2_500_000, codecs="avc1"),
        separate_audio=True,
        end_reason="stream ended",
        restarts=2,
        channel="alice",
    )
    store.save_session(s)
    assert store.get_session("s1") == s
    assert store.get_session("nope") is None


def test_sessions_newest_first_and_by_state(store):
    store.save_session(session("old", SessionState.STOPPED, T0))
    store.save_session(session("new", SessionState.RECORDING, T0 + timedelta(hours=1)))
    assert [s.session_id for s in store.list_sessions()] == ["new", "old"]
    running = store.sessions_in_states([SessionState.RECORDING, SessionState.STARTING])
    assert [s.session_id for s in running] == ["new"]
    store.save_session(session("new", SessionState.INTERRUPTED, T0 + timedelta(hours=1)))
    assert store.sessions_in_states([SessionState.RECORDING]) == []


def test_recordings_round_trip_list_newest_first_and_by_session(store):
    a = recording("a.ts", T0, session_id="s1", size_bytes=10, media_seconds=1.5)
    b = recording("b.ts", T0 + timedelta(hours=1), session_id="s1", part=1, pinned=True)
    other = Recording(person="bob", file_name="c.ts", start_time=T0, state=RecordingState.WRITING)
    for r in (a, b, other):
        store.save_recording(r)
    assert store.get_recording("alice", "a.ts") == a
    assert store.list_recordings("alice") == [b, a]
    assert len(store.list_recordings()) == 3
    assert store.recordings_of_session("s1") == [a, b]
    assert store.recordings_in_states([RecordingState.WRITING]) == [other]


def test_deleting_a_recording_drops_its_gaps(store):
    r = recording("a.ts")
    store.save_recording(r)
    store.add_gap(GapRecord("s1", r.path, T0, 2.0, "RESTART", "ffmpeg restarted"))
    assert [g.duration_s for g in store.gaps_of(r.path)] == [2.0]
    store.delete_recording("alice", "a.ts")
    store.delete_recording("alice", "a.ts")  # already gone: no error
    assert store.get_recording("alice", "a.ts") is None
    assert store.gaps_of(r.path) == []


def test_renaming_a_recording_moves_its_gaps(store):
    r = recording("a.ts")
    store.save_recording(r)
    store.add_gap(GapRecord("s1", r.path, T0, 2.0, "STALL"))
    moved = store.rename_recording(r, "a.mp4")
    assert moved.format == "mp4" and store.get_recording("alice", "a.ts") is None
    assert store.get_recording("alice", "a.mp4") == moved
    assert [g.cause for g in store.gaps_of("records/alice/a.mp4")] == ["STALL"]


def test_the_database_is_in_wal_mode_with_full_sync(store):
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_reopening_keeps_everything(tmp_path):
    first = SqliteStore(tmp_path / "db.sqlite")
    first.add_channel(channel())
    first.save_session(session())
    first.close()
    second = SqliteStore(tmp_path / "db.sqlite")
    try:
        assert store_counts(second) == (1, 1)
    finally:
        second.close()


def store_counts(s):
    return s.count_channels(), len(s.list_sessions())


_WRITER = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from recorder_service.sqlite_store import SqliteStore
    from recorder_service.store import Recording, RecordingState
    store = SqliteStore(__import__("pathlib").Path(sys.argv[1]))
    now = datetime.now(UTC)
    i = 0
    while True:
        store.save_recording(
            Recording(person="p", file_name=f"{i}.ts", start_time=now,
                      state=RecordingState.WRITING, size_bytes=i)
        )
        # Acknowledged only after the commit returned.
        sys.stdout.write(f"{i}\\n")
        sys.stdout.flush()
        i += 1
    """
)


@pytest.mark.parametrize("after_s", [0.05, 0.2, 0.5])
def test_kill_9_loses_no_committed_row(tmp_path, after_s):
    db = tmp_path / "db.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(db)],
        stdout=subprocess.PIPE,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the writer is up and committing
        assert first.strip() == b"0"
        time.sleep(after_s)
        os.kill(proc.pid, signal.SIGKILL)
        acked = [int(line) for line in [first, *proc.stdout.read().splitlines()] if line.strip()]
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    reopened = SqliteStore(db)
    try:
        stored = {int(r.file_name.removesuffix(".ts")) for r in reopened.list_recordings("p")}
    finally:
        reopened.close()
    assert acked, "the writer committed nothing before the kill"
    missing = set(acked) - stored
    assert not missing, f"{len(missing)} acknowledged rows lost"


def test_pruning_forgets_old_ended_sessions_only(store):
    store.save_session(session("old", SessionState.STOPPED, T0, end_time=T0 + timedelta(hours=1)))
    store.save_session(session("recent", SessionState.FAILED, T0, end_time=T0 + timedelta(days=30)))
    store.save_session(session("running", SessionState.RECORDING, T0 - timedelta(days=99)))
    assert store.prune_sessions(T0 + timedelta(days=1)) == 1
    assert {s.session_id for s in store.list_sessions()} == {"recent", "running"}


def test_availability_history_opens_with_the_state_before_the_window(store):
    from datetime import timedelta

    t = T0
    for minutes, availability in ((0, "OFFLINE"), (10, "ONLINE"), (30, "OFFLINE"), (50, "PRIVATE")):
        store.add_availability("alice", t + timedelta(minutes=minutes), availability)
    store.add_availability("bob", t, "ONLINE")
    window = store.availability_since("alice", t + timedelta(minutes=20))
    assert [(at - t, a) for at, a in window] == [
        (timedelta(minutes=10), "ONLINE"),
        (timedelta(minutes=30), "OFFLINE"),
        (timedelta(minutes=50), "PRIVATE"),
    ]
    # Pruning keeps each channel's latest state, however old.
    assert store.prune_availability(t + timedelta(minutes=40)) == 3
    assert [a for _, a in store.availability_since("alice", t)] == ["PRIVATE"]
    assert [a for _, a in store.availability_since("bob", t)] == ["ONLINE"]
