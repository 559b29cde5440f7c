"""Pictures with ffmpeg: a live frame from a growing MPEG-TS, a poster and a contact sheet.

Every command here is built from numbers and from paths the recorder made itself (never from
site text), reads only local files through the ``file`` protocol and the demuxers of our own
outputs, and writes one JPEG to stdout: the caller writes it to disk (atomically) or keeps it
in memory. ffmpeg runs niced (19), single-threaded, with a time limit, and is killed and
reaped whatever ends the wait, so a picture can never take a recording's CPU or outlive its
reason.

Live frames come from a window of bytes at the end of the file being written (about six
seconds' worth at the session's byte rate), never from its timestamps: ``-sseof`` needs the
file's duration, which ffmpeg estimates for MPEG-TS from the timestamps at both ends, and a
recording's timestamps can jump (a discontinuity in the source) or wrap, and the estimate is
stale for a file being written. The recorder takes the last H.264 keyframe out of the window
itself (``ts_keyframe``) and decodes the keyframes of many channels with one ffmpeg
(``keyframes_command``): an ffmpeg per frame costs ~50 ms of CPU, almost all of it starting,
probing and setting up; in a batch a frame costs a few. A file whose keyframe cannot be taken
out that way (not H.264) gets ``live_command``: ffmpeg starts reading it ``offset`` bytes in
(``-skip_initial_bytes``) and decodes only keyframes (``-skip_frame nokey``) until the first.
Live frames are fitted in a fixed 16:9 (or 9:16 for an upright video) canvas, so that one
decoder can take frames of any size in turn.

Contact sheets: one input per tile, each seeked (``-ss`` with ``-noaccurate_seek``: the keyframe
nearest the tile's time) and cut to one keyframe (``trim``), so the cost is a seek and a
keyframe decode per tile, the same for a ten-minute file and a ten-hour one. Each label is the
time of the frame shown (its timestamp after the seek plus where the seek aimed). In a TS file
shorter than about 16 keyframe intervals the last tiles can find no keyframe after their time:
they stay black.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import glob
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from servicekit.errors import DomainError, ErrorKind
from servicekit.proc import die_with_parent

log = logging.getLogger(__name__)

#: The live frame's canvas by orientation (the video is fitted in, keeping its shape).
CANVAS = {"landscape": (320, 180), "portrait": (180, 320)}
POSTER_WIDTH = 640
TILE_BOX = 320  # a tile fits in TILE_BOX x TILE_BOX, keeping the video's shape
_JPEG_QUALITY = "5"  # mjpeg qscale: 2 (best) .. 31
_STDOUT_LIMIT = 32 * 1024 * 1024
_STDERR_TAIL = 5
# Fonts drawtext may use, first found wins; else fontconfig's default "Sans".
_FONT_GLOBS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/truetype/liberation*/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
    "/usr/share/fonts/**/*.ttf",
)
# A font path goes into a filter graph: only characters that need no escaping there.
_SAFE_FONT_PATH = re.compile(r"^/[A-Za-z0-9/._+-]+\.(ttf|otf)$")
_FONTCONFIG = "fontconfig"


class PictureError(DomainError):
    """ffmpeg could not make a picture (the message has its last lines)."""

    kind = ErrorKind.INTERNAL
    default_reason = "PICTURE_FAILED"


@dataclass(frozen=True)
class SheetLayout:
    """A contact sheet: ``columns`` x ``rows`` tiles of ``tile_width`` x ``tile_height``."""

    columns: int
    rows: int
    tile_width: int
    tile_height: int

    @property
    def tiles(self) -> int:
        return self.columns * self.rows

    @property
    def size(self) -> tuple[int, int]:
        return self.columns * self.tile_width, self.rows * self.tile_height


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def tile_size(width: int, height: int, box: int = TILE_BOX) -> tuple[int, int]:
    """The tile for a video of ``width`` x ``height``: its shape, fitted in ``box`` x ``box``."""
    if width <= 0 or height <= 0:
        return box, _even(box * 9 / 16)
    if width >= height:
        return box, _even(box * height / width)
    return _even(box * width / height), box


def sheet_times(duration_s: float, tiles: int) -> list[float]:
    """Where each tile is asked for: the starts of ``tiles`` equal slices of the file (the
    first tile is the first frame). The tile is the keyframe nearest after that time in an
    MPEG-TS file (its demuxer seeks forward), at or before it in an MP4."""
    return [duration_s * k / tiles for k in range(tiles)]


def live_window(bytes_per_second: float, seconds: float = 6.0) -> int:
    """How many bytes from the end a live frame is looked for in (256 KiB to 8 MiB)."""
    rate = bytes_per_second if bytes_per_second > 0 else 1_000_000
    return int(min(8 * 1024 * 1024, max(256 * 1024, rate * seconds)))


# -- commands (pure) ----------------------------------------------------------------------------


def _head(ffmpeg: str) -> list[str]:
    return [ffmpeg, "-nostdin", "-hide_banner", "-nostats", "-v", "error"]


def _input(source: Path, formats: str, *options: str) -> list[str]:
    # "file:" so a name can never be taken for a protocol; only our own containers are read.
    return [
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        formats,
        "-threads",
        "1",
        "-skip_frame",
        "nokey",
        *options,
        "-i",
        f"file:{source}",
    ]


def _jpeg_out(*graph: str) -> list[str]:
    return [*graph, "-frames:v", "1", "-c:v", "mjpeg", "-q:v", _JPEG_QUALITY, "-f", "image2pipe"]


def _fit(canvas: tuple[int, int]) -> str:
    w, h = canvas
    return (
        f"scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:-1:-1:color=black,setsar=1"
    )


def live_command(
    ffmpeg: str, source: Path, offset: int, canvas: tuple[int, int] = CANVAS["landscape"]
) -> list[str]:
    """The first keyframe of ``source`` (a growing MPEG-TS) from byte ``offset`` on, fitted in
    ``canvas``, as one JPEG on stdout."""
    return [
        *_head(ffmpeg),
        *_input(source, "mpegts", "-f", "mpegts", "-skip_initial_bytes", str(max(0, offset))),
        *_jpeg_out("-map", "0:v:0", "-vf", _fit(canvas)),
        "pipe:1",
    ]


def keyframes_command(ffmpeg: str, canvas: tuple[int, int] = CANVAS["landscape"]) -> list[str]:
    """H.264 keyframes (Annex B, one after the other, on stdin) to one JPEG each, in order,
    fitted in ``canvas``, on stdout."""
    return [
        *_head(ffmpeg),
        *("-protocol_whitelist", "pipe", "-format_whitelist", "h264", "-threads", "1"),
        *("-f", "h264", "-i", "pipe:0"),
        *("-map", "0:v:0", "-fps_mode", "passthrough", "-vf", _fit(canvas)),
        *("-c:v", "mjpeg", "-q:v", _JPEG_QUALITY, "-f", "image2pipe", "pipe:1"),
    ]


def split_jpegs(data: bytes) -> list[bytes]:
    """The JPEGs of an MJPEG byte stream (each ends with EOI, the next starts with SOI; inside
    a JPEG an 0xFF byte is always followed by 0x00 or a marker, never by EOI then SOI)."""
    if not data.startswith(b"\xff\xd8\xff"):
        return []
    out, start = [], 0
    while (end := data.find(b"\xff\xd9\xff\xd8\xff", start)) != -1:
        out.append(data[start : end + 2])
        start = end + 2
    out.append(data[start:])
    return out


def poster_command(ffmpeg: str, source: Path, at_s: float) -> list[str]:
    """The keyframe at or before ``at_s`` seconds into ``source`` (TS or MP4), 640 px wide at
    most, as one JPEG on stdout."""
    scale = f"scale='min({POSTER_WIDTH},iw)':-2"
    seek = ("-noaccurate_seek", "-ss", f"{max(0.0, at_s):.3f}")
    return [
        *_head(ffmpeg),
        *_input(source, "mpegts,mov", *seek),
        *_jpeg_out("-map", "0:v:0", "-vf", scale),
        "pipe:1",
    ]


def _label(font: str, at_s: float, duration_s: float) -> str:
    """drawtext showing the frame's own time in the file (its timestamp after the seek plus
    where the seek aimed): H:MM:SS, or ffmpeg's hms (with hours past 24) for longer files."""
    if duration_s < 86_400:
        text = f"%{{pts\\:gmtime\\:{at_s:.3f}\\:%H\\\\\\:%M\\\\\\:%S}}"
    else:
        text = f"%{{pts\\:hms\\:{at_s:.3f}}}"
    source = "" if font == _FONTCONFIG else f"fontfile={font}:"
    return (
        f"drawtext={source}text='{text}':fontsize=14:fontcolor=white:"
        "box=1:boxcolor=black@0.6:boxborderw=3:x=6:y=h-th-6"
    )


