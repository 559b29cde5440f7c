"""The image attached to a notification service's message, where one exists: the recorder's
own still of the recording a notification is about (found next to the file), else the room
image the site gave for a channel event. Webhooks carry ``thumbnailUrl`` in their JSON instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

#: Names a still of ``records/p/name.ts`` may have next to it, in order of preference.
STILL_SUFFIXES = (".poster.jpg", ".jpg", ".jpeg", ".png", ".webp", ".thumb.jpg")


class Attachments:
    """``attachments(data) -> path or URL or None`` for the Apprise sender.

    ``finders`` are tried first: each maps a recording's path (relative to OUTPUT_DIR) to its
    still when the thumbnail code knows where that is."""

    def __init__(
        self,
        output_dir: Path,
        finders: Sequence[Callable[[str], Path | None]] = (),
    ) -> None:
        self._out = output_dir
        self._records = (output_dir / "records").resolve()
        self.finders = list(finders)

    def _inside(self, path: Path) -> bool:
        try:
            resolved = path.resolve()
        except OSError:
            return False
        return self._records in resolved.parents and resolved.is_file()

    def still_of(self, rel: str) -> Path | None:
        for finder in self.finders:
            try:
                found = finder(rel)
            except OSError:
                found = None
            if found is not None and self._inside(found):
                return found
        path = self._out / rel
        stem = path.name.rsplit(".", 1)[0]
        for suffix in STILL_SUFFIXES:
            candidate = path.with_name(stem + suffix)
            if self._inside(candidate):
                return candidate
        return None

    def __call__(self, data: dict[str, Any]) -> str | None:
        files = [data["file"]] if data.get("file") else []
        files += [f for f in data.get("files") or [] if f not in files]
        for rel in files:
            still = self.still_of(str(rel))
            if still is not None:
                return str(still)
        url = data.get("thumbnailUrl")
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            return url
        return None
