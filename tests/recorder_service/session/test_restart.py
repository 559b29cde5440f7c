"""After ffmpeg ends, restart or end: one row per branch of the decision."""

from __future__ import annotations

from typing import Any

import pytest

from recorder_service.backoff import restart_backoff
from recorder_service.model import SessionState
from recorder_service.ports import ResolvedStream
from recorder_service.session.restart import (
    Answer,
    Decision,
    End,
    Ended,
    Exited,
    Live,
    Missing,
    NoAnswer,
    Offline,
    Refused,
    Restart,
    Stalled,
    StopRequested,
    Watchdog,
    answer_of,
    cause_of,
    decide,
    last_words,
)
from servicekit.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
    UpstreamError,
)

WD = Watchdog(stall_timeout=20, max_restarts=3, backoff_initial=0.5, backoff_max=4, end_grace=20)
# Without jitter the backoff is exact: 0.5, 1, 2, 4, 4...
BACKOFF = restart_backoff(WD.backoff_initial, WD.backoff_max, 0.0)
LIVE = ResolvedStream(source_type="hls", media_url="https://cdn/new.m3u8")
OVER = ResolvedStream(source_type="hls", media_url="https://cdn/new.m3u8", is_live=False)
STOPPED, FAILED = SessionState.STOPPED, SessionState.FAILED
EXIT1 = "ffmpeg exited with code 1"


def _decide(ended: Ended, answer: Answer | None, **kw: Any) -> Decision:
    args: dict[str, Any] = {
        "got_media": False,
        "in_a_row": 0,
        "not_found_since": None,
        "now": 100.0,
        "watchdog": WD,
        "backoff": BACKOFF,
        "last_words": "Connection refused",
    }
    return decide(ended, answer, **(args | kw))


