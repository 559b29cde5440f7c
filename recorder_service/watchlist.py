"""The watch list: channels to record, checked and kept in the store. No gRPC in here."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from recorder_service.ffmpeg_cmd import check_input_url
from recorder_service.ports import QualityWish
from recorder_service.store import Channel, Store
from servicekit.errors import InvalidArgument

USERNAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
SOURCES = ("auto", "hls", "chaturbate")
POLICIES = ("BEST", "EXACT", "CLOSEST", "HIGHEST_BELOW", "LOWEST_ABOVE")
# The fields a client may set, in UpdateChannel's field-mask spelling.
SETTABLE = (
    "target",
    "source_type",
    "name",
    "auto_record",
    "retention_days",
    "max_bytes",
    "max_count",
    "quality",
)
MAX_RETENTION_DAYS = 36_500
MAX_COUNT = 1_000_000
MAX_BYTES = 2**63 - 1  # what SQLite's INTEGER holds


def check_username(username: str) -> str:
    """The watch-list key: a Chaturbate-style name, stored lower case (the site is not case
    sensitive, and the name is also the recording folder)."""
    if not USERNAME.fullmatch(username or ""):
        raise InvalidArgument(
            "username must be 1 to 64 letters, digits or '_'",
            reason="INVALID_USERNAME",
            metadata={"field": "username"},
        )
    return username.lower()


def _bad(field: str, message: str) -> InvalidArgument:
    return InvalidArgument(message, reason="INVALID_CHANNEL", metadata={"field": field})


def _check(channel: Channel) -> Channel:
    """Every field of a channel about to be saved, checked; returns it normalized."""
    target = channel.target.strip()
    if target:
        if "://" in target:
            check_input_url(target)
            if channel.source_type == "chaturbate":
                raise _bad("target", "a chaturbate channel's target is its username, not a URL")
        elif not USERNAME.fullmatch(target):
            raise _bad("target", "target must be an http(s) playlist URL or a username")
        if len(target) > 2048:
            raise _bad("target", "target is too long (max 2048 characters)")
    if channel.source_type not in SOURCES:
        raise _bad("source_type", f"source_type must be one of {', '.join(SOURCES)}")
    if channel.source_type == "hls" and "://" not in target:
        raise _bad("target", "an hls channel needs an http(s) playlist URL as its target")
    name = channel.name.strip()
    if len(name) > 200 or any(unicodedata.category(c).startswith("C") for c in name):
        raise _bad("name", "name must be at most 200 printable characters")
    if not 0 <= channel.retention_days <= MAX_RETENTION_DAYS:
        raise _bad("retention_days", f"retention_days must be 0 to {MAX_RETENTION_DAYS}")
    if not 0 <= channel.max_bytes <= MAX_BYTES:
        raise _bad("max_bytes", f"max_bytes must be 0 to {MAX_BYTES}")
    if not 0 <= channel.max_count <= MAX_COUNT:
        raise _bad("max_count", f"max_count must be 0 to {MAX_COUNT}")
    q = channel.quality
    if q.policy not in POLICIES or not 0 <= q.height <= 10_000 or not 0 <= q.fps <= 1000:
        raise _bad("quality", "quality has an unknown policy or an out-of-range height or fps")
    return replace(channel, target=target, name=name)


class WatchList:
    """Create, read, update and delete watch-list channels."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def create(self, channel: Channel) -> Channel:
        """Add a channel; AlreadyExists when its username is taken."""
        now = datetime.now(UTC)
        saved = _check(
            replace(
                channel, username=check_username(channel.username), created_at=now, updated_at=now
            )
        )
        self._store.add_channel(saved)
        return saved

    def get(self, username: str) -> Channel:
        return self._store.get_channel(check_username(username))

    def page(self, offset: int = 0, limit: int | None = None) -> list[Channel]:
        return self._store.list_channels(offset, limit)

    def all(self) -> list[Channel]:
        return self._store.list_channels()

    def update(self, username: str, changes: Mapping[str, Any]) -> Channel:
        """Apply ``changes`` (field name -> new value, names from SETTABLE) to a channel."""
        unknown = set(changes) - set(SETTABLE)
        if unknown:
            raise InvalidArgument(
                f"cannot change {', '.join(sorted(unknown))}",
                reason="INVALID_UPDATE_MASK",
                metadata={"fields": ",".join(sorted(unknown))},
            )
        current = self.get(username)
        values = dict(changes)
        if "quality" in values and not isinstance(values["quality"], QualityWish):
            raise _bad("quality", "quality must be a quality preference")
        updated = _check(replace(current, **values, updated_at=datetime.now(UTC)))
        self._store.update_channel(updated)
        return updated

    def delete(self, username: str) -> None:
        self._store.delete_channel(check_username(username))
