"""The m3u8 parser against the playlist shapes real CDNs serve (see UPSTREAM.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from resolver_service.playlist import (
    MasterPlaylist,
    MediaPlaylist,
    derive_uri,
    parse_attributes,
    parse_playlist,
)
from servicekit.errors import UpstreamError

LEGACY_BASE = (
    "https://edge12.stream.highwebmedia.com/live-hls/amlst:alice-sd-0123abcd_trns_h264/"
    "playlist.m3u8?token=SECRET&exp=1700000000"
)
LEGACY_MASTER = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-STREAM-INF:BANDWIDTH=5128000,RESOLUTION=1920x1080,FRAME-RATE=30.000,CODECS="avc1.640028,mp4a.40.2",NAME="FPS:30.0"
chunklist_w111_b5128000_t64RlBTOjMwLjA=.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=2628000,RESOLUTION=1280x720,CODECS="avc1.4d401f,mp4a.40.2",NAME="FPS:60.0"
chunklist_w111_b2628000_t64RlBTOjYwLjA=.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=928000,RESOLUTION=640x360
chunklist_w111_b928000.m3u8
"""

CMAF_BASE = "https://edge3.cdn.example/v1/live/origin.bob.42/master.m3u8?token=T1"
CMAF_MASTER = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",NAME="English,stereo",LANGUAGE="en",DEFAULT=NO,AUTOSELECT=YES,URI="audio/en.m3u8"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",NAME="Main",DEFAULT=YES,AUTOSELECT=YES,URI="audio/main.m3u8?sig=own"
#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="en",URI="subs/en.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=6000000,AVERAGE-BANDWIDTH=5500000,RESOLUTION=1920x1080,FRAME-RATE=60,CODECS="avc1.640032,mp4a.40.2",AUDIO="aac"
video/1080p60.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,RESOLUTION=1920x1080,URI="video/iframes.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=3000000,RESOLUTION=1280x720,FRAME-RATE=30,AUDIO="aac"
https://other.cdn.example/abs/720p.m3u8
"""

LLHLS_BASE = "https://edge.example/v1/edge/streams/origin.carol.99/llhls.m3u8?token=LL"
LLHLS_MEDIA = """#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.0,CAN-SKIP-UNTIL=12.0
#EXT-X-PART-INF:PART-TARGET=0.5
#EXT-X-MEDIA-SEQUENCE:100
#EXT-X-MAP:URI="init_0_video_1.m4s"
#EXT-X-PROGRAM-DATE-TIME:2025-06-01T12:00:00.000Z
#EXTINF:2.000,
seg_0_100_video_1.m4s
#EXT-X-PART:DURATION=0.5,URI="part_0_101_0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.5,URI="part_0_101_1.m4s"
#EXTINF:2.000,
seg_0_101_video_1.m4s
#EXT-X-PART:DURATION=0.5,URI="part_0_102_0.m4s"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part_0_102_1.m4s"
#EXT-X-RENDITION-REPORT:URI="chunklist_1_audio_1_llhls.m3u8",LAST-MSN=101,LAST-PART=3
"""


def test_attributes_keep_commas_inside_quoted_values() -> None:
    attrs = parse_attributes('BANDWIDTH=1,CODECS="avc1.4d401f,mp4a.40.2",NAME="a, b",X=y')
    assert attrs == {"BANDWIDTH": "1", "CODECS": "avc1.4d401f,mp4a.40.2", "NAME": "a, b", "X": "y"}


def test_attributes_survive_garbage_between_pairs() -> None:
    assert parse_attributes("A=1,garbage,B=2") == {"A": "1", "B": "2"}


def test_legacy_ts_master_variants_carry_the_master_token() -> None:
    playlist = parse_playlist(LEGACY_MASTER, LEGACY_BASE)
    assert isinstance(playlist, MasterPlaylist)
    top, mid, low = playlist.variants
    assert (top.width, top.height, top.bandwidth, top.frame_rate) == (1920, 1080, 5128000, 30.0)
    assert top.codecs == "avc1.640028,mp4a.40.2"
    assert top.uri == (
        "https://edge12.stream.highwebmedia.com/live-hls/amlst:alice-sd-0123abcd_trns_h264/"
        "chunklist_w111_b5128000_t64RlBTOjMwLjA=.m3u8?token=SECRET&exp=1700000000"
    )
    assert mid.frame_rate == 60.0  # only in NAME="FPS:60.0"
    assert mid.resolution == "1280x720"
    assert low.frame_rate is None and low.codecs is None and low.name is None
    assert playlist.audio == ()


def test_cmaf_master_with_separate_audio_group() -> None:
    playlist = parse_playlist(CMAF_MASTER, CMAF_BASE)
    assert isinstance(playlist, MasterPlaylist)
    assert len(playlist.variants) == 2  # the I-frame stream is not a variant
    hd, sd = playlist.variants
    assert hd.audio_group == "aac" and hd.average_bandwidth == 5500000 and hd.frame_rate == 60.0
    assert hd.uri == "https://edge3.cdn.example/v1/live/origin.bob.42/video/1080p60.m3u8?token=T1"
    # An absolute URI elsewhere still gets the token: the master's author chose that host.
    assert sd.uri == "https://other.cdn.example/abs/720p.m3u8?token=T1"
    assert [a.name for a in playlist.audio] == ["English,stereo", "Main"]  # no subtitles
    english, main = playlist.audio
    assert english.language == "en" and not english.default and english.autoselect
    assert english.uri == "https://edge3.cdn.example/v1/live/origin.bob.42/audio/en.m3u8?token=T1"
    # A URI with its own query keeps it and does not get the master's token.
    assert main.uri == "https://edge3.cdn.example/v1/live/origin.bob.42/audio/main.m3u8?sig=own"
    assert playlist.audio_for(hd) == main  # DEFAULT=YES wins


def test_audio_for_takes_the_first_with_uri_when_none_is_default() -> None:
    text = (
        "#EXTM3U\n"
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="muxed",DEFAULT=YES\n'
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="one",URI="one.m3u8"\n'
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="two",URI="two.m3u8"\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO="a"\nv.m3u8\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=2,AUDIO="missing"\nw.m3u8\n'
    )
    playlist = parse_playlist(text, "http://h/x/master.m3u8")
    assert isinstance(playlist, MasterPlaylist)
    rendition = playlist.audio_for(playlist.variants[0])
    assert rendition is not None and rendition.uri == "http://h/x/one.m3u8"
    assert playlist.audio_for(playlist.variants[1]) is None


def test_audio_rendition_without_uri_means_muxed_audio() -> None:
    text = (
        '#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="g",NAME="main",DEFAULT=YES\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO="g"\nv.m3u8\n'
    )
    playlist = parse_playlist(text, "http://h/master.m3u8")
    assert isinstance(playlist, MasterPlaylist)
    assert playlist.audio[0].uri is None
    assert playlist.audio_for(playlist.variants[0]) is None


def test_legacy_ts_media_playlist() -> None:
    text = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:3521
#EXT-X-DISCONTINUITY-SEQUENCE:4
#EXT-X-PROGRAM-DATE-TIME:2025-06-01T12:00:00.000+00:00
#EXTINF:2.002,
media_w111_b2628000_t64RlBTOjYwLjA=_3521.ts
#EXT-X-DISCONTINUITY
#EXTINF:1.968,live
media_w111_b2628000_t64RlBTOjYwLjA=_3522.ts
#EXTINF:2,
/abs/media_3523.ts?own=1
"""
    playlist = parse_playlist(text, "https://edge/live-hls/amlst:a-sd-1/chunklist.m3u8?token=S")
    assert isinstance(playlist, MediaPlaylist)
    assert (playlist.target_duration, playlist.media_sequence) == (2, 3521)
    assert playlist.discontinuity_sequence == 4
    assert playlist.is_live and not playlist.endlist and playlist.init_section is None
    first, second, third = playlist.segments
    assert first.sequence == 3521 and first.duration == 2.002 and not first.discontinuity
    assert first.program_date_time == datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    assert first.uri.endswith("/amlst:a-sd-1/media_w111_b2628000_t64RlBTOjYwLjA=_3521.ts?token=S")
    assert second.discontinuity and second.title == "live" and second.program_date_time is None
    assert third.sequence == 3523 and third.uri == "https://edge/abs/media_3523.ts?own=1"