def sheet_command(
    ffmpeg: str,
    source: Path,
    times: Sequence[float],
    layout: SheetLayout,
    *,
    duration_s: float,
    font: str | None,
) -> list[str]:
    """A ``layout`` grid of the keyframes at or before ``times`` (one per tile, in order), each
    labelled with its time when ``font`` is given, as one JPEG on stdout."""
    if len(times) != layout.tiles:
        raise ValueError(f"{len(times)} times for {layout.tiles} tiles")
    w, h = layout.tile_width, layout.tile_height
    argv = _head(ffmpeg)
    chains = []
    for k, at in enumerate(times):
        argv += _input(source, "mpegts,mov", "-noaccurate_seek", "-ss", f"{max(0.0, at):.3f}")
        steps = [
            "trim=end_frame=1",
            f"scale={w}:{h}:force_original_aspect_ratio=decrease",
            f"pad={w}:{h}:-1:-1:color=black",
            "setsar=1",
        ]
        if font is not None:
            steps.append(_label(font, at, duration_s))
        steps.append("setpts=PTS-STARTPTS")
        chains.append(f"[{k}:v:0]{','.join(steps)}[t{k}]")
    joined = "".join(f"[t{k}]" for k in range(len(times)))
    tile = f"concat=n={len(times)}:v=1:a=0,tile={layout.columns}x{layout.rows}[sheet]"
    graph = ";".join([*chains, joined + tile])
    return [
        *argv,
        "-filter_complex_threads",
        "1",
        *_jpeg_out("-filter_complex", graph, "-map", "[sheet]"),
        "pipe:1",
    ]


