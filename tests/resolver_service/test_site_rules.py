"""Targets of several sites, classified from what each source declares (no site named in the
core), and the folders their channels record into."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

import pytest

from resolver_service.quality import QualityPreference
from resolver_service.sources.base import Resolution, Source
from resolver_service.sources.chaturbate import ChaturbateSource
from resolver_service.sources.hls import HlsSource
from resolver_service.status import ChannelStatus
from resolver_service.targets import (
    Target,
    TargetKind,
    classify_target,
    person_folder,
    suggest_person,
)
from servicekit.errors import InvalidArgument


class Fakesite(Source):
    """A site of the tests only: rooms at fakesite.example/<name>, names with '-' allowed."""

    name: ClassVar[str] = "fakesite"
    room_hosts: ClassVar[tuple[str, ...]] = ("fakesite.example",)
    username_pattern: ClassVar[re.Pattern[str]] = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")

    async def resolve(self, target: Target, pref: QualityPreference) -> Resolution:
        raise NotImplementedError

    async def channel_status(self, target: Target) -> ChannelStatus:
        raise NotImplementedError


class Deeproom(Source):
    """Rooms at deeproom.example/room/<name>/ (a site whose room URLs have two segments)."""

    name: ClassVar[str] = "deeproom"
    room_hosts: ClassVar[tuple[str, ...]] = ("deeproom.example",)
    case_insensitive: ClassVar[bool] = False

    @classmethod
    def room_username(cls, path: Sequence[str]) -> str:
        if len(path) != 2 or path[0] != "room":
            raise InvalidArgument("not a room URL", reason="INVALID_URL")
        return path[1]

    async def resolve(self, target: Target, pref: QualityPreference) -> Resolution:
        raise NotImplementedError

    async def channel_status(self, target: Target) -> ChannelStatus:
        raise NotImplementedError


SITES: dict[str, type[Source]] = {
    "hls": HlsSource,
    "chaturbate": ChaturbateSource,
    "fakesite": Fakesite,
    "deeproom": Deeproom,
}


def classify(target: str, source: str | None = None) -> Target:
    return classify_target(target, source, SITES)


def reason_of(target: str, source: str | None = None) -> str:
    with pytest.raises(InvalidArgument) as caught:
        classify(target, source)
    return caught.value.reason


@pytest.mark.parametrize(
    ("text", "source", "expected"),
    [
        ("fakesite:Alice", None, Target("fakesite", TargetKind.USERNAME, "alice")),
        ("FakeSite:a-b_c", None, Target("fakesite", TargetKind.USERNAME, "a-b_c")),
        ("alice", "fakesite", Target("fakesite", TargetKind.USERNAME, "alice")),
        ("fakesite:alice", "fakesite", Target("fakesite", TargetKind.USERNAME, "alice")),
        ("https://fakesite.example/Alice", None, Target("fakesite", TargetKind.USERNAME, "alice")),
        (
            "https://www.fakesite.example/bob/",
            "auto",
            Target("fakesite", TargetKind.USERNAME, "bob"),
        ),
        # Whatever source_type says, a site's room URL means the room.
        ("https://fakesite.example/bob", "m3u8", Target("fakesite", TargetKind.USERNAME, "bob")),
        (
            "https://deeproom.example/room/Bob/",
            None,
            Target("deeproom", TargetKind.USERNAME, "Bob"),
        ),
        ("deeproom:Bob", None, Target("deeproom", TargetKind.USERNAME, "Bob")),
        ("alice", None, Target("chaturbate", TargetKind.USERNAME, "alice")),
        ("chaturbate:Alice", None, Target("chaturbate", TargetKind.USERNAME, "alice")),
        (
            "https://cdn.example/live.m3u8",
            None,
            Target("hls", TargetKind.URL, "https://cdn.example/live.m3u8"),
        ),
    ],
)
def test_targets_go_to_the_site_that_declares_them(
    text: str, source: str | None, expected: Target
) -> None:
    assert classify(text, source) == expected


@pytest.mark.parametrize(
    ("text", "source", "reason"),
    [
        ("nosuchsite:alice", None, "UNKNOWN_SOURCE_TYPE"),  # a typo of a site, before any call
        ("alice", "nosuchsite", "UNKNOWN_SOURCE_TYPE"),
        ("fakesite:alice", "deeproom", "UNKNOWN_SOURCE_TYPE"),
        ("hls:alice", None, "UNSUPPORTED_PROTOCOL"),  # ffmpeg has an hls: protocol
        ("pipe:0", None, "UNSUPPORTED_PROTOCOL"),  # ffmpeg protocols stay protocols
        ("file:passwd", None, "UNSUPPORTED_PROTOCOL"),
        ("fakesite:", None, "INVALID_USERNAME"),
        ("fakesite:-alice", None, "INVALID_USERNAME"),
        ("fakesite:a b", None, "INVALID_USERNAME"),
        ("fakesite:" + "a" * 65, None, "INVALID_USERNAME"),
        ("chaturbate:a-b", None, "INVALID_USERNAME"),  # each site's own pattern
        ("https://fakesite.example/a/b", None, "INVALID_URL"),
        ("https://fakesite.example/", None, "INVALID_URL"),
        ("https://deeproom.example/bob", None, "INVALID_URL"),
        ("https://cdn.example/live.m3u8", "fakesite", "INVALID_USERNAME"),
        ("https://user:pw@fakesite.example/bob", None, "URL_CREDENTIALS_NOT_ALLOWED"),
    ],
)
def test_bad_site_targets_are_refused_before_any_call(
    text: str, source: str | None, reason: str
) -> None:
    assert reason_of(text, source) == reason


def test_an_unknown_site_is_named_with_the_known_ones() -> None:
    with pytest.raises(InvalidArgument) as caught:
        classify("stripchatt:alice")
    assert "stripchatt" in caught.value.message and "fakesite" in caught.value.message


def test_the_same_name_on_two_sites_records_into_two_folders() -> None:
    folders = {
        person_folder(site, "alice", SITES) for site in ("chaturbate", "fakesite", "deeproom")
    }
    assert folders == {"alice", "fakesite-alice", "deeproom-alice"}
    assert suggest_person(classify("fakesite:Alice")) != suggest_person(classify("alice"))


def test_long_names_keep_distinct_folders_within_the_limit() -> None:
    head = "a" * 60
    first, second = (person_folder("fakesite", head + tail, SITES) for tail in ("x", "y"))
    assert first != second and len(first) <= 64 and len(second) <= 64
    assert first.startswith("fakesite-aaaa")


def test_a_default_site_name_never_looks_like_another_site_s_folder() -> None:
    # Default-site usernames have no '-', every other site's folder has one after its name.
    assert reason_of("fakesite-alice", "chaturbate") == "INVALID_USERNAME"