def test_llhls_media_ignores_part_tags() -> None:
    playlist = parse_playlist(LLHLS_MEDIA, LLHLS_BASE)
    assert isinstance(playlist, MediaPlaylist)
    assert [s.uri.rsplit("/", 1)[1] for s in playlist.segments] == [
        "seg_0_100_video_1.m4s?token=LL",
        "seg_0_101_video_1.m4s?token=LL",
    ]
    assert [s.sequence for s in playlist.segments] == [100, 101]
    assert playlist.init_section is not None
    assert playlist.init_section.uri == (
        "https://edge.example/v1/edge/streams/origin.carol.99/init_0_video_1.m4s?token=LL"
    )
    assert all(s.init_section == playlist.init_section for s in playlist.segments)


def test_llhls_master_is_parsed_as_master() -> None:
    text = (
        "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        '#EXT-X-STREAM-INF:BANDWIDTH=2500000,RESOLUTION=1280x720,FRAME-RATE=30.0,CODECS="avc1.4d401f"\n'
        "chunklist_0_video_7_llhls.m3u8?session=5b1f2c\n"
    )
    playlist = parse_playlist(text, LLHLS_BASE)
    assert isinstance(playlist, MasterPlaylist)
    # The variant has a query of its own (?session=): the master's token is not added.
    assert playlist.variants[0].uri == (
        "https://edge.example/v1/edge/streams/origin.carol.99/"
        "chunklist_0_video_7_llhls.m3u8?session=5b1f2c"
    )


