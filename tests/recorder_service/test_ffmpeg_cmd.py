from dataclasses import replace
from pathlib import Path

import pytest

from recorder_service.ffmpeg_cmd import (
    PROTOCOL_WHITELIST,
    RecordJob,
    build_command,
    build_preview_command,
)
from servicekit.errors import InvalidArgument


def job(**kw):
    base = RecordJob(
        media_url="https://cdn.example/live/a/v0/index.m3u8?token=t",
        record_path=Path("/data/records/a/a_1.ts"),
        preview_dir=Path("/data/sessions/s1"),
    )
    return replace(base, **kw)


def test_records_stream_copy_to_mpegts_and_a_rolling_hls_preview():
    cmd = build_command("ffmpeg", job(hls_time=4, hls_list_size=6))
    assert cmd[0] == "ffmpeg"
    assert cmd.count("-c") == 2 and all(
        cmd[i + 1] == "copy" for i, a in enumerate(cmd) if a == "-c"
    )
    ts = cmd.index("/data/records/a/a_1.ts")
    assert cmd[ts - 1] == "+resend_headers" and "mpegts" in cmd[:ts]
    assert cmd[-1] == "/data/sessions/s1/stream.m3u8"
    assert cmd[cmd.index("-hls_time") + 1] == "4"
    assert cmd[cmd.index("-hls_list_size") + 1] == "6"
    assert cmd[cmd.index("-progress") + 1] == "pipe:1"


def test_without_the_preview_output_only_the_recording_is_written():
    cmd = build_command("ffmpeg", job(preview=False))
    assert cmd.count("-c") == 1 and cmd[-1] == "/data/records/a/a_1.ts"
    assert "hls" not in cmd and not any("sessions" in a for a in cmd)


def test_an_on_demand_preview_reads_ts_on_stdin_and_numbers_on_after_a_break():
    cmd = build_preview_command("ffmpeg", Path("/data/sessions/s1"), 2, 4, 0)
    assert cmd[cmd.index("-i") + 1] == "pipe:0" and cmd[cmd.index("-i") - 1] == "mpegts"
    assert "-nostdin" not in cmd  # stdin is the media
    assert cmd[cmd.index("-c") + 1] == "copy" and cmd[-1] == "/data/sessions/s1/stream.m3u8"
    assert cmd[cmd.index("-hls_time") + 1] == "2" and cmd[cmd.index("-hls_list_size") + 1] == "4"
    assert "discont_start" not in cmd[cmd.index("-hls_flags") + 1]
    again = build_preview_command("ffmpeg", Path("/data/sessions/s1"), 2, 4, 17)
    assert again[again.index("-start_number") + 1] == "17"
    assert "+discont_start" in again[again.index("-hls_flags") + 1]


def test_every_input_is_whitelisted_to_http_protocols():
    cmd = build_command("ffmpeg", job(audio_url="https://cdn.example/a/audio.m3u8"))
    inputs = [i for i, a in enumerate(cmd) if a == "-i"]
    assert len(inputs) == 2
    whitelists = [i for i, a in enumerate(cmd) if a == "-protocol_whitelist"]
    assert len(whitelists) == 2
    assert all(cmd[i + 1] == PROTOCOL_WHITELIST for i in whitelists)
    assert "file" not in PROTOCOL_WHITELIST.split(",")
    # separate audio: video from input 0, audio from input 1, in both outputs
    assert cmd.count("1:a:0?") == 2 and cmd.count("0:v:0?") == 2


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "concat:/etc/passwd|/etc/hosts",
        "subfile:,start,0,end,100,:/etc/passwd",
        "data:text/plain;base64,AAAA",
        "ftp://host/x.m3u8",
        "",
        "https://host/x\r\n.m3u8",
        "http:///nohost",
    ],
)
def test_refuses_anything_but_http_inputs(url):
    with pytest.raises(InvalidArgument):
        build_command("ffmpeg", job(media_url=url))
    with pytest.raises(InvalidArgument):
        build_command("ffmpeg", job(audio_url=url or "x:"))


