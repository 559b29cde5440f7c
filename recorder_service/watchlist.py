"""The watch list: channels to record, checked and kept in the store. No gRPC in here.

A channel is (source, username): ``alice`` on the default site and ``stripchat:alice`` are two
channels, recording into two folders (``records/alice/``, ``records/stripchat-alice/``). The
resolver decides a new channel's source, canonical username and folder (``identify``); the
watch list checks what it is given again and keeps it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from recorder_service.ffmpeg_cmd import check_input_url
from recorder_service.paths import validate_person
from recorder_service.ports import Classifier, QualityWish
from recorder_service.recordings import check_person
from recorder_service.store import DEFAULT_SOURCE, Channel, Store
from servicekit.errors import InvalidArgument, NotFound

# A name on the default site, and the name of a playlist (hls) channel.
USERNAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
# What any site's canonical username may be (the resolver checked it against the site's own
# rule; checked again here because it becomes part of a key and a folder).
SITE_USERNAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SOURCE_NAME = re.compile(r"^[a-z][a-z0-9]{1,31}$")
HLS = "hls"
POLICIES = ("BEST", "EXACT", "CLOSEST", "HIGHEST_BELOW", "LOWEST_ABOVE")
# The fields a client may set, in UpdateChannel's field-mask spelling. "source_type" (the
# deprecated enum) is accepted when it names the channel's own source: a source never changes.
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
    """A default-site (or playlist channel) name, lower case (the site is not case
    sensitive, and the name is also the recording folder)."""
    if not USERNAME.fullmatch(username or ""):
        raise InvalidArgument(
            "username must be 1 to 64 letters, digits or '_'",
            reason="INVALID_USERNAME",
            metadata={"field": "username"},
        )
    return username.lower()


def check_source(source: str) -> str:
    if not SOURCE_NAME.fullmatch(source):
        raise InvalidArgument(
            f"{source!r} is no source name",
            reason="UNKNOWN_SOURCE_TYPE",
            metadata={"field": "source"},
        )
    return source


def parse_key(username: str, source: str = "") -> tuple[str, str]:
    """(source, username) of a reference to a channel: ``stripchat:alice``, ``alice`` with
    ``source`` given, or a bare ``alice`` (the default site). InvalidArgument for a malformed
    one, or a ``source:`` prefix that contradicts ``source``."""
    text = (username or "").strip()
    prefix, sep, rest = text.partition(":")
    if sep:
        prefix = prefix.lower()
        if source and source != prefix:
            raise InvalidArgument(
                f"{text!r} names the source {prefix!r}, the request {source!r}",
                reason="SOURCE_MISMATCH",
            )
        source, text = prefix, rest
    source = check_source(source or DEFAULT_SOURCE)
    if not SITE_USERNAME.fullmatch(text):
        raise InvalidArgument(
            "username must be 1 to 64 letters, digits, '_' or '-'",
            reason="INVALID_USERNAME",
            metadata={"field": "username"},
        )
    return source, text


def _bad(field: str, message: str) -> InvalidArgument:
    return InvalidArgument(message, reason="INVALID_CHANNEL", metadata={"field": field})


def check_settings(channel: Channel) -> Channel:
    """The fields of a channel other than its identity, checked; returns it normalized."""
    target = channel.target.strip()
    if target:
        if len(target) > 2048:
            raise _bad("target", "target is too long (max 2048 characters)")
        if "://" in target:
            check_input_url(target)
        elif not USERNAME.fullmatch(target):
            raise _bad("target", "target must be an http(s) playlist URL or a username")
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


def _check(channel: Channel) -> Channel:
    """Every field of a channel about to be saved, checked; returns it normalized."""
    checked = check_settings(channel)
    check_source(channel.source)
    if channel.source == HLS:
        check_username(channel.username)
        if "://" not in checked.target:
            raise _bad("target", "an hls channel needs an http(s) playlist URL as its target")
    else:
        parse_key(channel.username, channel.source)
        if "://" in checked.target:
            raise _bad("target", "a site channel's target is its username, not a URL")
    validate_person(channel.person)
    return checked


@dataclass(frozen=True)
class Identity:
    """Who a new channel is: its source, its username there and its recording folder."""

    source: str
    username: str
    person: str


async def identify(classifier: Classifier, username: str, target: str, source: str) -> Identity:
    """Ask the resolver (which owns the rules) what a new channel is.

    A playlist URL target makes a playlist channel named ``username`` (its folder too); a
    site's room URL, or ``username`` itself (``stripchat:alice``, or ``alice`` with
    ``source``, or a bare name for the default site), makes that site's channel in the folder
    the resolver names. ``source`` "" lets the target's shape decide."""
    username, target = username.strip(), target.strip()
    if source == HLS and "://" not in target:
        raise _bad("target", "an hls channel needs an http(s) playlist URL as its target")
    if "://" in target:
        check_input_url(target)  # before any call: file:, concat: and the like never leave here
        found = await classifier.classify_target(target, source)
        if found.source == HLS:
            name = check_username(username)
            return Identity(HLS, name, name)
        if username and parse_key(username, found.source)[1].lower() != found.username.lower():
            raise _bad("username", "the username and the room URL name two channels")
    else:
        parse_key(username, source)  # a malformed name never leaves here
        found = await classifier.classify_target(username, source)
    if found.source == HLS or not found.username:
        raise _bad("target", "an hls channel needs an http(s) playlist URL as its target")
    _, name = parse_key(found.username, found.source)  # the resolver's answer, checked again
    return Identity(check_source(found.source), name, validate_person(found.person))