def test_vod_playlist_with_endlist_and_map_change() -> None:
    text = (
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-PLAYLIST-TYPE:vod\n"
        '#EXT-X-MAP:URI="init1.mp4",BYTERANGE="720@0"\n#EXTINF:4.0,\na.m4s\n'
        '#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="init2.mp4"\n#EXTINF:3.5,\nb.m4s\n#EXT-X-ENDLIST\n'
    )
    playlist = parse_playlist(text, "http://h/v/index.m3u8")
    assert isinstance(playlist, MediaPlaylist)
    assert playlist.endlist and not playlist.is_live and playlist.playlist_type == "VOD"
    assert playlist.init_section is not None and playlist.init_section.byterange == "720@0"
    a, b = playlist.segments
    assert a.init_section is not None and a.init_section.uri == "http://h/v/init1.mp4"
    assert b.init_section is not None and b.init_section.uri == "http://h/v/init2.mp4"
    assert b.discontinuity and b.sequence == 1


def test_bom_crlf_and_blank_lines_are_tolerated() -> None:
    text = "\ufeff#EXTM3U\r\n\r\n#EXT-X-TARGETDURATION:6\r\n#EXTINF:6,\r\n\r\nseg.ts\r\n"
    playlist = parse_playlist(text, "http://h/p.m3u8")
    assert isinstance(playlist, MediaPlaylist)
    assert [s.uri for s in playlist.segments] == ["http://h/seg.ts"]


def test_empty_live_media_playlist_is_valid() -> None:
    playlist = parse_playlist("#EXTM3U\n#EXT-X-TARGETDURATION:2\n", "http://h/p.m3u8")
    assert isinstance(playlist, MediaPlaylist)
    assert playlist.segments == () and playlist.is_live


def test_odd_variant_attributes_degrade_to_none() -> None:
    text = (
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=abc,RESOLUTION=big,FRAME-RATE=-1\nv.m3u8\n"
        "#EXT-X-STREAM-INF:RESOLUTION=0x0\nw.m3u8\n"
    )
    playlist = parse_playlist(text, "http://h/m.m3u8")
    assert isinstance(playlist, MasterPlaylist)
    for variant in playlist.variants:
        assert variant.bandwidth == 0 and variant.height is None and variant.frame_rate is None


def test_unparsable_program_date_time_is_ignored() -> None:
    text = "#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:yesterday\n#EXTINF:2,\ns.ts\n"
    playlist = parse_playlist(text, "http://h/p.m3u8")
    assert isinstance(playlist, MediaPlaylist)
    assert playlist.segments[0].program_date_time is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "<!DOCTYPE html><html><title>Just a moment...</title></html>",
        '{"success": false}',
        "#EXTINF:2,\nseg.ts\n",
    ],
)
def test_non_playlists_are_upstream_errors(text: str) -> None:
    with pytest.raises(UpstreamError) as info:
        parse_playlist(text, "http://h/p.m3u8")
    assert info.value.reason == "NOT_A_PLAYLIST"


@pytest.mark.parametrize(
    "line",
    ["#EXTINF:abc,", "#EXTINF:-1,", "#EXT-X-TARGETDURATION:x", "#EXT-X-MEDIA-SEQUENCE:-3"],
)
def test_malformed_structural_tags_are_upstream_errors(line: str) -> None:
    with pytest.raises(UpstreamError) as info:
        parse_playlist(f"#EXTM3U\n{line}\nseg.ts\n", "http://h/p.m3u8")
    assert info.value.reason == "MALFORMED_PLAYLIST"


@pytest.mark.parametrize(
    ("uri", "base", "expected"),
    [
        ("v.m3u8", "https://h/a/m.m3u8?t=1", "https://h/a/v.m3u8?t=1"),
        ("../v.m3u8", "https://h/a/b/m.m3u8?t=1", "https://h/a/v.m3u8?t=1"),
        ("/root/v.m3u8", "https://h/a/m.m3u8?t=1", "https://h/root/v.m3u8?t=1"),
        ("//cdn2/v.m3u8", "https://h/a/m.m3u8?t=1", "https://cdn2/v.m3u8?t=1"),
        ("v.m3u8?own=2", "https://h/a/m.m3u8?t=1", "https://h/a/v.m3u8?own=2"),
        ("v.m3u8", "https://h/a/m.m3u8", "https://h/a/v.m3u8"),
        ("v.m3u8#frag", "https://h/a/m.m3u8?t=1", "https://h/a/v.m3u8?t=1"),
        ("file:///etc/passwd", "https://h/a/m.m3u8?t=1", "file:///etc/passwd"),
    ],
)
def test_derive_uri(uri: str, base: str, expected: str) -> None:
    assert derive_uri(uri, base) == expected
