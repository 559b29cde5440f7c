"""Find ffmpeg: ``FFMPEG_PATH``, else ``ffmpeg`` on PATH, else the imageio-ffmpeg wheel."""

from __future__ import annotations

import os
import shutil
from functools import lru_cache


class FfmpegNotFoundError(RuntimeError):
    """No usable ffmpeg binary could be found."""


@lru_cache(maxsize=4)
def _locate(explicit: str | None) -> str:
    if explicit:
        if os.path.isfile(explicit) and os.access(explicit, os.X_OK):
            return explicit
        raise FfmpegNotFoundError(f"FFMPEG_PATH={explicit!r} is not an executable file")
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - imageio-ffmpeg is a hard dependency
        raise FfmpegNotFoundError("no ffmpeg on PATH and imageio-ffmpeg is not installed") from exc
    path: str = imageio_ffmpeg.get_ffmpeg_exe()
    return path


def find_ffmpeg(explicit: str | None = None) -> str:
    """Return the path of the ffmpeg binary to run.

    ``explicit`` (or the ``FFMPEG_PATH`` environment variable when ``explicit`` is None) wins;
    then ``ffmpeg`` on PATH; then the binary shipped by the imageio-ffmpeg wheel.
    """
    if explicit is None:
        explicit = os.environ.get("FFMPEG_PATH") or None
    return _locate(explicit)
