"""Mend the end of an MPEG-TS file whose writer was killed mid-write.

ffmpeg writes a recording in whole 188-byte TS packets, but a SIGKILL (or a crash) stops it
inside its output buffer: the file then ends inside a packet, and the PES packet (one frame)
it was writing is incomplete, which a strict decode reports as an error at the very end.
Cutting the file where that last PES packet starts leaves every complete frame and nothing
broken. A file whose size is a whole number of packets is left alone (ffmpeg finished it).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

TS_PACKET = 188
_SCAN = 4 << 20  # the last PES start is within the last few hundred packets


def _starts_pes(packet: bytes) -> bool:
    """A TS packet that starts a PES packet (not a PAT/PMT section, not stuffing)."""
    if len(packet) < TS_PACKET or packet[0] != 0x47 or not packet[1] & 0x40:
        return False
    if not packet[3] & 0x10:  # no payload
        return False
    offset = 4 + (1 + packet[4] if packet[3] & 0x20 else 0)
    return packet[offset : offset + 3] == b"\0\0\1"


def last_pes_start(path: Path) -> int | None:
    """Offset of the last TS packet of ``path`` that starts a PES packet."""
    size = path.stat().st_size
    start = max(0, (size - _SCAN) // TS_PACKET * TS_PACKET)
    with path.open("rb") as f:
        f.seek(start)
        data = f.read()
    for at in range((len(data) // TS_PACKET - 1) * TS_PACKET, -1, -TS_PACKET):
        if _starts_pes(data[at : at + TS_PACKET]):
            return start + at
    return None


def trim_torn_tail(path: Path) -> int:
    """Cut a torn MPEG-TS file back to its last complete PES packet; returns the bytes cut
    (0 when the file ends on a packet boundary, is not TS, or cannot be read)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    if path.suffix != ".ts" or size % TS_PACKET == 0:
        return 0
    cut = last_pes_start(path)
    if cut is None or cut == 0:
        return 0
    with path.open("r+b") as f:
        f.truncate(cut)
        f.flush()
        os.fsync(f.fileno())
    log.warning(
        "cut a torn end off %s (%d bytes: the last, incomplete frame)",
        path.name,
        size - cut,
        extra={"event.action": "recording.repair", "file.path": str(path), "file.size": cut},
    )
    return size - cut
