"""The fake live HLS origin behaves like a CDN: live window, tokens, faults, ffmpeg-readable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from servicekit.ffmpeg import find_ffmpeg
from simlab.fakes import media
from simlab.fakes.__main__ import main as fakes_main
from simlab.fakes.hls_origin import HlsOrigin
from simlab.fakes.live_stream import Stream
from simlab.fakes.media import DEFAULT_VARIANTS, VariantSpec, ensure_media

# A tiny, quick loop: 8 segments of 0.5 s (10 frames at 20 fps), two renditions.
FAST = {
    "variants": (VariantSpec(320, 180, 20, 200), VariantSpec(160, 90, 20, 100)),
    "segment_duration": 0.5,
    "segment_count": 8,
    "window": 3,
}
REPO = Path(__file__).resolve().parents[1]


def playlist_tags(text: str, tag: str) -> list[str]:
    return [line.split(":", 1)[1] for line in text.splitlines() if line.startswith(tag + ":")]


def media_sequence(text: str) -> int:
    return int(playlist_tags(text, "#EXT-X-MEDIA-SEQUENCE")[0])


def segment_uris(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def fast_stream(origin: HlsOrigin, name: str = "fast", **overrides: object) -> Stream:
    return origin.add_stream(name, **{**FAST, **overrides})  # type: ignore[arg-type]


def test_media_generation_is_cached_with_true_durations(tmp_path: Path) -> None:
    spec = (VariantSpec(160, 90, 20, 100),)
    first = ensure_media(spec, segment_duration=0.5, segment_count=4, cache_dir=tmp_path)
    variant = first.variants[0]
    generated_at = (variant.directory / "meta.json").stat().st_mtime_ns
    media._ensure_variant.cache_clear()  # as if in a new process
    again = ensure_media(spec, segment_duration=0.5, segment_count=4, cache_dir=tmp_path)
    assert again == first
    assert (variant.directory / "meta.json").stat().st_mtime_ns == generated_at
    assert [p.name for p in tmp_path.iterdir()] == [variant.directory.name]  # no temp dir left
    assert variant.durations == (0.5,) * 4 and variant.segment_path(3).is_file()
    assert variant.codecs.startswith("avc1.") and variant.codecs.endswith(",mp4a.40.2")
    assert variant.bandwidth > 100_000


def test_master_lists_default_variants_with_relative_tokenized_uris(origin, http) -> None:
    origin.add_stream("room", token="s3cret")
    response = http.get(origin.url("room"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert int(response.headers["content-length"]) == len(response.content)
    lines = response.text.splitlines()
    assert lines[:2] == ["#EXTM3U", "#EXT-X-VERSION:3"]
    infs = playlist_tags(response.text, "#EXT-X-STREAM-INF")
    assert len(infs) == len(DEFAULT_VARIANTS)
    assert "RESOLUTION=640x360" in infs[0] and "FRAME-RATE=30.000" in infs[0]
    assert 'CODECS="avc1.' in infs[0] and "BANDWIDTH=" in infs[0]
    assert segment_uris(response.text) == [
        "v0/index.m3u8?token=s3cret",
        "v1/index.m3u8?token=s3cret",
    ]
    media = http.get(origin.media_url("room", 1))
    assert media.status_code == 200
    assert all(uri.endswith(".ts?token=s3cret") for uri in segment_uris(media.text))
    assert playlist_tags(media.text, "#EXTINF") == ["2.000000,"] * 6


def test_media_playlist_is_live_and_advances_in_real_time(origin, http) -> None:
    fast_stream(origin)
    first = http.get(origin.media_url("fast")).text
    assert media_sequence(first) == 0 and segment_uris(first) == [
        "seg_0.ts",
        "seg_1.ts",
        "seg_2.ts",
    ]
    assert "#EXT-X-ENDLIST" not in first
    assert playlist_tags(first, "#EXT-X-TARGETDURATION") == ["1"]
    assert len(playlist_tags(first, "#EXT-X-PROGRAM-DATE-TIME")) == 3
    time.sleep(1.1)
    later = http.get(origin.media_url("fast")).text
    assert media_sequence(later) == 2
    assert segment_uris(later) == ["seg_2.ts", "seg_3.ts", "seg_4.ts"]


def test_segments_outside_the_window_and_grace_are_404(origin, http) -> None:
    fast_stream(origin, start_offset_segments=10, grace_segments=2)
    base = origin.base_url + "/live/fast/v0/"
    assert segment_uris(http.get(origin.media_url("fast")).text)[0] == "seg_10.ts"
    segment = http.get(base + "seg_11.ts")
    assert segment.status_code == 200 and segment.headers["content-type"] == "video/mp2t"
    assert segment.content[0] == 0x47  # MPEG-TS sync byte
    assert http.get(base + "seg_8.ts").status_code == 200  # listed no more, still in grace
    assert http.get(base + "seg_7.ts").status_code == 404
    assert http.get(base + "seg_13.ts").status_code == 404  # not yet published
    assert http.get(origin.base_url + "/live/fast/v9/index.m3u8").status_code == 404
    assert http.get(origin.base_url + "/live/nope/master.m3u8").status_code == 404


def test_token_is_required_on_every_url(origin, http) -> None:
    fast_stream(origin, token="tok")
    base = origin.base_url + "/live/fast/"
    for path in ("master.m3u8", "v0/index.m3u8", "v0/seg_1.ts"):
        assert http.get(base + path).status_code == 403
        assert http.get(base + path + "?token=wrong").status_code == 403
        assert http.get(base + path + "?token=tok").status_code == 200


def test_seamless_loop_wrap_shifts_timestamps_without_discontinuity(origin, http) -> None:
    stream = fast_stream(origin, start_offset_segments=6)
    text = http.get(origin.media_url("fast")).text
    assert "#EXT-X-DISCONTINUITY\n" not in text and "seg_8.ts" in text
    wrapped = http.get(origin.base_url + "/live/fast/v0/seg_8.ts").content
    source = stream.media.variants[0].segment_bytes(0)
    assert len(wrapped) == len(source) and wrapped != source


def test_discontinuous_loop_wrap_restarts_the_source_bytes(origin, http) -> None:
    stream = fast_stream(origin, start_offset_segments=6, seamless_loop=False)
    text = http.get(origin.media_url("fast")).text
    assert text.index("#EXT-X-DISCONTINUITY\n") < text.index("seg_8.ts")
    assert playlist_tags(text, "#EXT-X-DISCONTINUITY-SEQUENCE") == ["0"]
    wrapped = http.get(origin.base_url + "/live/fast/v0/seg_8.ts").content
    assert wrapped == stream.media.variants[0].segment_bytes(0)
    fast_stream(origin, "later", start_offset_segments=8, seamless_loop=False)
    later = http.get(origin.media_url("later")).text
    assert playlist_tags(later, "#EXT-X-DISCONTINUITY-SEQUENCE") == ["1"]
    assert "#EXT-X-DISCONTINUITY\n" not in later


def test_stall_freezes_the_playlist_then_the_window_jumps_ahead(origin, http) -> None:
    stream = fast_stream(origin)
    stream.set_fault("stall", duration=1.2)
    frozen = http.get(origin.media_url("fast")).text
    time.sleep(0.8)
    assert http.get(origin.media_url("fast")).text == frozen
    assert http.get(origin.base_url + "/live/fast/v0/seg_3.ts").status_code == 404
    time.sleep(0.5)
    assert media_sequence(http.get(origin.media_url("fast")).text) >= 2


def test_http_error_hits_its_target_for_a_count_or_a_duration(origin, http) -> None:
    stream = fast_stream(origin)
    stream.set_fault("http_error", status=503, target="segment", count=2)
    segment = origin.base_url + "/live/fast/v0/seg_1.ts"
    assert http.get(origin.media_url("fast")).status_code == 200
    assert [http.get(segment).status_code for _ in range(3)] == [503, 503, 200]
    stream.set_fault("http_error", status=404, target="playlist", duration=0.3)
    assert http.get(origin.media_url("fast")).status_code == 404
    assert http.get(origin.url("fast")).status_code == 200
    time.sleep(0.35)
    assert http.get(origin.media_url("fast")).status_code == 200
    stream.set_fault("http_error", status=500)
    assert http.get(origin.url("fast")).status_code == 500
    stream.clear_faults()
    assert http.get(segment).status_code == 200


def test_window_jump_skips_segments_at_once(origin, http) -> None:
    stream = fast_stream(origin)
    stream.set_fault("window_jump", segments=5)
    text = http.get(origin.media_url("fast")).text
    assert media_sequence(text) == 5 and segment_uris(text)[-1] == "seg_7.ts"


def test_slow_delays_every_response(origin, http) -> None:
    stream = fast_stream(origin)
    stream.set_fault("slow", delay=0.4, duration=5)
    started = time.monotonic()
    assert http.get(origin.url("fast")).status_code == 200
    assert time.monotonic() - started >= 0.4


def test_expired_token_is_403_until_rotated(origin, http) -> None:
    stream = fast_stream(origin, token="old")
    old_url = origin.media_url("fast")
    stream.set_fault("token_expire")
    assert http.get(old_url).status_code == 403
    stream.clear_faults()  # an expired token stays expired
    assert http.get(old_url).status_code == 403
    stream.rotate_token("new")
    assert http.get(old_url).status_code == 403
    assert origin.media_url("fast").endswith("?token=new")
    assert http.get(origin.media_url("fast")).status_code == 200


def test_injected_discontinuity_restarts_the_source(origin, http) -> None:
    stream = fast_stream(origin)
    stream.set_fault("discontinuity")
    time.sleep(0.55)
    text = http.get(origin.media_url("fast")).text
    assert text.index("#EXT-X-DISCONTINUITY\n") < text.index("seg_3.ts")
    restarted = http.get(origin.base_url + "/live/fast/v0/seg_3.ts").content
    assert restarted == stream.media.variants[0].segment_bytes(0)
    assert playlist_tags(text, "#EXT-X-DISCONTINUITY-SEQUENCE") == ["0"]
    stream.set_fault("window_jump", segments=2)  # seg_3 becomes the first listed segment
    text = http.get(origin.media_url("fast")).text
    assert playlist_tags(text, "#EXT-X-DISCONTINUITY-SEQUENCE") == ["1"]
    assert "#EXT-X-DISCONTINUITY\n" not in text


def test_end_offline_and_remove(origin, http) -> None:
    stream = fast_stream(origin)
    stream.end()
    ended = http.get(origin.media_url("fast")).text
    assert ended.rstrip().endswith("#EXT-X-ENDLIST")
    stream.go_offline()
    assert http.get(origin.url("fast")).status_code == 404
    stream.go_online()
    assert http.get(origin.url("fast")).status_code == 200
    origin.remove_stream("fast")
    assert http.get(origin.base_url + "/live/fast/master.m3u8").status_code == 404


def test_faults_and_actions_over_http_control(origin, http) -> None:
    fast_stream(origin, token="a")
    control = origin.control_url("fast")
    state = http.post(control, json={"fault": "http_error", "status": 500, "target": "segment"})
    assert state.status_code == 200
    assert state.json()["faults"]["http_error"]["status"] == 500
    assert http.get(control).json()["media_sequence"] == 0
    assert http.post(control, json={"fault": "bogus"}).status_code == 400
    assert http.post(control, content=b"not json").status_code == 400
    assert http.post(origin.control_url("nope"), json={"action": "end"}).status_code == 404
    assert http.post(control, json={"action": "clear_faults"}).json()["faults"] == {}
    rotated = http.post(control, json={"action": "rotate_token", "token": "b"}).json()
    assert rotated["master_url"] == origin.url("fast") and rotated["token"] == "b"
    added = http.post(origin.control_url("new"), json={"action": "add", **{"window": 2}})
    assert added.status_code == 200 and added.json()["window"] == 2
    bad = http.post(origin.control_url("bad"), json={"action": "add", "window": 0})
    assert bad.status_code == 400 and "window" in bad.json()["error"]
    names = [s["name"] for s in http.get(origin.base_url + "/_control").json()["streams"]]
    assert sorted(names) == ["fast", "new"]


def test_request_log_counts_by_kind(origin, http) -> None:
    fast_stream(origin)
    http.get(origin.url("fast"))
    http.get(origin.media_url("fast"))
    http.get(origin.media_url("fast", 1))
    http.get(origin.base_url + "/live/fast/v0/seg_99.ts")
    assert origin.request_count("fast") == 4
    assert origin.request_count("fast", "playlist") == 2
    assert origin.request_count("fast", "segment") == 1
    assert [r.status for r in origin.requests("fast")] == [200, 200, 200, 404]
    assert origin.requests("fast")[-1].path == "/live/fast/v0/seg_99.ts"


def test_ffmpeg_records_across_the_loop_wrap_without_a_warning(origin, tmp_path) -> None:
    fast_stream(origin, token="t", start_offset_segments=4)  # the wrap comes ~1 s in
    out = tmp_path / "out.ts"
    cmd = [find_ffmpeg(), "-nostdin", "-v", "warning", "-y", "-i", origin.media_url("fast", 0)]
    proc = subprocess.Popen([*cmd, "-c", "copy", "-t", "4", str(out)], stderr=subprocess.PIPE)
    try:
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0 and stderr == b"", stderr
    assert origin.request_count("fast", "playlist") >= 3  # it followed the live edge
    assert "/live/fast/v0/seg_9.ts?token=t" in [r.path for r in origin.requests("fast")]
    check = subprocess.run(
        [find_ffmpeg(), "-hide_banner", "-v", "info", "-i", str(out), "-f", "null", "-"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert check.returncode == 0
    assert "Duration: 00:00:04.0" in check.stderr
    errors = subprocess.run(
        [find_ffmpeg(), "-v", "error", "-i", str(out), "-f", "null", "-"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert errors.returncode == 0 and errors.stderr == ""


def test_stop_closes_kept_alive_connections_and_joins(http) -> None:
    origin = HlsOrigin().start()
    fast_stream(origin)
    url = origin.url("fast")
    assert http.get(url).status_code == 200  # leaves a keep-alive connection open
    started = time.monotonic()
    origin.stop()
    assert time.monotonic() - started < 2
    with pytest.raises(httpx.TransportError):
        httpx.get(url, timeout=2)


def test_demo_entry_point_logs_urls_and_exits_0_on_sigterm(tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "simlab.fakes", "--port", "0", "--stream", "a", "--stream", "b"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        lines = [proc.stderr.readline() for _ in range(2)]
        urls = [line.rsplit(" ", 1)[1].strip() for line in lines]
        assert [u.rsplit("/", 2)[1] for u in urls] == ["a", "b"]
        assert httpx.get(urls[1], timeout=5).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        if proc.stderr is not None:
            proc.stderr.close()


def wait_log_line(path: Path, proc: subprocess.Popen[bytes], text: str, timeout: float = 30) -> str:
    """The first line of ``path`` containing ``text``, once written (fails if the process ends)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [line for line in path.read_text().splitlines() if text in line]
        if found:
            return found[0]
        assert proc.poll() is None, path.read_text()
        assert time.monotonic() < deadline, f"no {text!r} in {path.read_text()}"
        time.sleep(0.05)


