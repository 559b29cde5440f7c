"""Target classification, the bad-input rules, and recording folder names."""

from __future__ import annotations

import pytest

from resolver_service.targets import (
    Target,
    TargetKind,
    check_http_url,
    classify_target,
    slugify_person,
    suggest_person,
)
from servicekit.errors import InvalidArgument

URL = "https://cdn.example/live/alice/master.m3u8?token=abc"


def reason_of(target: str, source_type: str | None = None) -> str:
    with pytest.raises(InvalidArgument) as info:
        classify_target(target, source_type)
    return info.value.reason


@pytest.mark.parametrize("source_type", [None, "", "auto", "AUTO", " auto "])
def test_auto_sends_urls_to_hls_and_usernames_to_chaturbate(source_type: str | None) -> None:
    assert classify_target(URL, source_type) == Target("hls", TargetKind.URL, URL)
    assert classify_target("Alice_99", source_type) == Target(
        "chaturbate", TargetKind.USERNAME, "alice_99"
    )


@pytest.mark.parametrize("source_type", ["m3u8", "hls", "HLS"])
def test_m3u8_and_hls_take_a_url(source_type: str) -> None:
    assert classify_target(f"  {URL}\n", source_type).value == URL


@pytest.mark.parametrize("source_type", ["m3u8", "hls"])
def test_m3u8_with_a_username_is_invalid(source_type: str) -> None:
    assert reason_of("alice", source_type) == "INVALID_URL"


def test_chaturbate_takes_a_username() -> None:
    assert classify_target("bob", "chaturbate") == Target("chaturbate", TargetKind.USERNAME, "bob")


@pytest.mark.parametrize(
    "room",
    [
        "https://chaturbate.com/alice/",
        "https://chaturbate.com/alice",
        "https://www.chaturbate.com/Alice/",
        "http://chaturbate.com/alice/?tour=x#top",
    ],
)
@pytest.mark.parametrize("source_type", [None, "chaturbate", "m3u8"])
def test_chaturbate_room_urls_mean_the_room(room: str, source_type: str | None) -> None:
    # Even with m3u8: a room page is HTML, never a playlist.
    assert classify_target(room, source_type) == Target("chaturbate", TargetKind.USERNAME, "alice")


@pytest.mark.parametrize(
    "url",
    [
        "https://chaturbate.com/",
        "https://chaturbate.com/tags/female/",
        "https://chaturbate.com/a-b/",
    ],
)
def test_chaturbate_urls_that_are_not_rooms_are_refused(url: str) -> None:
    assert reason_of(url) == "INVALID_URL"


def test_chaturbate_with_a_non_chaturbate_url_is_invalid() -> None:
    assert reason_of(URL, "chaturbate") == "INVALID_USERNAME"


def test_unknown_source_type() -> None:
    assert reason_of("alice", "youtube") == "UNKNOWN_SOURCE_TYPE"


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("", "EMPTY_TARGET"),
        ("   \t\n", "EMPTY_TARGET"),
        ("file:///etc/passwd", "UNSUPPORTED_PROTOCOL"),
        ("FILE:/etc/passwd", "UNSUPPORTED_PROTOCOL"),
        ("concat:a|b", "UNSUPPORTED_PROTOCOL"),
        ("subfile:,start,153391104,end,268142592,,:/media.ts", "UNSUPPORTED_PROTOCOL"),
        ("data:application/vnd.apple.mpegurl;base64,I0VYVE0zVQ==", "UNSUPPORTED_PROTOCOL"),
        ("crypto:https://x/y", "UNSUPPORTED_PROTOCOL"),
        ("ftp://x", "UNSUPPORTED_PROTOCOL"),
        ("rtmp://live.example/app/key", "UNSUPPORTED_PROTOCOL"),
        ("pipe:0", "UNSUPPORTED_PROTOCOL"),
        ("javascript:alert(1)", "UNSUPPORTED_PROTOCOL"),
        ("alice:", "UNSUPPORTED_PROTOCOL"),
        ("localhost:8080/live.m3u8", "UNSUPPORTED_PROTOCOL"),
        ("../x", "UNSUPPORTED_PROTOCOL"),
        ("/etc/passwd", "UNSUPPORTED_PROTOCOL"),
        ("C:\\Users\\x.m3u8", "UNSUPPORTED_PROTOCOL"),
        ("~/x.m3u8", "UNSUPPORTED_PROTOCOL"),
        ("cdn.example/live.m3u8", "UNSUPPORTED_PROTOCOL"),
        ("a" * 200, "INVALID_USERNAME"),
        ("a" * 65, "INVALID_USERNAME"),
        ("ålice", "INVALID_USERNAME"),
        ("алиса", "INVALID_USERNAME"),
        ("alice bob", "INVALID_USERNAME"),
        ("alice.bob", "INVALID_USERNAME"),
        ("alice|bob", "INVALID_USERNAME"),
        ("alice\x00", "CONTROL_CHARACTER"),
        ("https://cdn.example/live\x00.m3u8", "CONTROL_CHARACTER"),
        ("https://cdn.example/\x1b[31m.m3u8", "CONTROL_CHARACTER"),
        ("https://cdn.example/a\u202e.m3u8", "CONTROL_CHARACTER"),
        ("https://cdn.example/a\nb.m3u8", "CONTROL_CHARACTER"),
        ("https://" + "a" * 2100 + ".example/", "TARGET_TOO_LONG"),
        ("https://", "INVALID_URL"),
        ("http:/cdn.example/x", "INVALID_URL"),
        ("https:cdn.example", "INVALID_URL"),
        ("https:///path-only", "INVALID_URL"),
        ("https://cdn.example:99999/x", "INVALID_URL"),
        ("https://cdn.example/a b.m3u8", "INVALID_URL"),
        ("https://cdn|x/a.m3u8", "INVALID_URL"),
        ("https://user:pass@cdn.example/x.m3u8", "URL_CREDENTIALS_NOT_ALLOWED"),
        ("https://chaturbate.com@evil.example/x.m3u8", "URL_CREDENTIALS_NOT_ALLOWED"),
    ],
)
def test_bad_targets_are_invalid_arguments(target: str, reason: str) -> None:
    assert reason_of(target) == reason


