"""Builds the ffmpeg command line for one recording part. Pure: no I/O, fully unit-tested."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from recorder_service.paths import part_order
from servicekit.errors import InvalidArgument

# Protocols ffmpeg may open for an HLS input and everything it references (segments, keys).
PROTOCOL_WHITELIST = "http,https,tcp,tls,crypto"
# Through an HTTP proxy, https inputs are tunnelled (CONNECT) by ffmpeg's httpproxy protocol.
PROXY_PROTOCOL_WHITELIST = PROTOCOL_WHITELIST + ",httpproxy"
# Proxy variables of the recorder's own environment, never passed on to a proxied ffmpeg.
_PROXY_VARIABLES = frozenset({"http_proxy", "https_proxy", "all_proxy", "no_proxy"})
# What stands for the CDN proxy wherever text about ffmpeg's work is logged or shown.
PROXY_PLACEHOLDER = "[cdn-proxy]"
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def check_input_url(url: str) -> str:
    """Refuse anything but a plain http(s) URL: ffmpeg would happily open ``file:``,
    ``concat:``, ``subfile:`` or ``data:`` and leak local files into a recording."""
    if not url or any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise InvalidArgument("input URL is empty or has control characters", reason="BAD_URL")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:  # e.g. "http://[::1/x.m3u8": Invalid IPv6 URL
        raise InvalidArgument(f"malformed URL: {exc}", reason="INVALID_URL") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise InvalidArgument("only http(s) inputs are recorded", reason="UNSUPPORTED_PROTOCOL")
    if parts.username is not None or parts.password is not None or any(c.isspace() for c in url):
        # Credentials would be stored, listed and logged; a space is no URL ffmpeg can open.
        raise InvalidArgument("the URL must not carry credentials or spaces", reason="INVALID_URL")
    return url


def check_proxy_url(url: str) -> str:
    """Refuse a CDN proxy ffmpeg cannot use: only ``http://[user:password@]host:port`` (ffmpeg
    speaks no other proxy protocol). The error never repeats the URL: it may carry a
    password."""
    bad = InvalidArgument(
        "the CDN proxy must be http://[user:password@]host:port (ffmpeg speaks no other)",
        reason="UNSUPPORTED_CDN_PROXY",
    )
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise bad
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise bad from None
    if parts.scheme.lower() != "http" or not host or port is None:
        raise bad
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise bad
    return url


def proxy_secrets(proxy: str) -> tuple[str, ...]:
    """The strings that give a CDN proxy away, longest first: the URL itself, its
    ``user:password@host:port`` and ``host:port``, its password and user name (as written
    and as decoded)."""
    if not proxy:
        return ()
    try:
        parts = urlsplit(proxy)
        found = {proxy, proxy.rstrip("/"), parts.netloc}
        if parts.hostname and parts.port:
            found.add(f"{parts.hostname}:{parts.port}")
        for secret in (parts.password, parts.username):
            if secret:
                found |= {secret, unquote(secret)}
    except ValueError:
        found = {proxy}
    # Short fragments would blank out unrelated text (a one-letter user name).
    return tuple(sorted((s for s in found if len(s) >= 3), key=len, reverse=True))


def hide_proxy(text: str, proxy: str) -> str:
    """``text`` with every trace of the CDN proxy (URL, host:port, credentials) replaced by
    PROXY_PLACEHOLDER: for ffmpeg's log lines, errors, reasons and anything else shown."""
    for secret in proxy_secrets(proxy):
        text = text.replace(secret, PROXY_PLACEHOLDER)
    return text


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
    # Local time of day (seconds) the session started: cuts fall every split_seconds from it
    # (unless split_on_clock).
    split_from: int = 0
    # Split into a new part once a part passes this many bytes (0 = no). ``record_path`` is
    # then a pattern numbering the parts (``%d``).
    split_bytes: int = 0
    part_glob: str = ""
    # Where in the live window to start (ffmpeg's -live_start_index: from the start when >= 0,
    # from the end when < 0; None: ffmpeg's default, 3 segments from the end). Set on restarts
    # to resume after the last recorded segment.
    live_start_index: int | None = None
    audio_live_start_index: int | None = None
    # First part number of a size split (restarts continue the numbering).
    start_number: int = 0
    # The rolling live preview as a second output of the recording ffmpeg (PREVIEW=always).
    # Otherwise previews are made on demand by a separate ffmpeg (``preview.py``).
    preview: bool = True
    # The HTTP proxy ffmpeg reads the CDN through ("" for none). May carry credentials: kept
    # out of repr, and out of every log line, event and session field (``hide_proxy``).
    http_proxy: str = field(default="", repr=False)
    # Hosts ffmpeg reaches directly even through a proxy (the resolver's playlist relay).
    direct_hosts: tuple[str, ...] = ()

    def part_files(self) -> list[Path]:
        """The recording files written so far, oldest first."""
        if not self.split_seconds and not self.split_bytes:
            return [self.record_path] if self.record_path.exists() else []
        return sorted(self.record_path.parent.glob(self.part_glob), key=part_order)


