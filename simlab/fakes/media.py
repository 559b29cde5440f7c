"""Pre-encoded media for the fake HLS origin: generated once with ffmpeg, cached on disk.

Each variant is a loop of MPEG-TS segments (``testsrc2`` video with a running timestamp when
``drawtext`` works, a ``sine`` tone as AAC audio) with a keyframe exactly at every segment
boundary and continuous timestamps, exactly like one rendition of a live encoder would produce.
The segment durations are read back from ffmpeg's own playlist so the origin can advertise the
true ``EXTINF`` values.

The cache directory is ``$STREAMREC_FAKE_MEDIA_DIR`` or ``<repo>/.cache/fake-media``; one
sub-directory per variant, named by a hash of everything that shapes the bytes. Generation
writes to a temporary directory and renames it into place, so concurrent processes are safe.
The fMP4 (CMAF) form of a media set is made from these segments on demand, see
``media_fmp4.py``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from servicekit.ffmpeg import find_ffmpeg

if TYPE_CHECKING:
    from simlab.fakes.media_fmp4 import Fmp4Media

log = logging.getLogger(__name__)

# Bump when the ffmpeg command line changes, so stale caches are not reused.
_GENERATOR_VERSION = 2
_REPO_ROOT = Path(__file__).resolve().parents[2]
_EXTINF = re.compile(r"#EXTINF:([0-9.]+),")
_SAMPLE_RATE = 48_000
_TS_MODULO = 1 << 33  # PTS, DTS and PCR base are 33-bit counters
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


@dataclass(frozen=True)
class VariantSpec:
    """Encoding parameters of one rendition."""

    width: int
    height: int
    fps: int = 30
    video_kbps: int = 800
    audio_kbps: int = 64

    @property
    def label(self) -> str:
        """A short human-readable name, e.g. ``640x360@800k``."""
        return f"{self.width}x{self.height}@{self.video_kbps}k"


SD_VARIANT = VariantSpec(640, 360, 30, 800)
LOW_VARIANT = VariantSpec(320, 180, 30, 300)
HD_VARIANT = VariantSpec(1280, 720, 30, 2500)
#: Small and fast to generate (about 2 s on two cores): the default for tests.
DEFAULT_VARIANTS: tuple[VariantSpec, ...] = (SD_VARIANT, LOW_VARIANT)
#: A realistic ladder for demos.
LADDER_VARIANTS: tuple[VariantSpec, ...] = (HD_VARIANT, SD_VARIANT, LOW_VARIANT)


@dataclass(frozen=True)
class VariantMedia:
    """One generated rendition: its segment files and what the playlists must say about them."""

    spec: VariantSpec
    directory: Path
    durations: tuple[float, ...]
    bandwidth: int
    codecs: str
    has_timestamp_overlay: bool
    #: Per PID: continuity-counter step from the last packet of the loop to its first.
    cc_deltas: tuple[tuple[int, int], ...] = ()

    @property
    def segment_count(self) -> int:
        """Number of segments in the loop."""
        return len(self.durations)

    def segment_path(self, index: int) -> Path:
        """Path of source segment ``index`` (0-based, < ``segment_count``)."""
        return self.directory / f"seg_{index:05d}.ts"

    def segment_bytes(self, index: int, loop: int = 0) -> bytes:
        """Bytes of source segment ``index``, as played in pass ``loop`` over the source.

        Pass ``loop`` > 0 shifts every PTS/DTS/PCR by ``loop`` times the loop length and the
        continuity counters to match, so consecutive passes join seamlessly, like one endless
        encode (timestamps wrap at 2**33 ticks, about 26.5 hours, as in a real stream).
        """
        data = self.segment_path(index).read_bytes()
        if loop == 0:
            return data
        cc_shift = {pid: loop * delta for pid, delta in self.cc_deltas}
        return shift_timestamps(data, loop * self.loop_ticks, cc_shift)

    @property
    def loop_ticks(self) -> int:
        """Loop length in 90 kHz ticks."""
        return round(sum(self.durations) * 90_000)


@dataclass(frozen=True)
class MediaSet:
    """Several renditions of the same loop, with aligned segment boundaries."""

    variants: tuple[VariantMedia, ...]
    segment_duration: float
    #: The same loop as fMP4 (video-only variants + one audio rendition), once
    #: ``simlab.fakes.media_fmp4.ensure_fmp4`` has been asked for it.
    fmp4: Fmp4Media | None = None

    @property
    def segment_count(self) -> int:
        """Number of segments in the loop (the same for every variant)."""
        return self.variants[0].segment_count


def default_cache_dir() -> Path:
    """The media cache directory: ``$STREAMREC_FAKE_MEDIA_DIR`` or ``<repo>/.cache/fake-media``."""
    configured = os.environ.get("STREAMREC_FAKE_MEDIA_DIR")
    return Path(configured) if configured else _REPO_ROOT / ".cache" / "fake-media"


def ensure_media(
    variants: tuple[VariantSpec, ...] = DEFAULT_VARIANTS,
    *,
    segment_duration: float = 2.0,
    segment_count: int = 30,
    cache_dir: Path | None = None,
) -> MediaSet:
    """Return the media set for these parameters, generating missing variants in parallel."""
    if not variants:
        raise ValueError("at least one variant is required")
    if segment_duration <= 0 or segment_count < 1:
        raise ValueError("segment_duration must be > 0 and segment_count >= 1")
    root = cache_dir if cache_dir is not None else default_cache_dir()
    with ThreadPoolExecutor(max_workers=max(1, min(len(variants), os.cpu_count() or 1))) as pool:
        futures = [
            pool.submit(_ensure_variant, spec, segment_duration, segment_count, root)
            for spec in variants
        ]
        return MediaSet(tuple(f.result() for f in futures), segment_duration)


@lru_cache(maxsize=64)
def _ensure_variant(
    spec: VariantSpec, segment_duration: float, segment_count: int, root: Path
) -> VariantMedia:
    params = {
        "generator": _GENERATOR_VERSION,
        "spec": asdict(spec),
        "segment_duration": segment_duration,
        "segment_count": segment_count,
    }
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    final = root / f"{spec.width}x{spec.height}-{spec.fps}fps-{spec.video_kbps}k-{key}"
    build_once(final, key, lambda tmp: _generate(spec, segment_duration, segment_count, tmp))
    return _load(spec, final)


def build_once(final: Path, key: str, build: Callable[[Path], None]) -> None:
    """Make ``final`` (a cache directory holding ``meta.json``) with ``build`` unless it exists.

    ``build`` fills a fresh temporary directory that is then renamed into place, so concurrent
    processes are safe; threads of one process build it once.
    """
    with _LOCKS_GUARD:
        lock = _LOCKS.setdefault(str(final), threading.Lock())
    with lock:
        if not (final / "meta.json").is_file():
            _build_into(final, key, build)


def _build_into(final: Path, key: str, build: Callable[[Path], None]) -> None:
    root = final.parent
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=root))
    try:
        build(tmp)
        tmp.chmod(0o755)  # mkdtemp makes it private
        try:
            os.rename(tmp, final)
        except OSError:
            # Another process won the race; its result is equivalent.
            if not (final / "meta.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _load(spec: VariantSpec, directory: Path) -> VariantMedia:
    meta = json.loads((directory / "meta.json").read_text())
    return VariantMedia(
        spec=spec,
        directory=directory,
        durations=tuple(float(d) for d in meta["durations"]),
        bandwidth=int(meta["bandwidth"]),
        codecs=str(meta["codecs"]),
        has_timestamp_overlay=bool(meta["timestamp_overlay"]),
        cc_deltas=_cc_deltas(
            directory / "seg_00000.ts", directory / f"seg_{len(meta['durations']) - 1:05d}.ts"
        ),
    )


def _generate(spec: VariantSpec, segment_duration: float, segment_count: int, out: Path) -> None:
    started = time.monotonic()
    overlay = True
    result = _run_ffmpeg(spec, segment_duration, segment_count, out, overlay=True)
    if result.returncode != 0:
        # drawtext needs libfreetype and a font; fall back to the plain pattern without them.
        log.info("drawtext unusable (%s); generating without overlay", result.stderr.strip()[-200:])
        overlay = False
        for leftover in out.iterdir():
            leftover.unlink()
        result = _run_ffmpeg(spec, segment_duration, segment_count, out, overlay=False)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    durations = [float(d) for d in _EXTINF.findall((out / "index.m3u8").read_text())]
    if len(durations) != segment_count:
        raise RuntimeError(f"expected {segment_count} segments, ffmpeg wrote {len(durations)}")
    peak = max((out / f"seg_{i:05d}.ts").stat().st_size * 8 / d for i, d in enumerate(durations))
    meta = {
        "durations": durations,
        "bandwidth": int(peak),
        "codecs": f"{_avc_codec(out / 'seg_00000.ts')},mp4a.40.2",
        "timestamp_overlay": overlay,
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    log.info("generated %s in %.1fs", spec.label, time.monotonic() - started)


def _run_ffmpeg(
    spec: VariantSpec, segment_duration: float, segment_count: int, out: Path, *, overlay: bool
) -> subprocess.CompletedProcess[str]:
    video = f"testsrc2=size={spec.width}x{spec.height}:rate={spec.fps}"
    if overlay:
        size = max(10, spec.height // 12)
        video += (
            f",drawtext=text='%{{pts\\:hms}} {spec.label}':fontsize={size}:fontcolor=white"
            ":box=1:boxcolor=black@0.6:x=8:y=8"
        )
    gop = max(1, round(segment_duration * spec.fps))
    # AAC frames are 1024 samples and the encoder prepends one frame of priming: feed one frame
    # less than the loop holds, so the audio packets of one pass never overlap the next pass.
    audio_frames = int(segment_duration * segment_count * _SAMPLE_RATE) // 1024 - 1
    audio = f"sine=frequency=440:sample_rate={_SAMPLE_RATE},atrim=end_sample={audio_frames * 1024}"
    # Bitrate-capped ultrafast x264, keyframes forced on every segment boundary and nowhere else.
    cmd = [
        find_ffmpeg(), "-hide_banner", "-nostdin", "-v", "error", "-y",
        "-f", "lavfi", "-i", video,
        "-f", "lavfi", "-i", audio,
        "-t", f"{segment_duration * segment_count:.6f}",
        "-map", "0:v", "-map", "1:a",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-b:v", f"{spec.video_kbps}k", "-maxrate", f"{spec.video_kbps}k",
        "-bufsize", f"{spec.video_kbps * 2}k",
        "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
        "-force_key_frames", f"expr:gte(t,n_forced*{segment_duration})",
        "-c:a", "aac", "-b:a", f"{spec.audio_kbps}k", "-ac", "2",
        "-f", "hls", "-hls_time", f"{segment_duration}", "-hls_list_size", "0",
        "-hls_segment_type", "mpegts", "-hls_playlist_type", "vod",
        "-hls_segment_filename", str(out / "seg_%05d.ts"),
        str(out / "index.m3u8"),
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)


def _avc_codec(segment: Path) -> str:
    """The RFC 6381 ``avc1.PPCCLL`` string read from the first SPS in the segment.

    x264 signals the lowest profile its features need (ultrafast gives Constrained Baseline,
    ``avc1.42c0..``) whatever ``-profile:v`` asks for, so the string must come from the bytes.
    """
    data = segment.read_bytes()[:65536]
    start = data.find(b"\x00\x00\x01")
    while start != -1 and start + 6 < len(data):
        if data[start + 3] & 0x1F == 7:
            return "avc1." + data[start + 4 : start + 7].hex()
        start = data.find(b"\x00\x00\x01", start + 3)
    return "avc1.64001f"


def _packets(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(offset, pid, header byte 3) of every 188-byte TS packet."""
    for pos in range(0, len(data) - 187, 188):
        if data[pos] != 0x47:
            raise ValueError(f"lost MPEG-TS sync at byte {pos}")
        yield pos, ((data[pos + 1] & 0x1F) << 8) | data[pos + 2], data[pos + 3]