def test_demo_entry_point_with_site_port_serves_a_room_per_stream(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "simlab.fakes", "--port", "0", "--site-port", "0"]
    log_path = tmp_path / "fakes.log"
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [*cmd, "--stream", "a", "--stream", "b"], cwd=REPO, env=env, stderr=out
        )
    try:
        wait_log_line(log_path, proc, "site control:")
        site = wait_log_line(log_path, proc, "fake chaturbate.com:").rsplit(" ", 1)[1]
        stream_b = wait_log_line(log_path, proc, "stream b:").rsplit(" ", 1)[1]
        assert f"room b: {site}/b/" in log_path.read_text()
        with httpx.Client(timeout=5) as http:
            room = http.get(f"{site}/api/chatvideocontext/b/").json()
            assert room["room_status"] == "public" and room["hls_source"] == stream_b
            assert room["num_users"] > 0 and room["room_title"]
            assert http.get(room["hls_source"]).status_code == 200
            assert http.get(f"{site}/ri/a.jpg").status_code == 200
            assert http.get(f"{site}/api/chatvideocontext/c/").status_code == 404
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{site}/api/chatvideocontext/b/", timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_demo_entry_point_refuses_a_stream_name_that_cannot_be_a_room(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        fakes_main(["--port", "0", "--site-port", "0", "--stream", "not-a-user"])
    assert exited.value.code == 2
    assert "not-a-user" in capsys.readouterr().err
