"""Parsing of ffmpeg's ``-progress`` output (blocks of key=value lines ending in progress=...)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    out_time_s: float
    total_size: int
    bitrate_kbps: float
    speed: float
    ended: bool


def _number(text: str | None) -> float:
    if not text:
        return 0.0
    text = text.strip().rstrip("x")
    for suffix in ("kbits/s",):
        text = text.removesuffix(suffix)
    try:
        return float(text)
    except ValueError:  # "N/A" before the first packet
        return 0.0


class ProgressParser:
    """Feed it lines; it returns a :class:`Progress` at the end of every block."""

    def __init__(self) -> None:
        self._block: dict[str, str] = {}

    def feed(self, line: str) -> Progress | None:
        """Consume one line of ``-progress`` output."""
        key, sep, value = line.strip().partition("=")
        if not sep:
            return None
        self._block[key] = value
        if key != "progress":
            return None
        block, self._block = self._block, {}
        out_us = block.get("out_time_us") or block.get("out_time_ms")  # both are microseconds
        return Progress(
            out_time_s=max(0.0, _number(out_us) / 1e6),
            total_size=int(_number(block.get("total_size"))),
            bitrate_kbps=_number(block.get("bitrate")),
            speed=_number(block.get("speed")),
            ended=value.strip() == "end",
        )
