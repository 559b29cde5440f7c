"""Picture settings (``THUMBNAILS``, ``CONTACT_SHEET``, ``THUMBNAIL_*``, ``ROOM_IMAGE_*``), part
of the recorder's settings."""

from __future__ import annotations

import re
from dataclasses import dataclass

from servicekit.settings import Env, SettingsError

_GRID = re.compile(r"^([1-9]|10)x([1-9]|10)$")


@dataclass(frozen=True)
class PictureSettings:
    #: Pictures at all: live thumbnails, room images, and each finished recording's poster
    #: and contact sheet (``THUMBNAILS=off``: none are made; those already made are served).
    enabled: bool = True
    #: The contact sheet's columns x rows (None: posters only).
    sheet: tuple[int, int] | None = (4, 4)
    #: A channel's live frame is taken again when asked and older than this.
    live_refresh: float = 60.0
    #: A channel's room image is fetched again when asked and older than this.
    room_refresh: float = 300.0
    #: Picture ffmpegs running at once in the whole recorder (niced, time-limited).
    concurrency: int = 2

    @classmethod
    def from_env(cls, env: Env | None = None) -> PictureSettings:
        e = env or Env()
        d = cls()
        return cls(
            enabled=e.flag("THUMBNAILS", d.enabled),
            sheet=contact_sheet(e.text("CONTACT_SHEET", "4x4")),
            live_refresh=e.number("THUMBNAIL_REFRESH", d.live_refresh, minimum=5.0),
            room_refresh=e.number("ROOM_IMAGE_REFRESH", d.room_refresh, minimum=30.0),
            concurrency=e.integer("THUMBNAIL_CONCURRENCY", d.concurrency, minimum=1),
        )


def contact_sheet(value: str) -> tuple[int, int] | None:
    """``"4x4"`` -> (4, 4) (columns x rows, 1 to 10 each); ``"off"`` -> None."""
    text = value.strip().lower()
    if text in ("off", "0", "no", "false"):
        return None
    found = _GRID.fullmatch(text)
    if found is None:
        raise SettingsError(f"CONTACT_SHEET must be COLUMNSxROWS (1-10 each) or off, not {value!r}")
    return int(found[1]), int(found[2])