def test_url_length_cap_is_inclusive() -> None:
    url = "https://cdn.example/" + "a" * (2048 - len("https://cdn.example/"))
    assert classify_target(url, None).value == url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/live/stream.m3u8",
        "https://[::1]:8443/x.m3u8",
        "HTTPS://CDN.Example/X.m3u8",
        "https://bücher.example/x.m3u8",
    ],
)
def test_acceptable_urls(url: str) -> None:
    assert check_http_url(url) == url


@pytest.mark.parametrize(
    ("target", "person"),
    [
        ("alice", "alice"),
        ("Alice_99", "alice_99"),
        ("https://cdn.example/live/alice/master.m3u8", "alice"),
        ("https://cdn.example/hls/Bob/index.m3u8?token=x", "bob"),
        ("https://cdn.example/stream/carol.m3u8", "carol"),
        ("https://cdn.example/live/dave/stream/720p/playlist_720p.m3u8", "dave"),
        ("https://cdn.example/dave/1280x720/2500k/index.m3u8", "dave"),
        ("https://cdn.example/live/eve/12345/chunklist_0_video_7_llhls.m3u8", "eve"),
        ("https://cdn.example/u/frank/0f8fad5b-d9cb-469f-a165-70867728950e/index.m3u8", "frank"),
        (
            "https://edge1.stream.highwebmedia.com/live-hls/amlst:grace_1-sd-0a1b2c3d_trns_h264/"
            "playlist.m3u8?token=x",
            "grace_1",
        ),
        ("https://edge.example/v1/edge/streams/origin.heidi.12345/llhls.m3u8", "heidi"),
        ("https://cdn.example/live/Zo%C3%AB%20Smith/master.m3u8", "zoe-smith"),
        ("https://cdn.example/live/master.m3u8", "cdn-example"),
        ("https://cdn.example/", "cdn-example"),
        ("http://127.0.0.1:8080/hls/index.m3u8", "127-0-0-1"),
        ("https://cdn.example/live/---/index.m3u8", "cdn-example"),
    ],
)
def test_suggest_person(target: str, person: str) -> None:
    assert suggest_person(classify_target(target, None)) == person


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("test_user", "test_user"),
        ("Alice Smith!", "alice-smith"),
        ("Zoë", "zoe"),
        ("  -_weird__-  ", "weird"),
        ("a" * 100, "a" * 64),
        ("a" * 63 + "-b", "a" * 63),  # no trailing separator after the cut
        ("CON", "con_"),
        ("", "unknown"),
        ("   ", "unknown"),
    ],
)
def test_slugify_person(name: str, slug: str) -> None:
    assert slugify_person(name) == slug


@pytest.mark.parametrize("name", [".", "..", "日本", "!!!", "../../etc"])
def test_slugify_is_never_empty_or_a_dot_name(name: str) -> None:
    slug = slugify_person(name)
    assert slug and slug not in (".", "..") and "/" not in slug
    assert all(c.isascii() and (c.isalnum() or c in "_-") for c in slug)


def test_slugify_keeps_non_ascii_names_apart() -> None:
    assert slugify_person("日本") != slugify_person("中国")
    assert slugify_person("日本") == slugify_person("日本")
