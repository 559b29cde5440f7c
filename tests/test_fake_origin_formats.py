"""The fake origin's fMP4 formats: CMAF with a separate audio rendition, and LL-HLS."""

from __future__ import annotations

import re
import struct
import subprocess
import time
from fractions import Fraction
from pathlib import Path

import httpx
import pytest

from servicekit.ffmpeg import find_ffmpeg
from simlab.fakes import fmp4, media_fmp4
from simlab.fakes.hls_origin import HlsOrigin
from simlab.fakes.live_stream import Stream
from simlab.fakes.media import VariantSpec, ensure_media
from simlab.fakes.media_fmp4 import ensure_fmp4
from tests.test_fake_origin import FAST, media_sequence, playlist_tags, segment_uris

SESSION = re.compile(r"\?session=[0-9a-f-]{36}$")


def fast_stream(origin: HlsOrigin, fmt: str, name: str = "fast", **overrides: object) -> Stream:
    return origin.add_stream(name, format=fmt, **{**FAST, **overrides})  # type: ignore[arg-type]


def all_uris(text: str) -> list[str]:
    """Every URI a playlist lists: URI lines and URI="..." attributes."""
    return segment_uris(text) + re.findall(r'URI="([^"]+)"', text)


def base_of(url: str) -> str:
    return url.split("?")[0].rsplit("/", 1)[0] + "/"


def box(kind: str, *payload: bytes, version: int | None = None) -> bytes:
    body = (bytes([version, 0, 0, 0]) if version is not None else b"") + b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind.encode()) + body


def test_shift_fragments_moves_tfdt_in_the_track_timescale_and_advances_mfhd() -> None:
    tkhd = box("tkhd", struct.pack(">III", 0, 0, 2), bytes(68), version=0)
    mdhd = box("mdhd", struct.pack(">QQIQ", 0, 0, 48_000, 0), bytes(4), version=1)
    init = box("ftyp", b"iso6") + box("moov", box("trak", tkhd, box("mdia", mdhd)))
    assert fmp4.track_timescales(init) == {2: 48_000}

    def fragment(sequence: int, tfdt: bytes, version: int) -> bytes:
        tfhd = box("tfhd", struct.pack(">I", 2), version=0)
        traf = box("traf", tfhd, box("tfdt", tfdt, version=version))
        mfhd = box("mfhd", struct.pack(">I", sequence), version=0)
        return box("moof", mfhd, traf) + box("mdat", b"xx")

    sidx = box("sidx", struct.pack(">IIII", 2, 1000, 96, 0), bytes(4), version=0)
    segment = box("styp", b"msdh") + sidx + fragment(7, struct.pack(">Q", 96_000), 1)
    segment += fragment(8, struct.pack(">I", 102_144), 0)  # a 32-bit (version 0) tfdt
    shifted = fmp4.shift_fragments(segment, Fraction(4), {2: 48_000}, 16)
    assert len(shifted) == len(segment)
    before, after = fmp4.fragments(segment), fmp4.fragments(shifted)
    assert [f.decode_time for f in before] == [96_000, 102_144]
    assert [f.decode_time for f in after] == [96_000 + 4 * 48_000, 102_144 + 4 * 48_000]
    assert [(f.start, f.end, f.track_id) for f in after] == [(f.start, f.end, 2) for f in before]
    sequences = [b for b in fmp4.walk(shifted) if b.type == "mfhd"]
    assert [int.from_bytes(shifted[b.body + 4 : b.body + 8], "big") for b in sequences] == [23, 24]
    sidx_box = next(b for b in fmp4.boxes(shifted) if b.type == "sidx")
    assert struct.unpack_from(">I", shifted, sidx_box.body + 12)[0] == 96 + 4 * 1000


