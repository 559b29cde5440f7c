"""The fMP4 (CMAF) form of a media set: video-only renditions plus one audio rendition.

Made on demand from the cached MPEG-TS variants (``media.py``) in one ffmpeg run: the video of
each variant is remuxed (no re-encoding) and one AAC 48 kHz audio rendition is encoded; the
HLS muxer cuts both at the same segment boundaries, and the true durations are read back from
its playlists. Every segment is made of several fragments (``moof``+``mdat``), about a quarter
of a segment each, which the LL-HLS origin serves as parts. Cached next to the TS media in
``fmp4-<hash>/{v0,v1,...,audio}``.

Looping: pass ``loop`` over the source shifts every decode time by ``loop`` times the loop
length and the fragment sequence numbers to match (``fmp4.shift_fragments``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import subprocess
import time
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

from servicekit.ffmpeg import find_ffmpeg
from simlab.fakes import fmp4
from simlab.fakes.media import MediaSet, build_once, default_cache_dir

log = logging.getLogger(__name__)

# Bump when the ffmpeg command line or the layout changes, so stale caches are not reused.
_FMP4_VERSION = 1
_SAMPLE_RATE = 48_000
_AAC_FRAME = 1024
_PARTS_PER_SEGMENT = 4
_INIT = "init.mp4"


@dataclass(frozen=True)
class Part:
    """One fragment of a segment, served as an LL-HLS part."""

    offset: int
    length: int
    duration: float
    independent: bool


@dataclass(frozen=True)
class Fmp4Track:
    """One fMP4 rendition of the loop: an init segment and media segments made of parts."""

    kind: str  # "video" or "audio"
    directory: Path
    durations: tuple[float, ...]
    parts: tuple[tuple[Part, ...], ...]
    bandwidth: int
    codecs: str
    #: How far one pass moves the timestamps (the loop length of the TS media).
    loop_seconds: Fraction
    #: ``mfhd`` sequence numbers in one pass (the step from one pass to the next).
    sequence_delta: int
    timescales: tuple[tuple[int, int], ...]

    @property
    def segment_count(self) -> int:
        """Number of segments in the loop."""
        return len(self.durations)

    def init_bytes(self) -> bytes:
        """The initialization segment (``ftyp`` + ``moov``)."""
        return (self.directory / _INIT).read_bytes()

    def segment_path(self, index: int) -> Path:
        """Path of source segment ``index`` (0-based, < ``segment_count``)."""
        return self.directory / f"seg_{index:05d}.m4s"

    def segment_bytes(self, index: int, loop: int = 0) -> bytes:
        """Bytes of source segment ``index`` as played in pass ``loop`` over the source."""
        return self._shifted(self.segment_path(index).read_bytes(), loop)

    def part_bytes(self, index: int, part: int, loop: int = 0) -> bytes | None:
        """Bytes of part ``part`` of source segment ``index`` in pass ``loop`` (None: no such
        part)."""
        if not 0 <= part < len(self.parts[index]):
            return None
        info = self.parts[index][part]
        with self.segment_path(index).open("rb") as file:
            file.seek(info.offset)
            return self._shifted(file.read(info.length), loop)

    def _shifted(self, data: bytes, loop: int) -> bytes:
        if loop == 0:
            return data
        seconds = loop * self.loop_seconds
        return fmp4.shift_fragments(
            data, seconds, dict(self.timescales), loop * self.sequence_delta
        )


@dataclass(frozen=True)
class Fmp4Media:
    """The fMP4 renditions of a media set: one video track per variant, one audio track."""

    video: tuple[Fmp4Track, ...]
    audio: Fmp4Track

    @property
    def tracks(self) -> tuple[Fmp4Track, ...]:
        """Video tracks then the audio track."""
        return (*self.video, self.audio)

    @property
    def part_target(self) -> float:
        """The longest part of any track (the LL-HLS ``PART-TARGET``), rounded up to 1 ms."""
        longest = max(p.duration for t in self.tracks for parts in t.parts for p in parts)
        return -(-round(longest * 1e6) // 1000) / 1000


def ensure_fmp4(media: MediaSet, *, cache_dir: Path | None = None) -> MediaSet:
    """``media`` with its fMP4 form attached (``media.fmp4``), generating it if missing."""
    if media.fmp4 is not None:
        return media
    root = cache_dir if cache_dir is not None else default_cache_dir()
    return dataclasses.replace(media, fmp4=_ensure(media, root))


@lru_cache(maxsize=32)
def _ensure(media: MediaSet, root: Path) -> Fmp4Media:
    params = {
        "generator": _FMP4_VERSION,
        "sources": [v.directory.name for v in media.variants],
        "audio_kbps": media.variants[0].spec.audio_kbps,
    }
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    final = root / f"fmp4-{key}"
    build_once(final, key, lambda tmp: _generate(media, tmp))
    return _load(media, final)


def _load(media: MediaSet, directory: Path) -> Fmp4Media:
    meta = json.loads((directory / "meta.json").read_text())
    loop_seconds = Fraction(media.variants[0].loop_ticks, 90_000)

    def track(kind: str, name: str) -> Fmp4Track:
        info = meta[name]
        track_dir = directory / name
        return Fmp4Track(
            kind=kind,
            directory=track_dir,
            durations=tuple(float(d) for d in info["durations"]),
            parts=tuple(tuple(Part(*p) for p in parts) for parts in info["parts"]),
            bandwidth=int(info["bandwidth"]),
            codecs=str(info["codecs"]),
            loop_seconds=loop_seconds,
            sequence_delta=int(info["sequence_delta"]),
            timescales=tuple(fmp4.track_timescales((track_dir / _INIT).read_bytes()).items()),
        )

    video = tuple(track("video", f"v{i}") for i in range(len(media.variants)))
    return Fmp4Media(video, track("audio", "audio"))


def _generate(media: MediaSet, out: Path) -> None:
    started = time.monotonic()
    duration = media.segment_duration
    count = media.segment_count
    # One AAC frame less than the loop holds (plus the encoder's priming frame), as for TS.
    audio_frames = int(duration * count * _SAMPLE_RATE) // _AAC_FRAME - 1
    audio = f"sine=frequency=440:sample_rate={_SAMPLE_RATE}"
    audio += f",atrim=end_sample={audio_frames * _AAC_FRAME}"
    cmd = [find_ffmpeg(), "-hide_banner", "-nostdin", "-v", "error", "-y"]
    for variant in media.variants:
        cmd += ["-i", str(variant.directory / "index.m3u8")]
    cmd += ["-f", "lavfi", "-i", audio]
    outputs: list[tuple[str, Path]] = []
    for index, variant in enumerate(media.variants):
        frames = max(1, round(variant.spec.fps * duration / _PARTS_PER_SEGMENT))
        part = (frames - 0.5) / variant.spec.fps
        cmd += ["-map", f"{index}:v", "-c", "copy"]
        cmd += _hls_output(out / f"v{index}", duration, part)
        outputs.append((variant.codecs.split(",")[0], out / f"v{index}"))
    frames = max(1, round(duration / _PARTS_PER_SEGMENT * _SAMPLE_RATE / _AAC_FRAME))
    part = (frames - 0.5) * _AAC_FRAME / _SAMPLE_RATE
    cmd += ["-map", f"{len(media.variants)}:a", "-c:a", "aac", "-ar", str(_SAMPLE_RATE)]
    cmd += ["-b:a", f"{media.variants[0].spec.audio_kbps}k", "-ac", "2"]
    cmd += _hls_output(out / "audio", duration, part)
    outputs.append(("mp4a.40.2", out / "audio"))
    for _, directory in outputs:
        directory.mkdir()
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    meta = {d.name: _finish_track(d, codecs, count, d.name != "audio") for codecs, d in outputs}
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    log.info("generated fMP4 media in %.1fs", time.monotonic() - started)


def _hls_output(directory: Path, segment_duration: float, part_seconds: float) -> list[str]:
    return [
        "-f", "hls", "-hls_time", f"{segment_duration}", "-hls_list_size", "0",
        "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4",
        "-hls_fmp4_init_filename", _INIT,
        # Fragments of about a part each; keyframes stay only at segment starts.
        "-hls_segment_options", f"frag_duration={round(part_seconds * 1e6)}",
        "-hls_segment_filename", str(directory / "seg_%05d.m4s"),
        str(directory / "index.m3u8"),
    ]  # fmt: skip


def _finish_track(directory: Path, codecs: str, count: int, video: bool) -> dict[str, Any]:
    """Move stray fragments from the init file into segment 0; describe segments and parts."""
    init, stray = fmp4.split_init((directory / _INIT).read_bytes())
    (directory / _INIT).write_bytes(init)
    if stray:
        first = directory / "seg_00000.m4s"
        first.write_bytes(first.read_bytes() + stray)
    timescale = next(iter(fmp4.track_timescales(init).values()))
    playlist = (directory / "index.m3u8").read_text()
    durations = [float(line[8:].rstrip(",")) for line in playlist.split() if "#EXTINF:" in line]
    if len(durations) != count:
        raise RuntimeError(f"expected {count} segments in {directory}, got {len(durations)}")
    parts: list[list[tuple[int, int, float, bool]]] = []
    peak = 0.0
    first_sequence = last_sequence = None
    for index, seconds in enumerate(durations):
        data = (directory / f"seg_{index:05d}.m4s").read_bytes()
        peak = max(peak, len(data) * 8 / seconds)
        frags = fmp4.fragments(data)
        ends = [f.decode_time for f in frags[1:]]
        ends.append(frags[0].decode_time + round(seconds * timescale))
        parts.append(
            [
                (f.start, f.end - f.start, (end - f.decode_time) / timescale, i == 0 or not video)
                for i, (f, end) in enumerate(zip(frags, ends, strict=True))
            ]
        )
        sequences = _sequences(data)
        first_sequence = sequences[0] if first_sequence is None else first_sequence
        last_sequence = sequences[-1]
    assert first_sequence is not None and last_sequence is not None
    return {
        "durations": durations,
        "parts": parts,
        "bandwidth": int(peak),
        "codecs": codecs,
        "sequence_delta": last_sequence + 1 - first_sequence,
    }


def _sequences(data: bytes) -> list[int]:
    """The ``mfhd`` sequence numbers of a media segment."""
    return [
        int.from_bytes(data[box.body + 4 : box.body + 8], "big")
        for box in fmp4.walk(data)
        if box.type == "mfhd"
    ]
