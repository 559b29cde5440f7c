"""Checks on recorded files, with the same ffmpeg the recorder uses."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from servicekit.ffmpeg import find_ffmpeg


@dataclass(frozen=True)
class DecodeResult:
    ok: bool
    seconds: float
    errors: str


def decode(path: Path) -> DecodeResult:
    """Decode every frame of ``path`` to nowhere: ok only if ffmpeg exits 0 and reports no
    error; seconds is the media time it reached (so a truncated file shows up short)."""
    proc = subprocess.run(
        [
            find_ffmpeg(),
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            "-progress",
            "pipe:1",
            "-i",
            str(path),
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    seconds = 0.0
    for line in proc.stdout.splitlines():
        key, _, value = line.partition("=")
        if key == "out_time_us" and value.strip().lstrip("-").isdigit():
            seconds = max(seconds, int(value) / 1e6)
    return DecodeResult(proc.returncode == 0 and not proc.stderr.strip(), seconds, proc.stderr)


def stream_kinds(path: Path) -> list[str]:
    """The kinds of the streams in ``path`` in order ("video", "audio", ...), read from
    ``ffmpeg -i`` (there is no ffprobe next to imageio-ffmpeg's binary)."""
    proc = subprocess.run(
        [find_ffmpeg(), "-hide_banner", "-nostdin", "-i", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    kinds = []
    for line in proc.stderr.splitlines():
        line = line.strip()
        if line.startswith("Stream #"):
            kinds.append(line.split(": ", 2)[1].strip().lower())
    return kinds
