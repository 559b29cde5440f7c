"""After ffmpeg ends: restart it (after how long, on which URL) or end the session (in which
state, for what reason).

An ffmpeg exit is never taken as "the stream ended" on its exit code alone (ffmpeg exits 0 on
a playlist 404): the resolver is asked, and its answer decides. While the channel is live,
ffmpeg is restarted after a capped exponential backoff, within a budget of restarts in a row
without media in between. A requested stop ends the session whatever ffmpeg did.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tenacity.wait import wait_base

from recorder_service.backoff import wait_before
from recorder_service.model import SessionState
from recorder_service.ports import ResolvedStream
from servicekit.errors import (
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from servicekit.redact import redact_text


@dataclass(frozen=True)
class Watchdog:
    """How a session is kept alive (see the module docs)."""

    stall_timeout: float = 20.0
    # Restarts in a row without media in between before the session fails.
    max_restarts: int = 10
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    # Up to this much is added to each wait (sessions that lost one CDN together spread out).
    backoff_jitter: float = 0.25
    # A "not found" from the resolver (a playlist 404) may be a burst: believed once it lasts.
    end_grace: float = 20.0


# -- how ffmpeg ended -------------------------------------------------------------------------


@dataclass(frozen=True)
class Exited:
    """ffmpeg exited by itself with ``code``."""

    code: int


@dataclass(frozen=True)
class Stalled:
    """ffmpeg made no progress for the stall timeout and was made to quit (``code``)."""

    code: int


@dataclass(frozen=True)
class StopRequested:
    """A stop was asked for (``reason``), whatever ffmpeg did meanwhile."""

    reason: str
    code: int


Ended = Exited | Stalled | StopRequested


def cause_of(ended: Exited | Stalled, stall_timeout: float) -> str:
    """What went wrong, for logs, events and a failed session's reason."""
    if isinstance(ended, Stalled):
        return f"ffmpeg stalled ({stall_timeout:.0f}s without progress)"
    return f"ffmpeg exited with code {ended.code}"


# -- what the resolver said about the room ----------------------------------------------------


@dataclass(frozen=True)
class Live:
    """The room resolved again (``stream.is_live`` False: it says the stream is over)."""

    stream: ResolvedStream


@dataclass(frozen=True)
class Offline:
    """The site says offline, private, away... (``reason``): authoritative."""

    reason: str


@dataclass(frozen=True)
class Missing:
    """Not found: a playlist 404 is how an HLS stream ends, and also how a CDN hiccups."""

    message: str


@dataclass(frozen=True)
class Refused:
    """The target itself is refused now: no restart can help."""

    message: str


@dataclass(frozen=True)
class NoAnswer:
    """Resolver down, rate-limited or the site failing: keep trying with what we have."""

    message: str


Answer = Live | Offline | Missing | Refused | NoAnswer


def answer_of(result: ResolvedStream | DomainError) -> Answer:
    """The resolver's answer from what ``reresolve`` returned or raised."""
    if isinstance(result, ResolvedStream):
        return Live(result)
    if isinstance(result, FailedPrecondition):
        return Offline(result.reason)
    if isinstance(result, NotFound):
        return Missing(result.message)
    if isinstance(result, InvalidArgument | PermissionDenied):
        return Refused(result.message)
    return NoAnswer(result.message)


# -- the decision -----------------------------------------------------------------------------


@dataclass(frozen=True)
class End:
    """The session ends in ``state`` for ``reason``."""

    state: SessionState
    reason: str


@dataclass(frozen=True)
class Restart:
    """Restart ffmpeg after ``after`` seconds on ``stream`` (None: as last resolved)."""

    after: float
    stream: ResolvedStream | None


@dataclass(frozen=True)
class Decision:
    """The outcome and the watchdog's counters after it: restarts in a row without media
    (this one included), when a "not found" was first seen, and whether this decision
    counts as one more restart of the session (it does once the resolver let it try)."""

    outcome: End | Restart
    in_a_row: int
    not_found_since: float | None
    counted: bool = False


STREAM_ENDED = "stream ended"


def decide(
    ended: Ended,
    answer: Answer | None,
    *,
    got_media: bool,
    in_a_row: int,
    not_found_since: float | None,
    now: float,
    watchdog: Watchdog,
    backoff: wait_base,
    last_words: str,
) -> Decision:
    """What to do once ffmpeg has ended. ``answer`` is the resolver's (None when it was not
    asked: a requested stop); ``got_media``: the attempt recorded media time (the restarts in
    a row start over); ``in_a_row`` and ``not_found_since`` as the previous decision left
    them; ``now`` in monotonic seconds."""
    if isinstance(ended, StopRequested):
        return Decision(End(SessionState.STOPPED, ended.reason), in_a_row, not_found_since)
    if got_media:
        in_a_row = 0
    cause = cause_of(ended, watchdog.stall_timeout)
    stream: ResolvedStream | None = None
    match answer:
        case Live(stream=resolved):
            if not resolved.is_live:
                return Decision(End(SessionState.STOPPED, STREAM_ENDED), in_a_row, None)
            stream, not_found_since = resolved, None
        case Offline():
            return Decision(End(SessionState.STOPPED, STREAM_ENDED), in_a_row, None)
        case Missing():
            first = not_found_since if not_found_since is not None else now
            if now - first >= watchdog.end_grace:
                return Decision(End(SessionState.STOPPED, STREAM_ENDED), in_a_row, first)
            not_found_since = first
        case Refused(message=message):
            return Decision(End(SessionState.FAILED, f"{cause}; {message}"), in_a_row, None)
        case NoAnswer() | None:
            pass
    in_a_row += 1
    if in_a_row > watchdog.max_restarts:
        reason = f"gave up after {in_a_row - 1} restarts without media: {cause} ({last_words})"
        return Decision(End(SessionState.FAILED, reason), in_a_row, not_found_since, True)
    return Decision(
        Restart(wait_before(backoff, in_a_row), stream), in_a_row, not_found_since, True
    )


def last_words(warnings: Iterable[str]) -> str:
    """ffmpeg's last three warnings or errors, for a reason that says what went wrong (CDN
    tokens in the URLs it names removed: the reason is stored and shown)."""
    return redact_text(" | ".join(list(warnings)[-3:])) or "no output"
