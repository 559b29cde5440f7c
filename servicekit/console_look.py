"""The seed's look for the console format only: an emoji per kind of message and section
banners at the moments one scrolls a terminal for (a service starting, a session starting and
ending). JSON lines never get any of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

RULE = "=" * 80
THIN_RULE = "─" * 40

# By event.action, else by its area (the part before the first dot).
_BY_ACTION = {
    "http.request": "🌐",
    "http.error": "💥",
    "http.unauthorized": "🔒",
    "grpc.request": "📡",
    "grpc.stream.open": "📡",
    "grpc.error": "💥",
    "grpc.retry": "🔁",
    "site.retry": "🔁",
    "server.start": "🚀",
    "gateway.start": "🚀",
    "launcher.ready": "🚀",
    "server.stop": "🛑",
    "server.shutdown": "🛑",
    "server.stopped": "🛑",
    "launcher.stopping": "🛑",
    "launcher.stopped": "🛑",
    "metrics.start": "📈",
    "resolver.config": "⚙️ ",
    "recorder.config": "⚙️ ",
    "ffmpeg.start": "🎬",
    "ffmpeg.stop": "🏁",
    "ffmpeg.output": "📣",
    "session.recording": "🔴",
    "session.restart": "🔁",
    "session.stall": "⏸️ ",
    "session.gap": "🕳️ ",
    "session.rotate": "✂️ ",
    "recording.finalized": "✅",
    "recording.delete": "🗑️ ",
    "recorder.low_disk": "💾",
    "autorecord.start": "▶️ ",
    "autorecord.start_failed": "❌",
}
_BY_AREA = {
    "http": "🌐",
    "sse": "📨",
    "auth": "🔑",
    "correlation": "🆔",
    "resolve": "🔎",
    "chaturbate": "🔎",
    "status": "🔎",
    "session": "🎞️ ",
    "ffmpeg": "🎥",
    "preview": "👀",
    "recording": "📼",
    "retention": "🧹",
    "autorecord": "🤖",
    "events": "📨",
    "storage": "💾",
    "recorder": "🎥",
    "launcher": "🧰",
}
# Actions that open a section (a full banner); "ffmpeg.start" of a restart gets a thin rule.
_SECTIONS = {
    "server.start": "🚀",
    "gateway.start": "🚀",
    "launcher.ready": "🚀",
    "ffmpeg.start": "🎬",
    "ffmpeg.stop": "🏁",
}


def action_emoji(action: str | None) -> str:
    """The emoji shown before a message with this ``event.action`` ("" when none fits)."""
    if not action:
        return ""
    return _BY_ACTION.get(action) or _BY_AREA.get(action.split(".", 1)[0], "")


def banner(service: str, message: str, context: Mapping[str, Any]) -> str | None:
    """The section banner that goes before a record, or None. ``context`` is the record's
    ``extra=`` fields (``event.action``, ``channel``, ``session_id``...)."""
    action = context.get("event.action")
    emoji = _SECTIONS.get(action) if isinstance(action, str) else None
    if emoji is None:
        return None
    parts = [service.upper()]
    if channel := context.get("channel"):
        parts.append(str(channel))
    if session := context.get("session_id"):
        parts.append(f"session {session}")
    restarts = context.get("restarts") if action == "ffmpeg.start" else None
    if restarts:
        parts.append(f"restart {restarts}")
    title = f"{emoji} {' · '.join(parts)} │ {message}"
    if restarts:
        return f"{THIN_RULE}\n{title}\n{THIN_RULE}"
    return f"\n{RULE}\n{title}\n{RULE}"
