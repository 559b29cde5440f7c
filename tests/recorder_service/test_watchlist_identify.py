"""What a new channel is, as the resolver classifies it: source, username and folder."""

from __future__ import annotations

import pytest

from recorder_service.resolver_client import GrpcResolver
from recorder_service.watchlist import Identity, identify, parse_key
from servicekit.errors import InvalidArgument
from tests.recorder_service.classifying_resolver import classifying_resolver


async def test_the_resolver_names_source_username_and_folder() -> None:
    async with classifying_resolver() as channel:
        resolver = GrpcResolver(channel, timeout=5)
        cases = [
            (("Alice", "", ""), Identity("chaturbate", "alice", "alice")),
            (("othersite:alice", "", ""), Identity("othersite", "alice", "othersite-alice")),
            (("alice", "", "othersite"), Identity("othersite", "alice", "othersite-alice")),
            (("", "https://chaturbate.com/Bob/", ""), Identity("chaturbate", "bob", "bob")),
            (("cam", "http://cdn.example/a/b.m3u8", ""), Identity("hls", "cam", "cam")),
        ]
        for (username, target, source), want in cases:
            assert await identify(resolver, username, target, source) == want


@pytest.mark.parametrize(
    ("text", "source", "want"),
    [
        ("alice", "", ("chaturbate", "alice")),
        ("stripchat:Alice", "", ("stripchat", "Alice")),
        ("STRIPCHAT:alice", "stripchat", ("stripchat", "alice")),
        ("alice", "stripchat", ("stripchat", "alice")),
        ("hls:cam1", "", ("hls", "cam1")),
    ],
)
def test_a_key_names_source_and_username(text, source, want) -> None:
    assert parse_key(text, source) == want


@pytest.mark.parametrize(
    ("text", "source", "reason"),
    [
        ("", "", "INVALID_USERNAME"),
        ("a/b", "", "INVALID_USERNAME"),
        ("stripchat:", "", "INVALID_USERNAME"),
        ("stripchat:alice", "bongacams", "SOURCE_MISMATCH"),
        ("Bad Site:alice", "", "UNKNOWN_SOURCE_TYPE"),
        ("alice", "../x", "UNKNOWN_SOURCE_TYPE"),
    ],
)
def test_a_bad_key_is_refused_with_its_reason(text, source, reason) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_key(text, source)
    assert info.value.reason == reason
