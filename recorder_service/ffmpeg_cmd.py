"""Builds the ffmpeg command line for one recording part. Pure: no I/O, fully unit-tested."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from servicekit.errors import InvalidArgument

# Protocols ffmpeg may open for an HLS input and everything it references (segments, keys).
PROTOCOL_WHITELIST = "http,https,tcp,tls,crypto"
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def check_input_url(url: str) -> str:
    """Refuse anything but a plain http(s) URL: ffmpeg would happily open ``file:``,
    ``concat:``, ``subfile:`` or ``data:`` and leak local files into a recording."""
    if not url or any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise InvalidArgument("input URL is empty or has control characters", reason="BAD_URL")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidArgument("only http(s) inputs are recorded", reason="UNSUPPORTED_PROTOCOL")
    return url


@dataclass(frozen=True)
class RecordJob:
    """What one ffmpeg run records, and where to."""

    media_url: str
    record_path: Path
    preview_dir: Path
    audio_url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    hls_time: int = 4
    hls_list_size: int = 6
    progress_interval: float = 2.0
    rw_timeout_s: float = 15.0
    # Split into parts every this many seconds (0 = one file). ``record_path`` is then a
    # strftime pattern and ``part_glob`` finds the parts written so far.
    split_seconds: int = 0
    # Cut on the local clock (multiples of split_seconds from midnight) instead of from start.
    split_on_clock: bool = False
    part_glob: str = ""

    def part_files(self) -> list[Path]:
        """The recording files written so far, oldest first."""
        if not self.split_seconds:
            return [self.record_path] if self.record_path.exists() else []
        return sorted(self.record_path.parent.glob(self.part_glob))


def _input_options(job: RecordJob) -> list[str]:
    opts = [
        "-protocol_whitelist",
        PROTOCOL_WHITELIST,
        "-rw_timeout",
        str(int(job.rw_timeout_s * 1_000_000)),
    ]
    headers = dict(job.headers)
    user_agent = headers.pop("User-Agent", None) or headers.pop("user-agent", None)
    if user_agent:
        opts += ["-user_agent", user_agent]
    lines = []
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name) or "\r" in value or "\n" in value:
            raise InvalidArgument(f"bad HTTP header {name!r} for ffmpeg", reason="BAD_HEADER")
        lines.append(f"{name}: {value}\r\n")
    if lines:
        opts += ["-headers", "".join(lines)]
    return opts


def _record_output(job: RecordJob) -> list[str]:
    # PAT/PMT repeated so a file cut anywhere (crash, kill) still plays from any point.
    if not job.split_seconds:
        return ["-f", "mpegts", "-mpegts_flags", "+resend_headers", str(job.record_path)]
    # ffmpeg's segment muxer cuts the parts (at the next keyframe), so no media is lost or
    # copied by us between them; timestamps run on across parts.
    clock = ["-segment_atclocktime", "1"] if job.split_on_clock else []
    return [
        "-f",
        "segment",
        "-segment_format",
        "mpegts",
        "-segment_format_options",
        "mpegts_flags=+resend_headers",
        "-segment_time",
        str(job.split_seconds),
        *clock,
        "-reset_timestamps",
        "0",
        "-strftime",
        "1",
        str(job.record_path),
    ]


def build_command(ffmpeg: str, job: RecordJob) -> list[str]:
    """The argv of an ffmpeg that records ``job``: stream copy into an MPEG-TS file (readable
    after a crash) and, from the same input, a rolling HLS preview; progress on stdout."""
    check_input_url(job.media_url)
    if job.audio_url:
        check_input_url(job.audio_url)
    cmd = [
        ffmpeg,
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "repeat+level+warning",
        "-progress",
        "pipe:1",
        "-stats_period",
        f"{job.progress_interval:g}",
        *_input_options(job),
        "-i",
        job.media_url,
    ]
    if job.audio_url:
        cmd += [*_input_options(job), "-i", job.audio_url]
        maps = ["-map", "0:v:0?", "-map", "1:a:0?"]
    else:
        maps = ["-map", "0:v?", "-map", "0:a?"]
    preview = job.preview_dir
    cmd += [*maps, "-c", "copy", *_record_output(job)]
    cmd += [
        *maps,
        "-c",
        "copy",
        "-f",
        "hls",
        "-hls_time",
        str(job.hls_time),
        "-hls_list_size",
        str(job.hls_list_size),
        "-hls_flags",
        "delete_segments+independent_segments+temp_file",
        "-hls_segment_filename",
        str(preview / "seg_%06d.ts"),
        str(preview / "stream.m3u8"),
    ]
    return cmd