def _input_options(job: RecordJob, live_start_index: int | None = None) -> list[str]:
    opts = [] if live_start_index is None else ["-live_start_index", str(live_start_index)]
    opts += [
        "-protocol_whitelist",
        PROXY_PROTOCOL_WHITELIST if job.http_proxy else PROTOCOL_WHITELIST,
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
    if job.split_bytes:
        # The HLS muxer's byte-range mode starts a new file at the first segment boundary
        # (a keyframe, every hls_time seconds) once the file passes hls_segment_size. Its
        # playlist is not ours to keep: one entry, in the session's preview folder.
        return [
            "-f",
            "hls",
            "-hls_time",
            str(job.hls_time),
            "-hls_segment_size",
            str(job.split_bytes),
            "-hls_list_size",
            "1",
            "-hls_segment_type",
            "mpegts",
            "-start_number",
            str(job.start_number),
            "-hls_segment_options",
            "mpegts_flags=+resend_headers",
            "-hls_segment_filename",
            str(job.record_path),
            str(job.preview_dir / "record.m3u8"),
        ]
    if not job.split_seconds:
        return ["-f", "mpegts", "-mpegts_flags", "+resend_headers", str(job.record_path)]
    # ffmpeg's segment muxer cuts the parts (at the next keyframe), so no media is lost or
    # copied by us between them; timestamps run on across parts. Always at wall-clock
    # boundaries, never by media time: ffmpeg names a part after the second it opens it, and
    # the media read in a burst at the start (three segments behind the live edge) would cross
    # a media-time boundary within that second, reopening and truncating the same file name.
    # A clock boundary is a whole second, and a cut needs one passed after the current part
    # was opened, so no two parts ever share a name. ffmpeg cuts where the local time of day
    # plus the offset is a multiple of segment_time (and at midnight, unless that divides a
    # day): the offset puts the boundaries every split_seconds from the start.
    offset = 0 if job.split_on_clock else -job.split_from % job.split_seconds
    clock = ["-segment_atclocktime", "1", "-segment_clocktime_offset", str(offset)]
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


def ffmpeg_env(job: RecordJob) -> dict[str, str] | None:
    """The environment of the ffmpeg that records ``job``: the CDN proxy goes in ``http_proxy``
    (ffmpeg's http and tls protocols read it for every playlist, key and segment request, https
    tunnelled with CONNECT), not on the command line where ``ps`` would show its password;
    ``no_proxy`` names the hosts read directly (the resolver's relay). None: inherit as is."""
    if not job.http_proxy:
        return None
    env = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARIABLES}
    env["http_proxy"] = job.http_proxy
    if job.direct_hosts:
        env["no_proxy"] = ",".join(job.direct_hosts)
    return env


def build_command(ffmpeg: str, job: RecordJob) -> list[str]:
    """The argv of an ffmpeg that records ``job``: stream copy into an MPEG-TS file (readable
    after a crash) and, with ``job.preview`` (PREVIEW=always), from the same input a rolling
    HLS preview; progress on stdout."""
    check_input_url(job.media_url)
    if job.audio_url:
        check_input_url(job.audio_url)
    if job.http_proxy:
        check_proxy_url(job.http_proxy)
    cmd = [
        ffmpeg,
        "-hide_banner",
        "-nostats",
        # info: the watchdog follows which segment ffmpeg opens ("Opening '...' for reading");
        # only warnings and errors are logged.
        "-loglevel",
        "repeat+level+info",
        "-progress",
        "pipe:1",
        "-stats_period",
        f"{job.progress_interval:g}",
        *_input_options(job, job.live_start_index),
        "-i",
        job.media_url,
    ]
    if job.audio_url:
        cmd += [*_input_options(job, job.audio_live_start_index), "-i", job.audio_url]
        maps = ["-map", "0:v:0?", "-map", "1:a:0?"]
    else:
        maps = ["-map", "0:v?", "-map", "0:a?"]
    cmd += [*maps, "-c", "copy", *_record_output(job)]
    if job.preview:
        cmd += [
            *maps,
            "-c",
            "copy",
            *preview_output(job.preview_dir, job.hls_time, job.hls_list_size),
        ]
    return cmd


def preview_output(
    preview_dir: Path, hls_time: int, hls_list_size: int, start_number: int = 0
) -> list[str]:
    """The options of a rolling HLS preview output: ``stream.m3u8`` and ``seg_NNNNNN.ts``."""
    return [
        "-f",
        "hls",
        "-hls_time",
        str(hls_time),
        "-hls_list_size",
        str(hls_list_size),
        "-hls_flags",
        "delete_segments+independent_segments+temp_file"
        + ("+discont_start" if start_number else ""),
        "-start_number",
        str(start_number),
        "-hls_segment_filename",
        str(preview_dir / "seg_%06d.ts"),
        str(preview_dir / "stream.m3u8"),
    ]


def build_preview_command(
    ffmpeg: str, preview_dir: Path, hls_time: int, hls_list_size: int, start_number: int
) -> list[str]:
    """The argv of an on-demand preview ffmpeg: MPEG-TS (the recording's own bytes, fed by the
    recorder) on stdin, stream copy into a rolling HLS playlist. A preview that starts again
    numbers its segments on from ``start_number`` and marks the break as a discontinuity."""
    return [
        ffmpeg,
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "repeat+level+warning",
        "-f",
        "mpegts",
        "-i",
        "pipe:0",
        "-map",
        "0:v?",
        "-map",
        "0:a?",
        "-c",
        "copy",
        *preview_output(preview_dir, hls_time, hls_list_size, start_number),
    ]
