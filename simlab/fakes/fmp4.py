"""Just enough ISO BMFF (fragmented MP4) parsing to loop pre-encoded CMAF media seamlessly.

A media segment is a sequence of fragments (``styp``? ``sidx``? ``moof`` ``mdat``). Playing the
loop again must look like one endless encode, so ``shift_fragments`` moves every
``moof/traf/tfdt`` baseMediaDecodeTime (and ``sidx`` earliest presentation time) by a whole
number of loops, in the track's own timescale (read from the init segment's ``mdhd``), and
advances the ``mfhd`` sequence numbers. ``fragments`` finds the fragment byte ranges, which the
LL-HLS origin serves as parts.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping
from fractions import Fraction
from typing import NamedTuple

_CONTAINERS = frozenset({"moov", "trak", "mdia", "moof", "traf"})


class Box(NamedTuple):
    """One box: its four-character type and byte offsets (``body`` follows the header)."""

    type: str
    start: int
    body: int
    end: int


class Fragment(NamedTuple):
    """Byte range of one fragment (up to and including its ``mdat``) and its first ``tfdt``."""

    start: int
    end: int
    decode_time: int
    track_id: int


def boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[Box]:
    """The boxes laid out in ``data[start:end]`` (not descending into them)."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError(f"truncated or corrupt box at byte {pos}")
        yield Box(kind.decode("latin-1"), pos, pos + header, pos + size)
        pos += size


def walk(data: bytes, start: int = 0, end: int | None = None) -> Iterator[Box]:
    """Every box in ``data[start:end]``, depth first, descending into the containers we need."""
    for box in boxes(data, start, end):
        yield box
        if box.type in _CONTAINERS:
            yield from walk(data, box.body, box.end)


def track_timescales(init: bytes) -> dict[int, int]:
    """``{track_ID: timescale}`` from the ``tkhd`` and ``mdhd`` of every ``trak`` in ``init``."""
    scales: dict[int, int] = {}
    for trak in (b for b in walk(init) if b.type == "trak"):
        track_id = timescale = None
        for box in walk(init, trak.body, trak.end):
            wide = init[box.body] == 1  # version 1: 64-bit creation/modification times
            if box.type == "tkhd":
                (track_id,) = struct.unpack_from(">I", init, box.body + (20 if wide else 12))
            elif box.type == "mdhd":
                (timescale,) = struct.unpack_from(">I", init, box.body + (20 if wide else 12))
        if track_id is not None and timescale is not None:
            scales[track_id] = timescale
    return scales


def split_init(data: bytes) -> tuple[bytes, bytes]:
    """Split ``data`` into the initialization part (up to ``moov``) and any media after it.

    ffmpeg's HLS muxer puts the fragments it flushes before the first segment ends into the
    init file; they belong to the first media segment.
    """
    for box in boxes(data):
        if box.type == "moov":
            return data[: box.end], data[box.end :]
    raise ValueError("no moov box: not an initialization segment")


def fragments(data: bytes) -> list[Fragment]:
    """The fragments of a media segment; the first includes any leading ``styp``/``sidx``."""
    found: list[Fragment] = []
    start = 0
    decode_time, track_id = -1, 0
    for box in boxes(data):
        if box.type == "moof" and decode_time < 0:
            for inner in walk(data, box.body, box.end):
                if inner.type == "tfhd":
                    (track_id,) = struct.unpack_from(">I", data, inner.body + 4)
                elif inner.type == "tfdt":
                    decode_time = _read_time(data, inner)
        elif box.type == "mdat":
            found.append(Fragment(start, box.end, max(0, decode_time), track_id))
            start, decode_time = box.end, -1
    return found


def shift_fragments(
    data: bytes, seconds: Fraction, timescales: Mapping[int, int], sequence_delta: int
) -> bytes:
    """Return media ``data`` with every decode time moved by ``seconds`` and ``mfhd`` sequence
    numbers advanced by ``sequence_delta``.

    ``tfdt`` moves by ``seconds`` in the timescale of its ``traf``'s track (``timescales``:
    track_ID -> ticks per second, see ``track_timescales``); ``sidx`` by ``seconds`` in its own
    timescale. Version 0 (32-bit) fields wrap around, version 1 fields are 64-bit.
    """
    buf = bytearray(data)
    for box in boxes(data):
        if box.type == "sidx":
            (timescale,) = struct.unpack_from(">I", data, box.body + 8)
            _add_time(buf, box, 12, _ticks(seconds, timescale))
        elif box.type == "moof":
            for inner in walk(data, box.body, box.end):
                if inner.type == "mfhd":
                    (sequence,) = struct.unpack_from(">I", data, inner.body + 4)
                    struct.pack_into(">I", buf, inner.body + 4, (sequence + sequence_delta) % 2**32)
                elif inner.type == "traf":
                    _shift_traf(data, buf, inner, seconds, timescales)
    return bytes(buf)


def _shift_traf(
    data: bytes, buf: bytearray, traf: Box, seconds: Fraction, timescales: Mapping[int, int]
) -> None:
    track_id = -1
    for box in boxes(data, traf.body, traf.end):
        if box.type == "tfhd":
            (track_id,) = struct.unpack_from(">I", data, box.body + 4)
        elif box.type == "tfdt":
            if track_id not in timescales:
                raise ValueError(f"tfdt of unknown track {track_id} at byte {box.start}")
            _add_time(buf, box, 4, _ticks(seconds, timescales[track_id]))


def _ticks(seconds: Fraction, timescale: int) -> int:
    return round(seconds * timescale)


def _read_time(data: bytes | bytearray, box: Box) -> int:
    """A ``tfdt`` decode time (the 32- or 64-bit field after version and flags)."""
    if data[box.body] == 1:
        return int(struct.unpack_from(">Q", data, box.body + 4)[0])
    return int(struct.unpack_from(">I", data, box.body + 4)[0])


def _add_time(buf: bytearray, box: Box, offset: int, ticks: int) -> None:
    """Add ``ticks`` to the version-sized time field ``offset`` bytes into the box body."""
    at = box.body + offset
    if buf[box.body] == 1:
        (value,) = struct.unpack_from(">Q", buf, at)
        struct.pack_into(">Q", buf, at, (value + ticks) % 2**64)
    else:
        (value,) = struct.unpack_from(">I", buf, at)
        struct.pack_into(">I", buf, at, (value + ticks) % 2**32)
