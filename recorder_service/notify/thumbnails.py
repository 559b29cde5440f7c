"""The image attached to a notification service's message, where one exists.

- a recording's event (file closed, finished, failed, interrupted): the recording's poster,
  ``{stem}.poster.jpg`` beside the file (``recording_pictures``). Posters are made in the
  background right after finalization, so a file event waits a little (``poster_wait``) for
  it before going without;
- a channel's event: the room image the site gave (``thumbnailUrl``, fetched by Apprise), else
  the last room image kept in ``OUTPUT_DIR/thumbs/{channel}.*``.

Only files under ``records/`` and ``thumbs/`` are ever attached. Webhooks carry
``thumbnailUrl`` in their JSON instead.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from recorder_service.paths import picture_name, records_root, room_image_name, thumbs_dir
from servicekit.errors import InvalidArgument

#: Events whose recording gets a poster after finalization.
FILE_EVENTS = frozenset(
    {"recording.file_closed", "recording.finished", "recording.failed", "recording.interrupted"}
)
_ROOM_IMAGE_TYPES = ("jpg", "png", "webp", "gif")


class Attachments:
    """``attachment(type, data) -> path or URL or None``, for the Apprise sender."""

    def __init__(self, output_dir: Path, *, poster_wait: float = 8.0) -> None:
        self._out = output_dir
        self._roots = (records_root(output_dir).resolve(), thumbs_dir(output_dir).resolve())
        self.poster_wait = poster_wait

    def _inside(self, path: Path) -> bool:
        try:
            resolved = path.resolve()
        except OSError:
            return False
        return any(root in resolved.parents for root in self._roots) and resolved.is_file()

    def poster_of(self, rel: str) -> Path | None:
        """The poster of the recording at ``rel`` (relative to OUTPUT_DIR), if it exists."""
        path = self._out / rel
        try:
            candidate = path.with_name(picture_name(path.name, "poster"))
        except (KeyError, ValueError):
            return None
        return candidate if self._inside(candidate) else None

    def room_image_of(self, channel: str) -> Path | None:
        for ext in _ROOM_IMAGE_TYPES:
            try:
                candidate = thumbs_dir(self._out) / room_image_name(channel, ext)
            except InvalidArgument:
                return None
            if self._inside(candidate):
                return candidate
        return None

    def find(self, data: dict[str, Any]) -> str | None:
        """What to attach now (no waiting)."""
        files = [str(data["file"])] if data.get("file") else []
        files += [str(f) for f in data.get("files") or [] if str(f) not in files]
        for rel in files:
            poster = self.poster_of(rel)
            if poster is not None:
                return str(poster)
        url = data.get("thumbnailUrl")
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            return url
        if data.get("channel") and str(data.get("type", "")).startswith("channel."):
            image = self.room_image_of(str(data["channel"]))
            return str(image) if image is not None else None
        return None

    async def __call__(self, event_type: str, data: dict[str, Any]) -> str | None:
        """What to attach, waiting up to ``poster_wait`` for a file event's poster."""
        found = self.find({**data, "type": event_type})
        if found is not None or event_type not in FILE_EVENTS or not data.get("file"):
            return found
        loop = asyncio.get_running_loop()
        end = loop.time() + self.poster_wait
        while loop.time() < end:
            await asyncio.sleep(0.25)
            found = self.find({**data, "type": event_type})
            if found is not None:
                return found
        return None
