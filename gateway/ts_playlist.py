"""Play an MPEG-TS recording in a browser: an HLS playlist of byte ranges of the file itself.

Browsers do not play MPEG-TS; hls.js does, but only as HLS segments. So a ``.ts`` recording is
offered as a VOD playlist (or, while it is still being written, an EVENT playlist that grows)
whose segments are byte ranges of the one file, each starting at a video keyframe, with the
duration its timestamps give. Seeking then works like any VOD, and nothing is copied or
transcoded.

Written here because no library does it: ffmpeg's HLS muxer writes new files, and ffprobe
(which is not in the ``imageio-ffmpeg`` wheel) would read every packet of the file. This reads
only the TS headers it needs: the PAT and PMT at the start for the video PID, then, from every
~6 s of bytes on, forward to the next keyframe packet (``bytes.find`` on its header, so a
gigabyte costs a few hundred milliseconds), and its PES timestamp. A growing file is indexed
incrementally: the next request scans only what was added.
"""

from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

PACKET = 188
_CHUNK = 1 << 20
_VIDEO_STREAM_TYPES = frozenset({0x01, 0x02, 0x10, 0x1B, 0x24, 0x42, 0xD1, 0xEA})
_PTS_WRAP = 1 << 33
SEGMENT_SECONDS = 6.0
_MIN_SEGMENT_BYTES = 64 * PACKET


@dataclass(frozen=True)
class Cut:
    """A keyframe: where its packet starts in the file, and its presentation time (90 kHz)."""

    offset: int
    pts: int


@dataclass
class TsIndex:
    """The keyframes found so far in one file."""

    video_pid: int
    cuts: list[Cut] = field(default_factory=list)
    segment_bytes: int = 0
    scanned_size: int = 0


def _payload_start(packet: bytes) -> int:
    """Where a packet's payload starts (after its adaptation field, if any)."""
    if packet[3] & 0x20:
        return 5 + packet[4]
    return 4


def _section(packet: bytes) -> bytes:
    start = _payload_start(packet)
    pointer = packet[start]
    return packet[start + 1 + pointer :]


def video_pid(head: bytes) -> int | None:
    """The PID of the first video stream, from the PAT and PMT in the first bytes of a file."""
    pmt_pid: int | None = None
    for at in range(0, len(head) - PACKET + 1, PACKET):
        packet = head[at : at + PACKET]
        if packet[0] != 0x47 or not packet[1] & 0x40:
            continue
        pid = ((packet[1] & 0x1F) << 8) | packet[2]
        if pid == 0 and pmt_pid is None:
            pat = _section(packet)
            if len(pat) >= 12 and pat[0] == 0x00:
                pmt_pid = ((pat[10] & 0x1F) << 8) | pat[11]
        elif pmt_pid is not None and pid == pmt_pid:
            pmt = _section(packet)
            if len(pmt) < 12 or pmt[0] != 0x02:
                continue
            end = min(len(pmt), 3 + (((pmt[1] & 0x0F) << 8) | pmt[2]) - 4)
            at_es = 12 + (((pmt[10] & 0x0F) << 8) | pmt[11])
            while at_es + 5 <= end:
                stream_type = pmt[at_es]
                es_pid = ((pmt[at_es + 1] & 0x1F) << 8) | pmt[at_es + 2]
                if stream_type in _VIDEO_STREAM_TYPES:
                    return es_pid
                at_es += 5 + (((pmt[at_es + 3] & 0x0F) << 8) | pmt[at_es + 4])
            return None
    return None


def pes_pts(packet: bytes) -> int | None:
    """The PTS of the PES that starts in this packet, if it has one."""
    start = _payload_start(packet)
    pes = packet[start : start + 14]
    if len(pes) < 14 or pes[:3] != b"\x00\x00\x01" or not pes[7] & 0x80:
        return None
    p = pes[9:14]
    return ((p[0] >> 1) & 0x07) << 30 | p[1] << 22 | (p[2] >> 1) << 15 | p[3] << 7 | p[4] >> 1


def _is_keyframe(packet: bytes, pid: int) -> bool:
    return (
        len(packet) == PACKET
        and packet[0] == 0x47
        and packet[1] & 0x40 != 0
        and ((packet[1] & 0x1F) << 8 | packet[2]) == pid
        and packet[3] & 0x20 != 0
        and packet[4] > 0
        and packet[5] & 0x40 != 0
    )