# -- running ffmpeg -----------------------------------------------------------------------------


def _low_priority() -> None:
    # In the child before exec: the lowest CPU priority, and death with the recorder.
    os.nice(19)
    die_with_parent()


async def run_picture(argv: list[str], timeout_s: float, stdin: bytes | None = None) -> bytes:
    """Run a picture command (niced), feeding it ``stdin``, and return its stdout;
    PictureError when it fails, takes longer than ``timeout_s`` or writes nothing. ffmpeg is
    reaped before this returns."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=_low_priority,
    )
    assert proc.stdout is not None and proc.stderr is not None
    stdout, stderr = proc.stdout, proc.stderr
    tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL)
    chunks: list[bytes] = []

    async def read_out() -> None:
        size = 0
        while chunk := await stdout.read(65536):
            size += len(chunk)
            if size > _STDOUT_LIMIT:
                raise PictureError("ffmpeg wrote more than a picture", reason="PICTURE_TOO_LARGE")
            chunks.append(chunk)

    async def read_err() -> None:
        async for raw in stderr:
            if line := raw.decode("utf-8", "replace").rstrip():
                tail.append(line)

    async def feed() -> None:
        if proc.stdin is None or stdin is None:
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.write(stdin)
            await proc.stdin.drain()
            proc.stdin.close()

    try:
        async with asyncio.timeout(timeout_s):
            await asyncio.gather(feed(), read_out(), read_err(), proc.wait())
    except TimeoutError:
        raise PictureError(
            f"ffmpeg took more than {timeout_s:g}s", reason="PICTURE_TIMEOUT"
        ) from None
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    data = b"".join(chunks)
    if proc.returncode != 0 or not data:
        said = " | ".join(list(tail)[-3:]) or "no output"
        raise PictureError(
            f"ffmpeg exited with code {proc.returncode} and {len(data)} bytes: {said}",
            reason="PICTURE_FAILED" if proc.returncode else "NO_FRAME",
        )
    return data


# -- can drawtext label the tiles? ----------------------------------------------------------


def _font_candidates() -> list[str]:
    found: list[str] = []
    for pattern in _FONT_GLOBS:
        for path in sorted(glob.glob(pattern, recursive=True)):
            if _SAFE_FONT_PATH.fullmatch(path) and path not in found:
                found.append(path)
        if len(found) >= 3:
            break
    return [*found[:3], _FONTCONFIG]


@lru_cache(maxsize=4)
def _label_font_cached(ffmpeg: str) -> str | None:
    import subprocess  # only here: a one-off check, run once per ffmpeg binary

    for font in _font_candidates():
        argv = [
            *_head(ffmpeg),
            "-f",
            "lavfi",
            "-i",
            "color=c=black:s=64x32:d=0.1",
            "-vf",
            _label(font, 1.0, 2.0),
            "-frames:v",
            "1",
            "-f",
            "null",
            "-",
        ]
        try:
            done = subprocess.run(argv, capture_output=True, timeout=20, check=False)
        except (OSError, subprocess.SubprocessError):
            continue
        if done.returncode == 0:
            return font
    log.warning(
        "ffmpeg cannot draw text here (no drawtext filter or no font): contact sheets are not "
        "labelled, their times are in the .sheet.json index",
        extra={"event.action": "pictures.labels", "ffmpeg": ffmpeg},
    )
    return None


async def label_font(ffmpeg: str) -> str | None:
    """A font drawtext can use with this ffmpeg (a file, or ``"fontconfig"`` for its default),
    None when the tiles cannot be labelled (no drawtext, no font): then the sheet's index
    alone carries the times. Found once per binary, in a thread."""
    return await asyncio.to_thread(_label_font_cached, ffmpeg)