def test_fmp4_media_is_video_only_plus_one_aligned_audio_and_loops_seamlessly(tmp_path) -> None:
    spec = (VariantSpec(160, 90, 20, 100),)
    ts_only = ensure_media(spec, segment_duration=0.5, segment_count=4, cache_dir=tmp_path)
    assert ts_only.fmp4 is None and len(list(tmp_path.iterdir())) == 1  # TS users pay nothing
    media = ensure_fmp4(ts_only, cache_dir=tmp_path)
    assert media.fmp4 is not None
    video, audio = media.fmp4.video[0], media.fmp4.audio
    generated_at = (video.directory.parent / "meta.json").stat().st_mtime_ns
    media_fmp4._ensure.cache_clear()  # as if in a new process
    assert ensure_fmp4(ts_only, cache_dir=tmp_path).fmp4 == media.fmp4
    assert (video.directory.parent / "meta.json").stat().st_mtime_ns == generated_at
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]
    # One track each: video only in the variant, AAC 48 kHz in the audio rendition.
    assert dict(video.timescales) == {1: 90_000} and dict(audio.timescales) == {1: 48_000}
    for track, handler, other in ((video, b"vide", b"soun"), (audio, b"soun", b"vide")):
        init = track.init_bytes()
        assert [b.type for b in fmp4.walk(init)].count("trak") == 1
        assert handler in init and other not in init
    assert video.codecs.startswith("avc1.") and audio.codecs == "mp4a.40.2"
    assert video.durations == (0.5,) * 4 and audio.segment_count == 4
    assert abs(sum(audio.durations) - 2.0) < 2 * 1024 / 48_000  # cut at the same boundaries
    for track in (video, audio):
        parts = track.parts[1]
        assert len(parts) > 1 and parts[0].independent
        assert abs(sum(p.duration for p in parts) - track.durations[1]) < 1e-6
        segment = track.segment_bytes(1)
        assert b"".join(track.part_bytes(1, p) or b"" for p in range(len(parts))) == segment
        # Pass 1 of segment 0 continues where pass 0 ended: one loop length later.
        timescale = dict(track.timescales)[1]
        first, again = (
            fmp4.fragments(track.segment_bytes(0)),
            fmp4.fragments(track.segment_bytes(0, 1)),
        )
        assert again[0].decode_time == first[0].decode_time + 2 * timescale
        assert [f[:2] for f in again] == [f[:2] for f in first]
    last = fmp4.fragments(video.segment_bytes(3))[-1]
    assert last.decode_time + round(video.parts[3][-1].duration * 90_000) == 2 * 90_000


def test_cmaf_master_has_an_audio_group_and_playlists_map_init_segments(origin, http) -> None:
    fast_stream(origin, "cmaf", token="tok")
    assert origin.url("fast") == f"{origin.base_url}/cmaf/fast/master.m3u8?token=tok"
    master = http.get(origin.url("fast")).text
    media = playlist_tags(master, "#EXT-X-MEDIA")
    assert media == [
        'TYPE=AUDIO,GROUP-ID="aud",NAME="audio",DEFAULT=YES,AUTOSELECT=YES,'
        'URI="audio/index.m3u8?token=tok"'
    ]
    infs = playlist_tags(master, "#EXT-X-STREAM-INF")
    assert len(infs) == 2 and all('AUDIO="aud"' in inf for inf in infs)
    assert all(re.search(r'CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2"', inf) for inf in infs)
    assert segment_uris(master) == ["v0/index.m3u8?token=tok", "v1/index.m3u8?token=tok"]
    assert origin.media_url("fast", 1) == f"{origin.base_url}/cmaf/fast/v1/index.m3u8?token=tok"
    assert origin.audio_url("fast") == f"{origin.base_url}/cmaf/fast/audio/index.m3u8?token=tok"
    for url in (origin.media_url("fast", 1), origin.audio_url("fast")):
        text = http.get(url).text
        assert playlist_tags(text, "#EXT-X-VERSION") == ["7"]
        assert playlist_tags(text, "#EXT-X-MAP") == ['URI="init.mp4?token=tok"']
        assert segment_uris(text) == [f"seg_{n}.m4s?token=tok" for n in range(3)]
        assert (
            media_sequence(text) == 0 and len(playlist_tags(text, "#EXT-X-PROGRAM-DATE-TIME")) == 3
        )
        init = http.get(base_of(url) + "init.mp4?token=tok")
        segment = http.get(base_of(url) + "seg_2.m4s?token=tok")
        assert init.status_code == segment.status_code == 200
        assert init.content[4:8] == b"ftyp" and b"moof" in segment.content
    state = http.get(origin.control_url("fast")).json()
    assert state["format"] == "cmaf" and state["audio_url"] == origin.audio_url("fast")