ROWS: list[tuple[str, Ended, Answer | None, dict[str, Any], Decision]] = [
    # A requested stop ends the session as stopped, whatever ffmpeg did; counters untouched.
    (
        "stop",
        StopRequested("stopped by request", 255),
        None,
        {"in_a_row": 2, "not_found_since": 90.0},
        Decision(End(STOPPED, "stopped by request"), 2, 90.0),
    ),
    (
        "stop during a stall",
        StopRequested("recorder shutting down", -9),
        None,
        {},
        Decision(End(STOPPED, "recorder shutting down"), 0, None),
    ),
    # The resolver says the room is still live: restart on its fresh URL, first backoff.
    ("exit, live", Exited(1), Live(LIVE), {}, Decision(Restart(0.5, LIVE), 1, None, True)),
    ("exit 0, live", Exited(0), Live(LIVE), {}, Decision(Restart(0.5, LIVE), 1, None, True)),
    ("stall, live", Stalled(-9), Live(LIVE), {}, Decision(Restart(0.5, LIVE), 1, None, True)),
    # The backoff doubles with each restart in a row, capped.
    (
        "second in a row",
        Exited(1),
        Live(LIVE),
        {"in_a_row": 1},
        Decision(Restart(1.0, LIVE), 2, None, True),
    ),
    (
        "third in a row",
        Exited(1),
        Live(LIVE),
        {"in_a_row": 2},
        Decision(Restart(2.0, LIVE), 3, None, True),
    ),
    # Media recorded since the last restart: the count in a row starts over.
    (
        "media since",
        Exited(1),
        Live(LIVE),
        {"in_a_row": 3, "got_media": True},
        Decision(Restart(0.5, LIVE), 1, None, True),
    ),
    # A live answer clears a "not found" seen before.
    (
        "live after not found",
        Exited(1),
        Live(LIVE),
        {"not_found_since": 95.0},
        Decision(Restart(0.5, LIVE), 1, None, True),
    ),
    # The budget spent: failed, with ffmpeg's last words; the restart given up on counts.
    (
        "budget spent",
        Exited(1),
        Live(LIVE),
        {"in_a_row": 3},
        Decision(
            End(FAILED, f"gave up after 3 restarts without media: {EXIT1} (Connection refused)"),
            4,
            None,
            True,
        ),
    ),
    (
        "budget spent by stalls",
        Stalled(-9),
        NoAnswer("resolver down"),
        {"in_a_row": 3},
        Decision(
            End(
                FAILED,
                "gave up after 3 restarts without media: ffmpeg stalled (20s without progress)"
                " (Connection refused)",
            ),
            4,
            None,
            True,
        ),
    ),
    # The resolver says the stream is over.
    ("not live", Exited(0), Live(OVER), {}, Decision(End(STOPPED, "stream ended"), 0, None)),
    ("offline", Exited(0), Offline("OFFLINE"), {}, Decision(End(STOPPED, "stream ended"), 0, None)),
    (
        "offline clears not found",
        Stalled(-9),
        Offline("PRIVATE"),
        {"not_found_since": 95.0, "in_a_row": 2},
        Decision(End(STOPPED, "stream ended"), 2, None),
    ),
    # Not found: a burst first (restart as last resolved), believed once it lasts end_grace.
    (
        "not found, first",
        Exited(0),
        Missing("404"),
        {},
        Decision(Restart(0.5, None), 1, 100.0, True),
    ),
    (
        "not found, within grace",
        Exited(0),
        Missing("404"),
        {"not_found_since": 81.0, "in_a_row": 1},
        Decision(Restart(1.0, None), 2, 81.0, True),
    ),
    (
        "not found, grace over",
        Exited(0),
        Missing("404"),
        {"not_found_since": 80.0, "in_a_row": 1},
        Decision(End(STOPPED, "stream ended"), 1, 80.0),
    ),
    # Refused targets fail at once, with the cause and the resolver's message.
    (
        "refused",
        Exited(1),
        Refused("not allowed"),
        {},
        Decision(End(FAILED, f"{EXIT1}; not allowed"), 0, None),
    ),
    (
        "refused after a stall",
        Stalled(-9),
        Refused("bad target"),
        {"not_found_since": 95.0},
        Decision(End(FAILED, "ffmpeg stalled (20s without progress); bad target"), 0, None),
    ),
    # No answer (resolver down): restart as last resolved; a "not found" seen before stays.
    (
        "no answer",
        Exited(1),
        NoAnswer("resolver down"),
        {},
        Decision(Restart(0.5, None), 1, None, True),
    ),
    (
        "no answer keeps not found",
        Exited(1),
        NoAnswer("rate limited"),
        {"not_found_since": 95.0},
        Decision(Restart(0.5, None), 1, 95.0, True),
    ),
]


@pytest.mark.parametrize(
    ("ended", "answer", "kw", "expected"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
def test_decide(
    ended: Ended, answer: Answer | None, kw: dict[str, Any], expected: Decision
) -> None:
    assert _decide(ended, answer, **kw) == expected


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (LIVE, Live(LIVE)),
        (FailedPrecondition("offline", reason="OFFLINE"), Offline("OFFLINE")),
        (NotFound("playlist 404"), Missing("playlist 404")),
        (InvalidArgument("bad target"), Refused("bad target")),
        (PermissionDenied("geo-blocked"), Refused("geo-blocked")),
        (Unavailable("resolver down"), NoAnswer("resolver down")),
        (UpstreamError("site failing"), NoAnswer("site failing")),
    ],
)
def test_answer_of(result: Any, expected: Answer) -> None:
    assert answer_of(result) == expected


def test_cause_of() -> None:
    assert cause_of(Exited(1), 20) == EXIT1
    assert cause_of(Stalled(-9), 12.4) == "ffmpeg stalled (12s without progress)"


@pytest.mark.parametrize(
    ("warnings", "expected"),
    [
        ([], "no output"),
        (["a"], "a"),
        (["a", "b", "c", "d"], "b | c | d"),
        (
            ["GET https://cdn/x.ts?token=secret failed"],
            "GET https://cdn/x.ts?token=[REDACTED] failed",
        ),
    ],
)
def test_last_words(warnings: list[str], expected: str) -> None:
    assert last_words(warnings) == expected
