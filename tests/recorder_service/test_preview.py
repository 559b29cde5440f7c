"""PreviewManager's refusals and bookkeeping (the running preview is tested end to end in
tests/e2e/test_preview.py)."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from recorder_service.model import Session, SessionState
from recorder_service.preview import PreviewManager
from servicekit.errors import FailedPrecondition, NotFound, Unavailable


def session(**kw):
    base = Session(
        session_id="s1",
        person="p",
        name="p",
        target="t",
        source_type="hls",
        start_time=datetime.now(UTC),
        correlation_id="c",
        preview_path="sessions/s1/stream.m3u8",
    )
    return replace(base, **kw)


def manager(tmp_path, mode="on_demand", **sessions):
    def get(session_id):
        if session_id not in sessions:
            raise NotFound(f"no session {session_id!r}", reason="SESSION_NOT_FOUND")
        return sessions[session_id]

    return PreviewManager(ffmpeg="ffmpeg", output_dir=tmp_path, mode=mode, sessions=get)


async def test_nothing_recorded_yet_is_not_ready_and_starts_nothing(tmp_path):
    previews = manager(tmp_path, s1=session(state=SessionState.STARTING))
    with pytest.raises(Unavailable) as info:
        await previews.open("s1")
    assert info.value.reason == "PREVIEW_NOT_READY" and previews.running == 0
    # An empty first part is no better.
    (tmp_path / "records" / "p").mkdir(parents=True)
    (tmp_path / "records" / "p" / "a.ts").touch()
    previews = manager(tmp_path, s1=session(record_paths=("records/p/a.ts",)))
    with pytest.raises(Unavailable):
        await previews.open("s1")
    assert previews.running == 0


async def test_unknown_and_ended_sessions_are_not_found(tmp_path):
    previews = manager(tmp_path, s1=session(state=SessionState.STOPPED))
    with pytest.raises(NotFound) as info:
        await previews.open("nope")
    assert info.value.reason == "SESSION_NOT_FOUND"
    with pytest.raises(NotFound) as info:
        await previews.open("s1")
    assert info.value.reason == "PREVIEW_NOT_AVAILABLE"


async def test_off_refuses_and_always_serves_what_the_recording_ffmpeg_writes(tmp_path):
    with pytest.raises(FailedPrecondition) as info:
        await manager(tmp_path, "off", s1=session()).open("s1")
    assert info.value.reason == "PREVIEW_OFF"
    always = manager(tmp_path, "always", s1=session(state=SessionState.RECORDING))
    with pytest.raises(Unavailable):
        await always.open("s1")  # no segment written yet
    (tmp_path / "sessions" / "s1").mkdir(parents=True)
    (tmp_path / "sessions" / "s1" / "stream.m3u8").write_text("#EXTM3U\n")
    assert await always.open("s1") == ("sessions/s1/stream.m3u8", False)
    assert always.running == 0