def next_keyframe(f: BinaryIO, start: int, end: int, pid: int) -> Cut | None:
    """The first keyframe packet (random access indicator set, with a PTS) of ``pid`` at or
    after byte ``start`` (a packet boundary) and before ``end``."""
    header = bytes([0x47, 0x40 | (pid >> 8), pid & 0xFF])
    pos = start - start % PACKET
    while pos < end:
        f.seek(pos)
        chunk = f.read(min(_CHUNK, end - pos) + PACKET)
        if len(chunk) < PACKET:
            return None
        at = chunk.find(header)
        while at != -1 and at + PACKET <= len(chunk):
            if (pos + at) % PACKET == 0:
                packet = chunk[at : at + PACKET]
                if _is_keyframe(packet, pid):
                    pts = pes_pts(packet)
                    if pts is not None:
                        return Cut(pos + at, pts)
            at = chunk.find(header, at + 1)
        pos += _CHUNK
    return None


def last_pts(f: BinaryIO, size: int, pid: int) -> int | None:
    """The latest PES timestamp of ``pid`` in the last megabyte of the file."""
    start = max(0, size - _CHUNK)
    start -= start % PACKET
    f.seek(start)
    chunk = f.read(size - start)
    best: int | None = None
    for at in range(0, len(chunk) - PACKET + 1, PACKET):
        packet = chunk[at : at + PACKET]
        if packet[0] == 0x47 and packet[1] & 0x40 and ((packet[1] & 0x1F) << 8 | packet[2]) == pid:
            pts = pes_pts(packet)
            if pts is not None and (best is None or (pts - best) % _PTS_WRAP < _PTS_WRAP // 2):
                best = pts
    return best


def extend(index: TsIndex, f: BinaryIO, size: int) -> None:
    """Add the keyframes of the bytes written since the last scan."""
    size -= size % PACKET
    if not index.cuts:
        first = next_keyframe(f, 0, size, index.video_pid)
        if first is None:
            return
        index.cuts.append(Cut(0, first.pts))
        probe = next_keyframe(f, first.offset + PACKET, size, index.video_pid)
        if probe is None:
            return
        seconds = ((probe.pts - first.pts) % _PTS_WRAP) / 90_000
        rate = (probe.offset - first.offset) / seconds if seconds > 0 else 0
        index.segment_bytes = max(_MIN_SEGMENT_BYTES, int(rate * SEGMENT_SECONDS))
    while True:
        last = index.cuts[-1]
        found = next_keyframe(f, last.offset + index.segment_bytes, size, index.video_pid)
        if found is None:
            break
        index.cuts.append(found)
    index.scanned_size = size


def index_file(path: Path, previous: TsIndex | None = None) -> TsIndex | None:
    """The keyframe index of a TS file (continuing ``previous`` when the file grew); None when
    it has no video stream the index can use."""
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        index = previous
        if index is None:
            pid = video_pid(f.read(_CHUNK))
            if pid is None:
                return None
            index = TsIndex(pid)
        if size > index.scanned_size:
            extend(index, f, size)
        return index


def playlist(index: TsIndex, path: Path, url: str, *, growing: bool) -> str:
    """The HLS playlist of byte ranges. While the file grows, its last (unfinished) segment is
    left out and the playlist has no end; otherwise the last segment runs to the end of the
    file, with the duration its last timestamp gives."""
    size = path.stat().st_size
    size -= size % PACKET
    spans: list[tuple[float, int, int]] = []
    cuts = index.cuts
    for here, after in itertools.pairwise(cuts):
        spans.append((((after.pts - here.pts) % _PTS_WRAP) / 90_000, here.offset, after.offset))
    if cuts and not growing and size > cuts[-1].offset:
        with path.open("rb") as f:
            end_pts = last_pts(f, size, index.video_pid)
        tail = ((end_pts - cuts[-1].pts) % _PTS_WRAP) / 90_000 if end_pts is not None else 0.0
        spans.append((tail + 0.04, cuts[-1].offset, size))
    target = max([1, *(math.ceil(d) for d, _, _ in spans)])
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:4",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        f"#EXT-X-PLAYLIST-TYPE:{'EVENT' if growing else 'VOD'}",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    for duration, start, end in spans:
        lines += [f"#EXTINF:{duration:.3f},", f"#EXT-X-BYTERANGE:{end - start}@{start}", url]
    if not growing:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"
