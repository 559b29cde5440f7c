"""What a target gets: event filters, channel filters, cooldowns and the queue cap. Pure
functions (the clock and the counts are parameters), tested as tables."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence

from recorder_service.notify.catalogue import EVENT_TYPES, Notification
from servicekit.errors import InvalidArgument

_PATTERN = re.compile(r"^(\*|[a-z_]+\.\*|[a-z_]+\.[a-z_]+)$")
_CHANNEL = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_FILTERS = 100


class Verdict(enum.Enum):
    SEND = "send"
    FILTERED = "filtered"  # not an event type or channel the target wants
    COOLDOWN = "cooldown"  # the same key was sent less than the cooldown ago
    OVERFLOW = "overflow"  # the target's queue is full


def event_matches(patterns: Sequence[str], event_type: str) -> bool:
    """No pattern: every type. Else an exact type, ``prefix.*`` or ``*``. The test event is
    sent by hand only, never through filters."""
    if event_type == "notification.test":
        return False
    if not patterns:
        return True
    family = event_type.split(".", 1)[0] + ".*"
    return any(p in ("*", event_type, family) for p in patterns)


def channel_matches(channels: Sequence[str], channel: str | None) -> bool:
    """No channel filter: every channel. An event about no channel (disk.low) passes any
    channel filter: it concerns every channel."""
    if not channels or channel is None:
        return True
    return channel.lower() in channels


def cooldown_key(n: Notification) -> str:
    """What a cooldown counts: the type and the channel (for site.blocked, the site; for
    disk.low, the level, so that CRITICAL after LOW still gets through)."""
    if n.type == "site.blocked":
        return f"{n.type}:{n.data.get('site') or ''}"
    if n.type == "disk.low":
        return f"{n.type}:{n.data.get('level') or ''}"
    return f"{n.type}:{n.channel or ''}"


def cooldown_allows(last_sent: float | None, now: float, cooldown_s: float) -> bool:
    """True when nothing with this key was sent within the last ``cooldown_s`` seconds."""
    return cooldown_s <= 0 or last_sent is None or now - last_sent >= cooldown_s


def decide(
    *,
    events: Sequence[str],
    channels: Sequence[str],
    cooldown_s: float,
    queue_limit: int,
    notification: Notification,
    last_sent: float | None,
    pending: int,
    now: float,
) -> Verdict:
    """Whether one target gets one notification, in this order: filters, cooldown, queue cap
    (a notification that would not have been sent does not count as overflow)."""
    if not event_matches(events, notification.type):
        return Verdict.FILTERED
    if not channel_matches(channels, notification.channel):
        return Verdict.FILTERED
    if not cooldown_allows(last_sent, now, cooldown_s):
        return Verdict.COOLDOWN
    if queue_limit > 0 and pending >= queue_limit:
        return Verdict.OVERFLOW
    return Verdict.SEND


def clean_event_filters(patterns: Iterable[str]) -> tuple[str, ...]:
    """Validated, de-duplicated, sorted patterns; InvalidArgument names the first bad one."""
    out = set()
    for raw in patterns:
        p = raw.strip()
        if not _PATTERN.match(p):
            raise InvalidArgument(
                f"event filter {raw!r} is not a type, 'family.*' or '*'",
                reason="INVALID_EVENT_FILTER",
            )
        family = p.split(".", 1)[0]
        known = p == "*" or (
            p in EVENT_TYPES
            if not p.endswith(".*")
            else any(t.startswith(family + ".") for t in EVENT_TYPES)
        )
        if not known:
            raise InvalidArgument(
                f"event filter {raw!r} matches no type in the catalogue",
                reason="UNKNOWN_EVENT_TYPE",
            )
        out.add(p)
    if len(out) > MAX_FILTERS:
        raise InvalidArgument(f"at most {MAX_FILTERS} event filters", reason="TOO_MANY_FILTERS")
    return tuple(sorted(out))


def clean_channel_filters(channels: Iterable[str]) -> tuple[str, ...]:
    """Usernames (recording folders), lower case, de-duplicated, sorted."""
    out = set()
    for raw in channels:
        c = raw.strip()
        if not _CHANNEL.match(c):
            raise InvalidArgument(
                f"channel filter {raw!r} is not a username", reason="INVALID_CHANNEL_FILTER"
            )
        out.add(c.lower())
    if len(out) > MAX_FILTERS:
        raise InvalidArgument(f"at most {MAX_FILTERS} channel filters", reason="TOO_MANY_FILTERS")
    return tuple(sorted(out))
