"""The last H.264 keyframe near the end of an MPEG-TS recording, as Annex B bytes (pure).

Live thumbnails decode one keyframe per channel. Started once per channel, ffmpeg spends far
more on starting, probing and setting up a decoder (~50 ms) than on the frame itself (a few
ms), so the recorder takes the keyframes out of the files here and feeds those of many
channels, one after the other, to a single ffmpeg that decodes them as one H.264 stream.

The recorder's files are written by ffmpeg's MPEG-TS muxer: whole 188-byte packets from the
start of the file, PAT and PMT at its head, and a random-access indicator on the packet that
starts each keyframe's PES packet (one PES per access unit, unbounded). A keyframe counts only
when its access unit is whole (the next PES of the stream has begun) and carries the SPS, the
PPS and an IDR slice, so it decodes on its own. Anything else (HEVC, no keyframe in the
window, an unexpected layout) is None: the caller falls back to ffmpeg reading the file.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["H264", "keyframe_of", "last_keyframe", "nal_types", "video_stream"]

PACKET = 188
H264 = 0x1B
_SYNC = 0x47
_NAL_IDR, _NAL_SPS, _NAL_PPS = 5, 7, 8
_HEAD = PACKET * 16


def _pid(packet: bytes) -> int:
    return ((packet[1] & 0x1F) << 8) | packet[2]


def _payload(packet: bytes) -> bytes:
    control = (packet[3] >> 4) & 0x3
    start = 4
    if control & 0x2:
        start += 1 + packet[4]
    return packet[start:PACKET] if control & 0x1 and start < PACKET else b""


def _random_access(packet: bytes) -> bool:
    control = (packet[3] >> 4) & 0x3
    return bool(control & 0x2 and packet[4] > 0 and packet[5] & 0x40)


def _section(packet: bytes) -> bytes:
    """The PSI section a PUSI packet starts (after its pointer field)."""
    payload = _payload(packet)
    if not payload:
        return b""
    return payload[1 + payload[0] :]


def _packets(buf: bytes) -> range:
    return range(0, len(buf) - PACKET + 1, PACKET)


def video_stream(buf: bytes) -> tuple[int, int] | None:
    """(PID, stream_type) of the first video stream of the first program, from the PAT and
    PMT in ``buf`` (packet-aligned); None when they are not there."""
    pmt_pid: int | None = None
    for off in _packets(buf):
        packet = buf[off : off + PACKET]
        if packet[0] != _SYNC or not packet[1] & 0x40:
            continue
        pid = _pid(packet)
        section = _section(packet)
        if len(section) < 12:
            continue
        end = min(len(section), 3 + (((section[1] & 0x0F) << 8) | section[2]) - 4)
        if pid == 0 and pmt_pid is None and section[0] == 0x00:
            for i in range(8, end - 3, 4):
                if (section[i] << 8) | section[i + 1]:  # program 0 is the network PID
                    pmt_pid = ((section[i + 2] & 0x1F) << 8) | section[i + 3]
                    break
        elif pid == pmt_pid and section[0] == 0x02:
            i = 12 + (((section[10] & 0x0F) << 8) | section[11])
            while i + 5 <= end:
                kind = section[i]
                es_pid = ((section[i + 1] & 0x1F) << 8) | section[i + 2]
                if kind in (0x01, 0x02, 0x10, H264, 0x24):  # MPEG-1/2/4 video, H.264, HEVC
                    return es_pid, kind
                i += 5 + (((section[i + 3] & 0x0F) << 8) | section[i + 4])
            return None
    return None


def nal_types(annexb: bytes) -> set[int]:
    """The NAL unit types of an Annex B byte string."""
    found = set()
    at = annexb.find(b"\x00\x00\x01")
    while at != -1 and at + 3 < len(annexb):
        found.add(annexb[at + 3] & 0x1F)
        at = annexb.find(b"\x00\x00\x01", at + 3)
    return found


def _access_unit(buf: bytes, start: int, end: int, pid: int) -> bytes | None:
    """The elementary stream bytes of the PES packet from ``start`` to ``end`` (exclusive)."""
    pes = b"".join(
        _payload(buf[off : off + PACKET])
        for off in range(start, end, PACKET)
        if buf[off] == _SYNC and _pid(buf[off : off + PACKET]) == pid
    )
    if len(pes) < 9 or not pes.startswith(b"\x00\x00\x01"):
        return None
    return pes[9 + pes[8] :]


def last_keyframe(buf: bytes, pid: int) -> bytes | None:
    """The last whole, self-contained H.264 keyframe of ``pid`` in ``buf`` (packet-aligned),
    as Annex B; None when there is none."""
    marker = bytes([_SYNC, 0x40 | (pid >> 8), pid & 0xFF])  # a PES start on that PID
    next_start: int | None = None
    at = buf.rfind(marker)
    while at != -1:
        if at % PACKET == 0:
            packet = buf[at : at + PACKET]
            if next_start is not None and _random_access(packet):
                unit = _access_unit(buf, at, next_start, pid)
                if unit is not None and {_NAL_SPS, _NAL_PPS, _NAL_IDR} <= nal_types(unit):
                    return unit
            next_start = at
        at = buf.rfind(marker, 0, at)
    return None


def _aligned(buf: bytes) -> bytes:
    """``buf`` from its first packet boundary (three sync bytes a packet apart)."""
    for i in range(min(PACKET, len(buf))):
        if all(buf[i + k * PACKET] == _SYNC for k in range(3) if i + k * PACKET < len(buf)):
            return buf[i:]
    return b""


def keyframe_of(path: Path, window: int) -> bytes | None:
    """The last H.264 keyframe within the last ``window`` bytes of the TS file at ``path``
    (None when there is none, the video is not H.264 or the file is gone). The last third of
    the window is looked at first: it holds a keyframe interval of two seconds or so."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        size = os.fstat(fd).st_size
        stream = video_stream(os.pread(fd, _HEAD, 0))
        for span in (window // 3, window):
            offset = max(0, size - span) // PACKET * PACKET
            buf = _aligned(os.pread(fd, size - offset, offset))
            if stream is None:
                stream = video_stream(buf)
            if stream is None or stream[1] != H264:
                return None
            unit = last_keyframe(buf, stream[0])
            if unit is not None or offset == 0:
                return unit
        return None
    finally:
        os.close(fd)