def _cc_deltas(first: Path, last: Path) -> tuple[tuple[int, int], ...]:
    starts: dict[int, int] = {}
    ends: dict[int, int] = {}
    for _, pid, flags in _packets(first.read_bytes()):
        if flags & 0x10 and pid not in starts:
            starts[pid] = flags & 0x0F
    for _, pid, flags in _packets(last.read_bytes()):
        if flags & 0x10:
            ends[pid] = flags & 0x0F
    return tuple((pid, (ends[pid] + 1 - cc) % 16) for pid, cc in starts.items() if pid in ends)


def shift_timestamps(data: bytes, ticks: int, cc_shift: dict[int, int]) -> bytes:
    """Return MPEG-TS ``data`` with PTS/DTS/PCR moved by ``ticks`` (90 kHz) and the continuity
    counter of each PID in ``cc_shift`` advanced by its value."""
    buf = bytearray(data)
    for pos, pid, flags in _packets(data):
        if pid in cc_shift:
            buf[pos + 3] = (flags & 0xF0) | ((flags + cc_shift[pid]) & 0x0F)
        payload = pos + 4
        if flags & 0x20:  # adaptation field, maybe with a PCR
            if buf[pos + 4] and buf[pos + 5] & 0x10:
                _shift_pcr(buf, pos + 6, ticks)
            payload += 1 + buf[pos + 4]
        is_pes_start = flags & 0x10 and buf[pos + 1] & 0x40 and payload + 19 <= pos + 188
        if is_pes_start and buf[payload : payload + 3] == b"\0\0\1":
            if 0xC0 <= buf[payload + 3] <= 0xEF:  # audio or video elementary stream
                pts_dts = buf[payload + 7]
                if pts_dts & 0x80:
                    _shift_pes_timestamp(buf, payload + 9, ticks)
                if pts_dts & 0x40:
                    _shift_pes_timestamp(buf, payload + 14, ticks)
    return bytes(buf)


def _shift_pes_timestamp(buf: bytearray, at: int, ticks: int) -> None:
    b = buf[at : at + 5]
    ts = ((b[0] >> 1) & 0x07) << 30 | b[1] << 22 | (b[2] >> 1) << 15 | b[3] << 7 | b[4] >> 1
    ts = (ts + ticks) % _TS_MODULO
    buf[at] = (b[0] & 0xF1) | ((ts >> 29) & 0x0E)
    buf[at + 1] = (ts >> 22) & 0xFF
    buf[at + 2] = ((ts >> 14) & 0xFE) | 1
    buf[at + 3] = (ts >> 7) & 0xFF
    buf[at + 4] = ((ts << 1) & 0xFE) | 1


def _shift_pcr(buf: bytearray, at: int, ticks: int) -> None:
    base = buf[at] << 25 | buf[at + 1] << 17 | buf[at + 2] << 9 | buf[at + 3] << 1
    base = ((base | buf[at + 4] >> 7) + ticks) % _TS_MODULO
    buf[at : at + 4] = (base >> 1).to_bytes(4, "big")
    buf[at + 4] = (buf[at + 4] & 0x7F) | ((base & 1) << 7)