class WatchList:
    """Create, read, update and delete watch-list channels."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def create(self, channel: Channel) -> Channel:
        """Add a channel whose identity is decided (see ``identify``); AlreadyExists when
        (source, username) or its folder is taken."""
        now = datetime.now(UTC)
        username = channel.username.strip()
        if channel.source in (DEFAULT_SOURCE, HLS):
            username = check_username(username)
        saved = _check(
            replace(
                channel,
                username=username,
                person=channel.person if channel.person != channel.username else username,
                created_at=now,
                updated_at=now,
            )
        )
        self._store.add_channel(saved)
        return saved

    def get(self, username: str, source: str = "") -> Channel:
        """The channel ``username`` names (``stripchat:alice``, or with ``source``). A bare
        name with no source is the default site's, or else a playlist channel's (as keys were
        before channels had sources)."""
        site, name = parse_key(username, source)
        try:
            return self._store.get_channel(site, name)
        except NotFound:
            bare = not source and ":" not in username
            if bare and USERNAME.fullmatch(name):
                return self._store.get_channel(HLS, name)
            raise

    def locate(self, username: str, source: str = "") -> tuple[Channel | None, str]:
        """The watched channel a request names and its recording folder. With a source
        (``stripchat:alice``, or the field) it must be watched (NotFound otherwise); a bare
        name is a watched channel's, else any recording folder (channel None)."""
        if source or ":" in username:
            channel = self.get(username, source)
            return channel, channel.person
        person = check_person(username)
        try:
            channel = self.get(person)
        except (NotFound, InvalidArgument):
            return None, person
        return channel, channel.person

    def page(self, offset: int = 0, limit: int | None = None, source: str = "") -> list[Channel]:
        return self._store.list_channels(offset, limit, check_source(source) if source else None)

    def all(self) -> list[Channel]:
        return self._store.list_channels()

    def update(self, username: str, changes: Mapping[str, Any], source: str = "") -> Channel:
        """Apply ``changes`` (field name -> new value, names from SETTABLE) to a channel.
        ``source_type`` is the source's name ("auto": unchanged); it cannot change."""
        unknown = set(changes) - set(SETTABLE)
        if unknown:
            raise InvalidArgument(
                f"cannot change {', '.join(sorted(unknown))}",
                reason="INVALID_UPDATE_MASK",
                metadata={"fields": ",".join(sorted(unknown))},
            )
        current = self.get(username, source)
        values = dict(changes)
        wanted = values.pop("source_type", "auto")
        if wanted not in ("auto", "", current.source):
            raise _bad("source_type", "a channel's source cannot change (add a new channel)")
        if "quality" in values and not isinstance(values["quality"], QualityWish):
            raise _bad("quality", "quality must be a quality preference")
        updated = _check(replace(current, **values, updated_at=datetime.now(UTC)))
        self._store.update_channel(updated)
        return updated

    def delete(self, username: str, source: str = "") -> None:
        channel = self.get(username, source)
        self._store.delete_channel(channel.source, channel.username)
