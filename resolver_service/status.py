"""Channel status: what a channel is doing, and a short-lived cache of the answers.

Upstream trouble is an availability here (RATE_LIMITED, BLOCKED, UPSTREAM_ERROR...), not an
exception: a batch of a thousand channels must still answer for the other 999, and "we could
not tell" must never read as "offline".
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

__all__ = [
    "Availability",
    "ChannelStatus",
    "StatusCache",
    "availability_for_room_status",
]


class Availability(enum.Enum):
    """Mirrors streamrec.v1.ChannelAvailability (without UNSPECIFIED)."""

    ONLINE = "ONLINE"
    OFFLINE = "OFFLINE"
    PRIVATE = "PRIVATE"
    GROUP_SHOW = "GROUP_SHOW"
    AWAY = "AWAY"
    HIDDEN = "HIDDEN"
    PASSWORD_PROTECTED = "PASSWORD_PROTECTED"
    GEO_RESTRICTED = "GEO_RESTRICTED"
    RATE_LIMITED = "RATE_LIMITED"
    BLOCKED = "BLOCKED"
    AGE_GATE = "AGE_GATE"
    NOT_FOUND = "NOT_FOUND"
    UPSTREAM_ERROR = "UPSTREAM_ERROR"

    @property
    def is_conclusive(self) -> bool:
        """True when asking the site another way would not help: it told us what the channel
        is doing, or told us to slow down (RATE_LIMITED)."""
        return self not in _INCONCLUSIVE


_INCONCLUSIVE = frozenset(
    {Availability.BLOCKED, Availability.AGE_GATE, Availability.UPSTREAM_ERROR}
)

# The site's room_status / current_show words (lower-cased).
_ROOM_STATUS = {
    "public": Availability.ONLINE,
    "offline": Availability.OFFLINE,
    "private": Availability.PRIVATE,
    "group": Availability.GROUP_SHOW,
    "away": Availability.AWAY,
    "hidden": Availability.HIDDEN,
    "password protected": Availability.PASSWORD_PROTECTED,
}


def availability_for_room_status(room_status: str) -> Availability | None:
    """The availability a site ``room_status`` means; None for a word we do not know."""
    return _ROOM_STATUS.get(room_status.strip().lower())


@dataclass(frozen=True)
class ChannelStatus:
    """One channel's status at ``checked_at``. ``method`` says how it was learnt."""

    target: str
    source: str
    availability: Availability
    checked_at: datetime
    room_status: str = ""
    viewers: int | None = None
    title: str = ""
    thumbnail_url: str = ""
    message: str = ""
    reason: str = ""
    method: str = ""
    retry_after: float | None = None

    @property
    def is_online(self) -> bool:
        return self.availability is Availability.ONLINE


def now_utc() -> datetime:
    return datetime.now(UTC)


Fetch = Callable[[], Awaitable[ChannelStatus]]


class StatusCache:
    """Answers kept for ``ttl`` seconds (a RATE_LIMITED one until its Retry-After), at most
    ``max_entries`` of them; concurrent questions about one channel share one lookup."""

    def __init__(
        self,
        ttl: float = 10.0,
        *,
        max_entries: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], tuple[float, ChannelStatus]] = OrderedDict()
        self._pending: dict[tuple[str, str], asyncio.Future[ChannelStatus]] = {}
        self.hits = 0
        self.misses = 0

    def get(self, source: str, target: str) -> ChannelStatus | None:
        """A fresh cached answer, or None."""
        key = (source, target)
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, status = entry
        now = self._clock()
        if now >= expires:
            del self._entries[key]
            return None
        if status.retry_after is not None:
            return replace(status, retry_after=min(status.retry_after, expires - now))
        return status

    def put(self, status: ChannelStatus) -> None:
        """Remember ``status`` (a no-op when the cache is disabled with ttl 0)."""
        if self.ttl <= 0:
            return
        ttl = self.ttl
        if status.availability is Availability.RATE_LIMITED and status.retry_after:
            ttl = max(ttl, status.retry_after)
        key = (status.source, status.target)
        self._entries[key] = (self._clock() + ttl, status)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def lookup(
        self, source: str, target: str, fetch: Fetch, *, skip_cache: bool = False
    ) -> ChannelStatus:
        """The cached answer, else the result of ``fetch()`` (shared with concurrent callers)."""
        key = (source, target)
        while not skip_cache:
            cached = self.get(source, target)
            if cached is not None:
                self.hits += 1
                return cached
            pending = self._pending.get(key)
            if pending is None:
                break
            self.hits += 1
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not pending.cancelled() or (task is not None and task.cancelling()):
                    raise
                # The caller that was asking went away: the first waiter to get here asks
                # again, the others join it.
        self.misses += 1
        future: asyncio.Future[ChannelStatus] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            status = await fetch()
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            elif not future.done():
                future.set_exception(exc)
                future.exception()  # mark retrieved: nobody else may be waiting
            raise
        finally:
            if self._pending.get(key) is future:
                del self._pending[key]
        self.put(status)
        future.set_result(status)
        return status
