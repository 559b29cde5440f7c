"""Filters, cooldowns and the queue cap as pure functions: tables of cases."""

from __future__ import annotations

import pytest

from recorder_service.notify.catalogue import Notification, common
from recorder_service.notify.rules import (
    Verdict,
    channel_matches,
    clean_channel_filters,
    clean_event_filters,
    cooldown_allows,
    cooldown_key,
    decide,
    event_matches,
)
from servicekit.errors import InvalidArgument


def note(kind: str = "channel.online", channel: str | None = "alice", **data) -> Notification:
    return Notification(kind, {**common(channel=channel), **data})


@pytest.mark.parametrize(
    ("patterns", "kind", "wanted"),
    [
        ((), "channel.online", True),
        (("*",), "recording.gap", True),
        (("channel.online",), "channel.online", True),
        (("channel.online",), "channel.offline", False),
        (("channel.*",), "channel.private", True),
        (("channel.*",), "recording.started", False),
        (("recording.*", "disk.low"), "disk.low", True),
        ((), "notification.test", False),  # only ever sent by hand
        (("*",), "notification.test", False),
    ],
)
def test_event_filters(patterns, kind, wanted) -> None:
    assert event_matches(patterns, kind) is wanted


@pytest.mark.parametrize(
    ("channels", "channel", "wanted"),
    [
        ((), "alice", True),
        (("alice",), "alice", True),
        (("alice",), "Alice", True),
        (("alice",), "bob", False),
        (("alice",), None, True),  # disk.low concerns every channel
    ],
)
def test_channel_filters(channels, channel, wanted) -> None:
    assert channel_matches(channels, channel) is wanted


@pytest.mark.parametrize(
    ("last", "now", "cooldown", "allowed"),
    [
        (None, 100.0, 300, True),  # never sent
        (90.0, 100.0, 0, True),  # no cooldown
        (90.0, 100.0, 300, False),
        (100.0 - 300, 100.0, 300, True),  # exactly the cooldown ago
        (100.0 - 299.9, 100.0, 300, False),
    ],
)
def test_cooldown(last, now, cooldown, allowed) -> None:
    assert cooldown_allows(last, now, cooldown) is allowed


@pytest.mark.parametrize(
    ("n", "key"),
    [
        (note("channel.online", "alice"), "channel.online:alice"),
        (note("channel.offline", "alice"), "channel.offline:alice"),
        (note("recording.gap", "bob"), "recording.gap:bob"),
        (
            Notification("site.blocked", {**common(channel="a", site="chaturbate")}),
            "site.blocked:chaturbate",
        ),
        (Notification("disk.low", {**common(), "level": "LOW"}), "disk.low:LOW"),
        (Notification("disk.low", {**common(), "level": "CRITICAL"}), "disk.low:CRITICAL"),
    ],
)
def test_cooldown_keys(n, key) -> None:
    assert cooldown_key(n) == key


@pytest.mark.parametrize(
    ("events", "channels", "cooldown", "limit", "last", "pending", "verdict"),
    [
        ((), (), 0, 10, None, 0, Verdict.SEND),
        (("recording.*",), (), 0, 10, None, 0, Verdict.FILTERED),
        ((), ("bob",), 0, 10, None, 0, Verdict.FILTERED),
        ((), (), 60, 10, 990.0, 0, Verdict.COOLDOWN),
        ((), (), 60, 10, 900.0, 0, Verdict.SEND),
        ((), (), 0, 10, None, 10, Verdict.OVERFLOW),
        ((), (), 0, 10, None, 9, Verdict.SEND),
        # A notification the cooldown holds back is not counted as overflow.
        ((), (), 60, 10, 990.0, 10, Verdict.COOLDOWN),
        # Nor one the filters drop.
        (("disk.low",), (), 0, 10, None, 10, Verdict.FILTERED),
    ],
)
def test_decide(events, channels, cooldown, limit, last, pending, verdict) -> None:
    got = decide(
        events=events,
        channels=channels,
        cooldown_s=cooldown,
        queue_limit=limit,
        notification=note(),
        last_sent=last,
        pending=pending,
        now=1000.0,
    )
    assert got is verdict


def test_event_filters_are_checked_against_the_catalogue() -> None:
    assert clean_event_filters(["recording.*", "channel.online", "channel.online"]) == (
        "channel.online",
        "recording.*",
    )
    for bad, reason in [
        ("channel.onlin", "UNKNOWN_EVENT_TYPE"),
        ("nosuch.*", "UNKNOWN_EVENT_TYPE"),
        ("recording", "INVALID_EVENT_FILTER"),
        ("re*", "INVALID_EVENT_FILTER"),
    ]:
        with pytest.raises(InvalidArgument) as caught:
            clean_event_filters([bad])
        assert caught.value.reason == reason


def test_channel_filters_are_usernames() -> None:
    assert clean_channel_filters(["Alice", "bob", "alice"]) == ("alice", "bob")
    with pytest.raises(InvalidArgument):
        clean_channel_filters(["../etc"])
