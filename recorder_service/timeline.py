"""A channel's timeline: when the site said what, when it was recorded, and where the gaps
were. Pure functions over what the store keeps; the clock is a parameter."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from recorder_service.store import GapRecord, Recording

DEFAULT_WINDOW = timedelta(days=7)
MAX_WINDOW = timedelta(days=31)
#: The store keeps availability changes this long (a little more than the longest window
#: the dashboard draws by default).
HISTORY_KEPT = timedelta(days=8)


class AvailabilityStore(Protocol):
    def add_availability(self, username: str, at: datetime, availability: str) -> None: ...

    def prune_availability(self, before: datetime) -> int: ...


@dataclass
class AvailabilitySpan:
    start: datetime
    end: datetime | None  # None: until now
    availability: str


@dataclass(frozen=True)
class RecordedSpan:
    start: datetime
    end: datetime | None  # None: still being written
    file_name: str
    session_id: str
    media_seconds: float


def window_start(now: datetime, since: datetime | None) -> datetime:
    """The window asked for, bounded: the default when unset, never more than 31 days, never
    after now."""
    if since is None:
        return now - DEFAULT_WINDOW
    return min(max(since, now - MAX_WINDOW), now)


def availability_spans(
    changes: Sequence[tuple[datetime, str]], since: datetime, now: datetime
) -> list[AvailabilitySpan]:
    """Spans from the changes (oldest first, led by the last one before the window), clipped to
    ``[since, now]``, consecutive equal states merged (a recorder restart notes the state again)."""
    spans: list[AvailabilitySpan] = []
    for i, (at, availability) in enumerate(changes):
        if at > now:
            break
        end = changes[i + 1][0] if i + 1 < len(changes) else None
        if end is not None and end <= since:
            continue
        if end is not None and end > now:
            end = None
        if spans and spans[-1].availability == availability:
            spans[-1].end = end
            continue
        spans.append(AvailabilitySpan(max(at, since), end, availability))
    return spans


def recorded_spans(
    recordings: Sequence[Recording], since: datetime, now: datetime
) -> list[RecordedSpan]:
    """The recordings that overlap the window, oldest first, clipped to it."""
    out = []
    for r in sorted(recordings, key=lambda r: (r.start_time, r.part)):
        end = r.end_time
        if (end or now) < since or r.start_time > now:
            continue
        out.append(
            RecordedSpan(max(r.start_time, since), end, r.file_name, r.session_id, r.media_seconds)
        )
    return out


def gaps_in_window(gaps: Sequence[GapRecord], since: datetime, now: datetime) -> list[GapRecord]:
    """The gaps that ended inside the window, in time order."""
    inside = [
        g
        for g in gaps
        if g.start_time + timedelta(seconds=g.duration_s) >= since and g.start_time <= now
    ]
    return sorted(inside, key=lambda g: g.start_time)


def completeness(media_seconds: float, gap_seconds: float) -> float:
    """Media over media plus gaps; 1.0 when there is nothing at all."""
    total = media_seconds + gap_seconds
    return 1.0 if total <= 0 else media_seconds / total


class AvailabilityHistory:
    """Keeps what the scheduler hears of each channel (an ``availability_listeners`` entry),
    forgetting changes older than :data:`HISTORY_KEPT` about once an hour."""

    PRUNE_EVERY = timedelta(hours=1)

    def __init__(
        self, store: AvailabilityStore, person_of: Callable[[str], str] = lambda key: key
    ) -> None:
        self._store = store
        # The scheduler names a channel by its key (``stripchat:alice``); the timeline is
        # read by recording folder (``stripchat-alice``).
        self._person_of = person_of
        self._pruned: datetime | None = None

    def note(self, key: str, _before: str, now_availability: str, at: datetime) -> None:
        self._store.add_availability(self._person_of(key), at, now_availability)
        if self._pruned is None or at - self._pruned >= self.PRUNE_EVERY:
            self._pruned = at
            self._store.prune_availability(at - HISTORY_KEPT)