def test_cmaf_needs_the_token_on_every_url(origin, http) -> None:
    fast_stream(origin, "cmaf", token="tok")
    base = origin.base_url + "/cmaf/fast/"
    paths = ["master.m3u8", "v0/index.m3u8", "v0/init.mp4", "v0/seg_1.m4s"]
    for path in [*paths, "audio/index.m3u8", "audio/init.mp4", "audio/seg_1.m4s"]:
        assert http.get(base + path).status_code == 403
        assert http.get(base + path + "?token=wrong").status_code == 403
        assert http.get(base + path + "?token=tok").status_code == 200
    assert http.get(base + "v0/seg_1.ts?token=tok").status_code == 404  # not a TS stream
    assert http.get(origin.base_url + "/live/fast/master.m3u8?token=tok").status_code == 404


def test_llhls_playlists_have_parts_hints_reports_and_sessions(origin, http) -> None:
    stream = fast_stream(origin, "llhls", token="tok")
    sid = stream.stream_id
    base = f"{origin.base_url}/v1/edge/streams/origin.fast.{sid}/"
    assert re.fullmatch(r"[0-9a-f]+", sid) and origin.url("fast") == base + "llhls.m3u8?token=tok"
    master = http.get(origin.url("fast")).text
    assert all(SESSION.search(uri) for uri in all_uris(master))
    assert [u.split("?")[0] for u in all_uris(master)] == [
        f"chunklist_0_video_{sid}_llhls.m3u8",
        f"chunklist_1_video_{sid}_llhls.m3u8",
        f"chunklist_0_audio_{sid}_llhls.m3u8",
    ]
    assert all('AUDIO="aud"' in inf for inf in playlist_tags(master, "#EXT-X-STREAM-INF"))
    assert origin.media_url("fast", 1) == base + all_uris(master)[1]
    assert origin.audio_url("fast") == base + all_uris(master)[2]
    for url, track in ((origin.media_url("fast", 0), "video"), (origin.audio_url("fast"), "audio")):
        text, live = playlist_with_live_parts(http, url)
        assert all(SESSION.search(uri) for uri in all_uris(text))
        control = playlist_tags(text, "#EXT-X-SERVER-CONTROL")[0]
        target = float(playlist_tags(text, "#EXT-X-PART-INF")[0].split("=")[1])
        assert control == f"CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={3 * target:.3f}"
        assert playlist_tags(text, "#EXT-X-MAP")[0].startswith(f'URI="init_0_{track}_{sid}.m4s?')
        assert [u.split("?")[0] for u in segment_uris(text)] == [
            f"seg_0_{n}_{track}_{sid}_llhls.m4s" for n in range(live - 3, live)
        ]
        parts = playlist_tags(text, "#EXT-X-PART")
        assert all(float(p.split(",")[0].split("=")[1]) <= target for p in parts)
        assert "INDEPENDENT=YES" in parts[0]
        hint = playlist_tags(text, "#EXT-X-PRELOAD-HINT")
        assert len(hint) == 1 and hint[0].startswith(f'TYPE=PART,URI="part_0_{live}_')
        reports = playlist_tags(text, "#EXT-X-RENDITION-REPORT")
        assert len(reports) == 2
        assert all(re.search(rf",LAST-MSN=({live}|{live - 1}),LAST-PART=\d+$", r) for r in reports)
        for uri in all_uris(text):
            assert http.get(base + uri).status_code == 200, uri  # all fetchable, even the hint
    assert http.get(base + f"chunklist_0_video_{sid}_llhls.m3u8").status_code == 403
    assert http.get(base.replace(sid, "abc123") + "llhls.m3u8?token=tok").status_code == 404


