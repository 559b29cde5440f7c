"""A short human text per event type, for notification services (Apprise): a title and one
or two lines. Webhooks get the JSON instead."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from recorder_service.notify.catalogue import EVENT_TYPES

_CHANNEL_STATES = {
    "channel.online": "is online",
    "channel.offline": "went offline",
    "channel.private": "is in a private show",
    "channel.group_show": "is in a group show",
    "channel.away": "is away",
    "channel.hidden": "hid the show",
    "channel.password_protected": "needs a password",
    "channel.geo_restricted": "is geo-restricted",
    "channel.not_found": "does not exist",
}


def duration(seconds: Any) -> str:
    s = int(float(seconds or 0))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def size(n: Any) -> str:
    value = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def percent(ratio: Any) -> str:
    return f"{float(ratio) * 100:.1f} %" if ratio is not None else "?"


def _base(file: Any) -> str:
    return str(file or "").rsplit("/", 1)[-1]


def _channel(d: dict[str, Any]) -> str:
    return str(d.get("channel") or d.get("name") or "a recording")


def _channel_text(kind: str, d: dict[str, Any]) -> tuple[str, str]:
    who = _channel(d)
    title = f"{who} {_CHANNEL_STATES[kind]}"
    lines = []
    if kind == "channel.online":
        viewers = d.get("viewers")
        lines.append(f"{who} is live on {d.get('site') or 'the site'}")
        if d.get("title"):
            lines.append(str(d["title"]))
        if viewers is not None:
            lines.append(f"{viewers} viewers")
    elif d.get("message"):
        lines.append(str(d["message"]))
    return title, "\n".join(lines) or title


def _recording(kind: str, d: dict[str, Any]) -> tuple[str, str]:
    who = _channel(d)
    totals = (
        f"{duration(d.get('mediaSeconds'))}, {size(d.get('bytes'))},"
        f" {percent(d.get('completeness'))} complete"
    )
    files = d.get("files") or []
    if kind == "recording.finished":
        return f"{who}: recording finished", f"{totals}; {len(files)} file(s)"
    if kind == "recording.failed":
        return f"{who}: recording failed", f"{d.get('reason') or 'unknown error'}\n{totals}"
    return (
        f"{who}: recording interrupted",
        f"the recorder stopped while recording; recovered {totals}",
    )


def _render(kind: str, d: dict[str, Any]) -> tuple[str, str]:
    who = _channel(d)
    if kind in _CHANNEL_STATES:
        return _channel_text(kind, d)
    texts: dict[str, Callable[[], tuple[str, str]]] = {
        "site.blocked": lambda: (
            f"{d.get('site') or 'the site'} is blocking streamrec",
            f"{str(d.get('availability') or '').replace('_', ' ').lower()}"
            f" (seen for {who}): {d.get('message') or ''}".strip(": "),
        ),
        "recording.started": lambda: (
            f"Recording {who}",
            f"started recording {who}"
            + (f" at {d['height']}p" if d.get("height") else "")
            + (f": {d['title']}" if d.get("title") else ""),
        ),
        "recording.gap": lambda: (
            f"{who}: {float(d.get('durationSeconds') or 0):.1f} s missing",
            f"{d.get('cause') or 'gap'}: {d.get('detail') or ''}".strip(": ")
            + f"\n{percent(d.get('completeness'))} complete so far",
        ),
        "recording.file_closed": lambda: (
            f"{who}: file saved",
            f"{_base(d.get('file'))} ({duration(d.get('mediaSeconds'))},"
            f" {size(d.get('sizeBytes'))}, {percent(d.get('completeness'))} complete)",
        ),
        "retention.deleted": lambda: (
            f"{who}: recording deleted by retention",
            f"{_base(d.get('file'))} ({d.get('reason')}), {size(d.get('sizeBytes'))} freed",
        ),
        "disk.low": lambda: (
            f"Disk space {str(d.get('level') or 'low').lower()}",
            f"{size(d.get('freeBytes'))} free of {size(d.get('totalBytes'))};"
            f" new recordings stop below {size(d.get('minFreeBytes'))}",
        ),
        "notification.test": lambda: (
            "streamrec test notification",
            str(d.get("message") or "If you can read this, notifications work."),
        ),
    }
    if kind in texts:
        return texts[kind]()
    return _recording(kind, d)


def human_text(kind: str, data: dict[str, Any]) -> tuple[str, str, str]:
    """``(title, body, notify type)`` of one notification."""
    title, body = _render(kind, data)
    return title, body, EVENT_TYPES[kind].level