def test_headers_are_passed_and_header_injection_refused():
    cmd = build_command("ffmpeg", job(headers={"User-Agent": "UA/1", "Referer": "https://r/"}))
    assert cmd[cmd.index("-user_agent") + 1] == "UA/1"
    assert cmd[cmd.index("-headers") + 1] == "Referer: https://r/\r\n"
    with pytest.raises(InvalidArgument):
        build_command("ffmpeg", job(headers={"X": "a\r\nInjected: yes"}))
    with pytest.raises(InvalidArgument):
        build_command("ffmpeg", job(headers={"Bad Name": "v"}))


def _output_args(cmd, record_path):
    """The record output's options: from the first ``-c copy`` to the record path."""
    first = cmd.index("-c")
    return cmd[first : cmd.index(record_path) + 1]


def test_a_time_split_is_cut_by_ffmpegs_segment_muxer_on_the_clock():
    pattern = "/data/records/a/a_%Y%m%d_%H%M%S_s1.ts"
    cmd = build_command("ffmpeg", job(record_path=Path(pattern), split_seconds=60, split_from=30))
    out = _output_args(cmd, pattern)
    assert out[out.index("-f") + 1] == "segment"
    assert out[out.index("-segment_time") + 1] == "60"
    assert out[out.index("-segment_atclocktime") + 1] == "1"
    # boundaries every 60 s from a start at second 30 of the day
    assert out[out.index("-segment_clocktime_offset") + 1] == "30"
    assert out[out.index("-strftime") + 1] == "1" and "-reset_timestamps" in out
    assert "mpegts_flags=+resend_headers" in out
    midnight = build_command(
        "ffmpeg", job(record_path=Path(pattern), split_seconds=86_400, split_on_clock=True)
    )
    assert midnight[midnight.index("-segment_clocktime_offset") + 1] == "0"


def test_a_size_split_uses_the_hls_muxers_byte_range_mode():
    pattern = "/data/records/a/a_20261121_120000_s1_p%d.ts"
    cmd = build_command("ffmpeg", job(record_path=Path(pattern), split_bytes=1 << 30))
    out = _output_args(cmd, pattern)
    assert out[out.index("-f") + 1] == "hls"
    assert out[out.index("-hls_segment_size") + 1] == str(1 << 30)
    assert out[out.index("-hls_segment_filename") + 1] == pattern
    assert out[out.index("-start_number") + 1] == "0"
    assert "mpegts_flags=+resend_headers" in out
    # its own playlist goes to the session's preview folder, never next to the recording
    assert cmd[cmd.index(pattern) + 1] == "/data/sessions/s1/record.m3u8"
    # and no flag that would delete or rename recorded parts
    assert "delete_segments" not in " ".join(out)


def test_parts_are_listed_in_recording_order(tmp_path):
    for n in (0, 1, 2, 9, 10, 11):
        (tmp_path / f"a_20261121_120000_0123456789ab_p{n}.ts").write_bytes(b"x")
    (tmp_path / "a_20261121_120000_ffffffffffff_p3.ts").write_bytes(b"x")  # another session
    j = job(
        record_path=tmp_path / "a_20261121_120000_0123456789ab_p%d.ts",
        split_bytes=1 << 20,
        part_glob="a_*_0123456789ab_p*.ts",
    )
    assert [p.name.rsplit("_p", 1)[1] for p in j.part_files()] == [
        "0.ts",
        "1.ts",
        "2.ts",
        "9.ts",
        "10.ts",
        "11.ts",
    ]


@pytest.mark.parametrize(
    "url", ["http://user:pw@cdn.example/x.m3u8", "http://cdn.example/a b.m3u8", "http://[::1/x"]
)
def test_urls_with_credentials_spaces_or_broken_hosts_are_refused(url):
    with pytest.raises(InvalidArgument) as err:
        build_command("ffmpeg", job(media_url=url))
    assert err.value.reason == "INVALID_URL"
