"""Human output: sizes, durations, aligned tables and detail blocks (``--json`` is shapes.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from streamrec.v1 import channel_service_pb2, recording_service_pb2, session_pb2
from streamrec_cli.shapes import (
    SOURCE_NAMES,
    channel_availability,
    channel_key,
    channel_site,
    disk_json,
    quality_json,
    recording_state,
    seconds,
    session_site,
    session_state,
)

NONE = "-"
_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def format_size(n: int) -> str:
    """``512 B``, ``1.5 KiB``, ``12.3 MiB``, ``1.2 GiB`` (powers of 1024)."""
    if n < 1024:
        return f"{max(n, 0)} B"
    value = float(n)
    for unit in _UNITS:
        value /= 1024
        if round(value, 1) < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def format_duration(secs: float) -> str:
    """``H:MM:SS`` (hours grow past 24; fractions of a second are dropped)."""
    total = max(int(secs), 0)
    hours, rest = divmod(total, 3600)
    minutes, sec = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{sec:02d}"


def format_bitrate(kbps: float) -> str:
    if kbps <= 0:
        return NONE
    if kbps < 1000:
        return f"{kbps:.0f} kb/s"
    return f"{kbps / 1000:.2f} Mb/s"


def format_speed(speed: float) -> str:
    return f"{speed:.2f}x" if speed > 0 else NONE


def to_local(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC).astimezone()


def format_time(ts: Timestamp, present: bool) -> str:
    """Local time, ``2025-06-01 14:00:05``; ``-`` when unset."""
    if not present:
        return NONE
    return to_local(ts).strftime("%Y-%m-%d %H:%M:%S")


def format_age(ts: Timestamp, present: bool, now: datetime) -> str:
    """How long ago: ``4s ago``, ``3m ago``, ``2h ago``; ``-`` when unset."""
    if not present:
        return NONE
    delta = max(int((now - ts.ToDatetime(tzinfo=UTC)).total_seconds()), 0)
    if delta < 120:
        return f"{delta}s ago"
    if delta < 7200:
        return f"{delta // 60}m ago"
    return f"{delta // 3600}h ago"


def table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], right: Iterable[int] = ()
) -> list[str]:
    """Aligned columns two spaces apart; the columns in ``right`` are right-aligned. No line
    ends in spaces."""
    body = [list(r) for r in rows]
    widths = [len(h) for h in headers]
    for row in body:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    right_set = set(right)
    lines = []
    for row in [list(headers), *body]:
        cells = [
            cell.rjust(w) if i in right_set else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def details(pairs: Iterable[tuple[str, str]]) -> str:
    """``key  value`` lines, keys padded to one width; pairs with an empty value are left out."""
    kept = [(k, v) for k, v in pairs if v]
    width = max((len(k) for k, _ in kept), default=0)
    return "".join(f"{k.ljust(width)}  {v}\n" for k, v in kept)


# -- sessions --------------------------------------------------------------------------------

SESSION_HEADERS = ("ID", "PERSON", "STATE", "SIZE", "MEDIA", "BITRATE", "STARTED")


def session_row(s: session_pb2.Session) -> list[str]:
    return [
        s.session_id,
        s.person,
        session_state(s),
        format_size(s.bytes_written),
        format_duration(seconds(s.media_duration)),
        format_bitrate(s.bitrate_kbps),
        format_time(s.start_time, s.HasField("start_time")),
    ]


def sessions_table(sessions: Sequence[session_pb2.Session]) -> str:
    lines = table(SESSION_HEADERS, [session_row(s) for s in sessions], right=(3, 4, 5))
    return "".join(line + "\n" for line in lines)


def variant_text(s: session_pb2.Session) -> str:
    if not s.HasField("variant"):
        return ""
    v = s.variant
    text = f"{v.width}x{v.height}" if v.width and v.height else (v.name or "")
    if v.fps:
        text += f"@{v.fps:g}"
    if v.bandwidth:
        text += f" ({v.bandwidth / 1000:.0f} kb/s)"
    return text.strip()


def session_detail(s: session_pb2.Session) -> str:
    return details(
        [
            ("session", s.session_id),
            ("person", s.person),
            ("name", s.name if s.name != s.person else ""),
            ("state", session_state(s)),
            ("target", s.target),
            ("site", session_site(s) or ""),
            ("source", SOURCE_NAMES.get(s.source_type, "auto")),
            ("started", format_time(s.start_time, s.HasField("start_time"))),
            ("ended", format_time(s.end_time, True) if s.HasField("end_time") else ""),
            ("size", format_size(s.bytes_written)),
            ("media", format_duration(seconds(s.media_duration))),
            ("bitrate", format_bitrate(s.bitrate_kbps) if s.bitrate_kbps else ""),
            ("variant", variant_text(s)),
            ("files", ", ".join(s.record_paths)),
            ("restarts", str(s.restarts) if s.restarts else ""),
            ("channel", s.channel),
            ("end reason", s.end_reason),
            ("request id", s.correlation_id),
        ]
    )


# -- channels --------------------------------------------------------------------------------

CHANNEL_HEADERS = (
    "SITE",
    "USERNAME",
    "NAME",
    "AUTO",
    "STATUS",
    "DAYS",
    "MAX SIZE",
    "MAX FILES",
    "TARGET",
)


def _limit(value: int, text: str) -> str:
    return text if value else NONE


def channel_status(c: channel_service_pb2.Channel) -> str:
    if c.session_id:
        return f"recording {c.session_id}"
    if c.last_error:
        return "error"
    return (channel_availability(c) or NONE).lower()


def channel_row(c: channel_service_pb2.Channel) -> list[str]:
    return [
        channel_site(c),
        c.username,
        c.name,
        "yes" if c.auto_record else "no",
        channel_status(c),
        _limit(c.retention_days, f"{c.retention_days}d"),
        _limit(c.max_bytes, format_size(c.max_bytes)),
        _limit(c.max_count, str(c.max_count)),
        c.target or NONE,
    ]


def channels_table(channels: Sequence[channel_service_pb2.Channel]) -> str:
    lines = table(CHANNEL_HEADERS, [channel_row(c) for c in channels], right=(5, 6, 7))
    return "".join(line + "\n" for line in lines)


def quality_text(c: channel_service_pb2.Channel) -> str:
    if not c.HasField("quality"):
        return "best"
    q = quality_json(c.quality)
    if q["policy"] == "best" or not q["height"]:
        return "best"
    return f"{q['height']}p ({q['policy'].replace('_', ' ')})"


def channel_detail(c: channel_service_pb2.Channel) -> str:
    return details(
        [
            ("key", channel_key(c)),
            ("site", channel_site(c)),
            ("username", c.username),
            ("name", c.name),
            ("target", c.target or f"{c.username} (the username)"),
            ("source", SOURCE_NAMES.get(c.source_type, "auto")),
            ("auto record", "yes" if c.auto_record else "no"),
            ("quality", quality_text(c)),
            ("keep days", _limit(c.retention_days, str(c.retention_days))),
            ("max size", _limit(c.max_bytes, format_size(c.max_bytes))),
            ("max files", _limit(c.max_count, str(c.max_count))),
            ("status", channel_status(c)),
            ("last error", c.last_error),
        ]
    )


# -- recordings ------------------------------------------------------------------------------

RECORDING_HEADERS = ("FILE", "STATE", "SIZE", "DURATION", "STARTED", "PINNED", "GAPS")


def recording_row(r: recording_service_pb2.Recording) -> list[str]:
    return [
        r.file_name,
        recording_state(r),
        format_size(r.size_bytes),
        format_duration(seconds(r.media_duration)),
        format_time(r.start_time, r.HasField("start_time")),
        "yes" if r.pinned else "",
        str(len(r.gaps)) if r.gaps else "",
    ]


def recordings_table(recordings: Sequence[recording_service_pb2.Recording]) -> str:
    lines = table(RECORDING_HEADERS, [recording_row(r) for r in recordings], right=(2, 3, 6))
    return "".join(line + "\n" for line in lines)


def retention_text(r: recording_service_pb2.RunRetentionResponse) -> str:
    verb = "would delete" if r.dry_run else "deleted"
    files = "file" if r.files_deleted == 1 else "files"
    out = [f"{verb} {r.files_deleted} {files} ({format_size(r.bytes_freed)})\n"]
    for c in r.channels:
        out.append(f"  {c.person}: {c.files_deleted} ({format_size(c.bytes_freed)})\n")
        out.extend(f"    {name}\n" for name in c.files)
    out.append(f"free space: {format_size(r.free_bytes)}\n")
    return "".join(out)


# -- disk ------------------------------------------------------------------------------------


def disk_text(s: recording_service_pb2.GetStorageResponse) -> str:
    d = disk_json(s)
    return details(
        [
            ("level", d["level"]),
            ("free", format_size(s.free_bytes)),
            ("used", f"{format_size(s.used_bytes)} of {format_size(s.total_bytes)}"),
            ("recordings", format_size(s.recordings_bytes)),
            ("watermark", _limit(s.min_free_bytes, format_size(s.min_free_bytes))),
        ]
    )