def playlist_with_live_parts(http: httpx.Client, url: str) -> tuple[str, int]:
    """An llhls media playlist listing parts of the segment in progress, and that segment's
    msn (polls: right after a segment completes no part of the next one is out yet)."""
    deadline = time.monotonic() + 3
    while True:
        text = http.get(url).text
        live = media_sequence(text) + len(segment_uris(text))
        if re.search(rf"#EXT-X-PART:.*part_\d+_{live}_0_", text) or time.monotonic() > deadline:
            return text, live
        time.sleep(0.02)


def test_llhls_parts_slice_the_segment_and_requests_block_until_out(origin, http) -> None:
    stream = fast_stream(origin, "llhls", start_offset_segments=6)
    text = http.get(origin.media_url("fast")).text
    base = base_of(origin.media_url("fast"))
    session = origin.media_url("fast").split("?")[1]
    complete = [u for u in all_uris(text) if "part_0_8_" in u]  # seg 8 wraps the loop
    segment = http.get(base + f"seg_0_8_video_{stream.stream_id}_llhls.m4s?{session}").content
    assert b"".join(http.get(base + u).content for u in complete) == segment
    hint = playlist_tags(text, "#EXT-X-PRELOAD-HINT")[0].split('"')[1]
    started = time.monotonic()
    assert http.get(base + hint).status_code == 200  # held until the part is out
    assert time.monotonic() - started < 1
    text = http.get(origin.media_url("fast")).text
    live = media_sequence(text) + len(segment_uris(text))
    started = time.monotonic()
    blocked = http.get(origin.media_url("fast") + f"&_HLS_msn={live + 1}")
    assert blocked.status_code == 200 and f"seg_0_{live + 1}_video_" in blocked.text
    assert time.monotonic() - started >= 0.4  # held for a whole segment or more
    assert http.get(origin.media_url("fast") + "&_HLS_msn=99").status_code == 400
    assert http.get(origin.media_url("fast") + "&_HLS_part=1").status_code == 400


def test_llhls_token_opens_the_master_and_rotation_voids_the_session(origin, http) -> None:
    stream = fast_stream(origin, "llhls", token="old")
    master_without = origin.url("fast").split("?")[0]
    assert http.get(master_without).status_code == 403
    assert http.get(master_without + "?token=wrong").status_code == 403
    old_media = origin.media_url("fast")
    assert http.get(old_media).status_code == 200
    assert (
        http.get(old_media.replace(stream.session, "0" * 8 + stream.session[8:])).status_code == 403
    )
    stream.rotate_token("new")
    assert http.get(old_media).status_code == 403  # old session void
    assert http.get(origin.url("fast").replace("new", "old")).status_code == 403
    master = http.get(origin.url("fast"))
    assert master.status_code == 200 and stream.session in master.text
    assert http.get(origin.media_url("fast")).status_code == 200
    stream.set_fault("token_expire")
    assert http.get(origin.url("fast")).status_code == 403
    assert http.get(origin.media_url("fast")).status_code == 403
    assert http.get(origin.audio_url("fast")).status_code == 403


