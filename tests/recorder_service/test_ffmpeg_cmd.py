from dataclasses import replace
from pathlib import Path

import pytest

from recorder_service.ffmpeg_cmd import PROTOCOL_WHITELIST, RecordJob, build_command
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
