"""Which manual sessions a recorder restart picks up again (recorder_service/resume.py)."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from recorder_service.model import Session, SessionState
from recorder_service.resume import SHUTDOWN_REASON, resumable

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SPEC = {
    "target": "https://cdn/x.m3u8?token=secret",
    "source_type": "auto",
    "name": "",
    "quality": {},
}


def session(sid, person="anna", **kw):
    base = Session(
        session_id=sid,
        person=person,
        name=person,
        target="https://cdn/x.m3u8?token=***",
        source_type="hls",
        start_time=NOW - timedelta(hours=1),
        correlation_id="c",
        preview_path=f"sessions/{sid}/stream.m3u8",
        resume=SPEC,
    )
    return replace(base, **kw)


def stopped(sid, ago_s, reason=SHUTDOWN_REASON, **kw):
    return session(
        sid,
        state=SessionState.STOPPED,
        end_reason=reason,
        end_time=NOW - timedelta(seconds=ago_s),
        **kw,
    )


def test_sessions_a_shutdown_or_a_crash_cut_short_are_picked():
    crashed = session(
        "b", "bob", state=SessionState.INTERRUPTED, end_time=NOW - timedelta(seconds=30)
    )
    picked = resumable([stopped("a", 20), crashed], NOW, 600)
    assert [s.session_id for s in picked] == ["a", "b"]


def test_user_stops_ended_streams_watch_list_sessions_and_old_ones_are_not():
    sessions = [
        stopped("user", 20, reason="stopped by request"),
        stopped("ended", 20, reason="stream ended"),
        session("failed", state=SessionState.FAILED, end_time=NOW),
        stopped("auto", 20, person="carl", channel="carl"),
        stopped("resumed", 20, person="dora", resume=None),
        stopped("old", 3600, person="erin"),
        session(
            "oldcrash",
            "fay",
            state=SessionState.INTERRUPTED,
            end_time=NOW - timedelta(hours=2),
        ),
        session("running", "gus", state=SessionState.RECORDING),
    ]
    assert resumable(sessions, NOW, 600) == []
    assert resumable([stopped("a", 20)], NOW, 0) == []  # RESUME_WINDOW=0 turns it off


def test_one_resume_per_person_its_latest_session():
    older = stopped("a1", 30, start_time=NOW - timedelta(hours=2))
    newer = stopped("a2", 20, start_time=NOW - timedelta(minutes=5))
    assert [s.session_id for s in resumable([newer, older], NOW, 600)] == ["a2"]


def test_the_unredacted_target_never_shows_in_a_repr():
    assert "secret" not in repr(session("a"))