@pytest.mark.parametrize("fmt", ["cmaf", "llhls"])
def test_fmp4_discontinuities_restart_timestamps(origin, http, fmt) -> None:
    stream = fast_stream(origin, fmt, start_offset_segments=6, seamless_loop=False)
    for url in (origin.media_url("fast"), origin.audio_url("fast")):
        text = http.get(url).text
        wrap = "seg_0_8_" if fmt == "llhls" else "seg_8.m4s"
        assert text.index("#EXT-X-DISCONTINUITY\n") < text.index(wrap)
    wrapped = http.get(stream_url(origin, stream, "audio", 8)).content
    assert stream.media.fmp4 is not None and wrapped == stream.media.fmp4.audio.segment_bytes(0)
    seamless = fast_stream(origin, fmt, "seamless", start_offset_segments=6)
    assert "#EXT-X-DISCONTINUITY\n" not in http.get(origin.audio_url("seamless")).text
    shifted = http.get(stream_url(origin, seamless, "video", 8)).content
    assert seamless.media.fmp4 is not None
    assert shifted == seamless.media.fmp4.video[0].segment_bytes(0, loop=1) != wrapped


def stream_url(origin: HlsOrigin, stream: Stream, track: str, msn: int) -> str:
    url = origin.audio_url(stream.name) if track == "audio" else origin.media_url(stream.name)
    base, query = base_of(url), url.partition("?")[2]
    if stream.format == "llhls":
        return f"{base}seg_0_{msn}_{track}_{stream.stream_id}_llhls.m4s?{query}"
    return f"{base}seg_{msn}.m4s?{query}"


def test_formats_over_http_control_and_ts_has_no_audio_playlist(origin, http) -> None:
    added = http.post(
        origin.control_url("ll"),
        json={"action": "add", "format": "llhls", "segment_duration": 0.5, "segment_count": 8},
    )
    assert added.status_code == 200, added.text
    assert added.json()["format"] == "llhls" and "/llhls.m3u8" in added.json()["master_url"]
    bad = http.post(origin.control_url("x"), json={"action": "add", "format": "dash"})
    assert bad.status_code == 400 and "format" in bad.json()["error"]
    fast_stream(origin, "ts")
    assert http.get(origin.control_url("fast")).json()["format"] == "ts"
    with pytest.raises(ValueError, match="ts"):
        origin.audio_url("fast")


def media_streams(path: Path) -> list[str]:
    probe = subprocess.run(
        [find_ffmpeg(), "-hide_banner", "-i", str(path)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    return re.findall(r"Stream #0:\d+\S*: (Video|Audio)", probe.stderr)


@pytest.mark.parametrize("fmt", ["cmaf", "llhls"])
def test_ffmpeg_records_video_and_audio_renditions_across_the_loop_wrap(origin, tmp_path, fmt):
    fast_stream(origin, fmt, token="t", start_offset_segments=4)  # the wrap comes ~1 s in
    both, video_only = tmp_path / "both.ts", tmp_path / "video.ts"
    ffmpeg = [find_ffmpeg(), "-nostdin", "-v", "error", "-y"]
    procs = [
        subprocess.Popen(
            [*ffmpeg, "-i", origin.media_url("fast"), "-i", origin.audio_url("fast"),
             "-map", "0:v", "-map", "1:a", "-c", "copy", "-t", "5", "-f", "mpegts", str(both)],
            stderr=subprocess.PIPE,
        ),
        subprocess.Popen(
            [*ffmpeg, "-i", origin.media_url("fast"), "-c", "copy", "-t", "1", str(video_only)],
            stderr=subprocess.PIPE,
        ),
    ]  # fmt: skip
    try:
        results = [proc.communicate(timeout=30) for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
    assert [p.returncode for p in procs] == [0, 0], results
    paths = [r.path for r in origin.requests("fast")]
    assert any(re.search(r"seg_(0_)?9(_video_\w+_llhls)?\.m4s", p) for p in paths)  # wrapped
    assert media_streams(both) == ["Video", "Audio"]
    assert media_streams(video_only) == ["Video"]  # the video rendition alone has no sound
    errors = subprocess.run(
        [find_ffmpeg(), "-v", "error", "-i", str(both), "-f", "null", "-"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert errors.returncode == 0 and errors.stderr == ""
