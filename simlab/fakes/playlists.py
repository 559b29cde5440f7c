"""URL shapes and playlist text of the three CDN formats the fake origin can serve.

Paths (``name``: stream name, ``i``: video variant, ``id``: the stream's hex id, ``msn``: media
sequence number, ``p``: part index; audio renditions of cmaf/llhls have index 0)::

    ts     /live/{name}/master.m3u8, v{i}/index.m3u8, v{i}/seg_{msn}.ts
    cmaf   /cmaf/{name}/master.m3u8, v{i}/index.m3u8, v{i}/init.mp4, v{i}/seg_{msn}.m4s,
           audio/index.m3u8, audio/init.mp4, audio/seg_{msn}.m4s
    llhls  /v1/edge/streams/origin.{name}.{id}/llhls.m3u8, and in the same directory
           chunklist_{i}_video_{id}_llhls.m3u8, init_{i}_video_{id}.m4s,
           seg_{i}_{msn}_video_{id}_llhls.m4s, part_{i}_{msn}_{p}_video_{id}_llhls.m4s
           (and the same with ``audio``)

Every URI a playlist lists is relative and carries the query the caller gives (the token for
ts/cmaf, the session for llhls).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from simlab.fakes.media import MediaSet, VariantMedia
from simlab.fakes.media_fmp4 import Fmp4Track

FORMATS = ("ts", "cmaf", "llhls")
TRACKS = ("video", "audio")
_AUDIO_GROUP = "aud"
_PARTS_LISTED = 2  # complete segments at the live edge whose parts an LL-HLS playlist lists

_DIRS = {
    "ts": re.compile(r"/live/(?P<name>[\w.-]+)/(?P<file>.+)"),
    "cmaf": re.compile(r"/cmaf/(?P<name>[\w.-]+)/(?P<file>.+)"),
    "llhls": re.compile(
        r"/v1/edge/streams/origin\.(?P<name>[\w.-]+)\.(?P<id>[0-9a-f]+)/(?P<file>.+)"
    ),
}
_VIDEO = r"v(?P<index>\d+)"
_RENDITION = r"(?P<track>video|audio)_(?P<id>[0-9a-f]+)"
_FILES: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = {
    "ts": (
        ("master", re.compile(r"master\.m3u8")),
        ("playlist", re.compile(_VIDEO + r"/index\.m3u8")),
        ("segment", re.compile(_VIDEO + r"/seg_(?P<msn>\d+)\.ts")),
    ),
    "cmaf": (
        ("master", re.compile(r"master\.m3u8")),
        ("playlist", re.compile(rf"(?:{_VIDEO}|(?P<track>audio))/index\.m3u8")),
        ("init", re.compile(rf"(?:{_VIDEO}|(?P<track>audio))/init\.mp4")),
        ("segment", re.compile(rf"(?:{_VIDEO}|(?P<track>audio))/seg_(?P<msn>\d+)\.m4s")),
    ),
    "llhls": (
        ("master", re.compile(r"llhls\.m3u8")),
        ("playlist", re.compile(rf"chunklist_(?P<index>\d+)_{_RENDITION}_llhls\.m3u8")),
        ("init", re.compile(rf"init_(?P<index>\d+)_{_RENDITION}\.m4s")),
        ("segment", re.compile(rf"seg_(?P<index>\d+)_(?P<msn>\d+)_{_RENDITION}_llhls\.m4s")),
        (
            "part",
            re.compile(rf"part_(?P<index>\d+)_(?P<msn>\d+)_(?P<part>\d+)_{_RENDITION}_llhls\.m4s"),
        ),
    ),
}


@dataclass(frozen=True)
class Route:
    """What a live URL path asks for."""

    format: str
    name: str
    kind: str  # master, playlist, init, segment or part
    track: str = "video"
    index: int = 0
    msn: int = 0
    part: int = 0
    stream_id: str | None = None

    @property
    def request_kind(self) -> str:
        """The kind for the request log and ``http_error`` targets (init and parts are
        segments)."""
        return "segment" if self.kind in ("init", "part") else self.kind


def parse_path(path: str) -> Route | None:
    """The route of a live URL path (without the query), or None."""
    for fmt, pattern in _DIRS.items():
        directory = pattern.fullmatch(path)
        if directory is None:
            continue
        for kind, file_pattern in _FILES[fmt]:
            m = file_pattern.fullmatch(directory["file"])
            if m is None:
                continue
            g = m.groupdict()
            if g.get("id") not in (None, directory.groupdict().get("id")):
                return None  # a file of another stream id
            return Route(
                format=fmt,
                name=directory["name"],
                kind=kind,
                track="audio" if g.get("track") == "audio" else "video",
                index=int(g.get("index") or 0),
                msn=int(g.get("msn") or 0),
                part=int(g.get("part") or 0),
                stream_id=directory.groupdict().get("id"),
            )
    return None


def master_path(fmt: str, name: str, stream_id: str) -> str:
    """Absolute path of the master playlist."""
    if fmt == "llhls":
        return f"{_llhls_dir(name, stream_id)}/llhls.m3u8"
    return f"/{'live' if fmt == 'ts' else 'cmaf'}/{name}/master.m3u8"


def media_path(fmt: str, name: str, stream_id: str, track: str = "video", index: int = 0) -> str:
    """Absolute path of a media playlist."""
    if fmt == "llhls":
        return f"{_llhls_dir(name, stream_id)}/{_chunklist(track, index, stream_id)}"
    return master_path(fmt, name, stream_id).rsplit("/", 1)[0] + "/" + _cmaf_playlist(track, index)


def _llhls_dir(name: str, stream_id: str) -> str:
    return f"/v1/edge/streams/origin.{name}.{stream_id}"


def _chunklist(track: str, index: int, stream_id: str) -> str:
    return f"chunklist_{index}_{track}_{stream_id}_llhls.m3u8"


def _cmaf_playlist(track: str, index: int) -> str:
    return "audio/index.m3u8" if track == "audio" else f"v{index}/index.m3u8"


@dataclass(frozen=True)
class Entry:
    """One segment of a media playlist."""

    msn: int
    source: int  # index of the source segment in the loop
    discontinuity: bool
    program_date_time: str


@dataclass(frozen=True)
class Window:
    """What a media playlist shows right now (the same for every rendition)."""

    media_sequence: int
    discontinuity_sequence: int
    entries: tuple[Entry, ...]
    ended: bool
    #: The segment being produced (``end``), its source index, and how far into it the live
    #: clock is (None when nothing is in progress: stalled or ended).
    live_msn: int
    live_source: int
    live_elapsed: float | None
    live_discontinuity: bool


def published_parts(track: Fmp4Track, window: Window) -> int:
    """How many parts of the segment in progress are out."""
    if window.live_elapsed is None:
        return 0
    done, t = 0, 0.0
    for part in track.parts[window.live_source]:
        t += part.duration
        if t > window.live_elapsed + 1e-6:
            break
        done += 1
    return done


class Renderer:
    """Writes the playlists of one stream in one format."""

    def __init__(self, fmt: str, media: MediaSet, stream_id: str) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
        if fmt != "ts" and media.fmp4 is None:
            raise ValueError(f"format {fmt!r} needs the fMP4 media (media_fmp4.ensure_fmp4)")
        self.format = fmt
        self.media = media
        self.stream_id = stream_id
        #: The fMP4 media this format serves (None for ts).
        self.fmp4 = media.fmp4 if fmt != "ts" else None

    @property
    def target_duration(self) -> int:
        """``EXT-X-TARGETDURATION``: video segments are never longer; audio ones, cut on AAC
        frames, may be by a few ms (their durations round to at most it, as HLS requires)."""
        video = [d for v in self.media.variants for d in v.durations]
        target = max(math.ceil(round(d, 3)) for d in video)
        if self.fmp4 is not None:
            target = max([target, *(round(d) for d in self.fmp4.audio.durations)])
        return max(1, target)

    def rendition(self, track: str, index: int) -> VariantMedia | Fmp4Track | None:
        """The media of rendition ``(track, index)`` in this format, or None."""
        if self.format != "ts":
            return self.track(track, index)
        variants = self.media.variants
        return variants[index] if track == "video" and 0 <= index < len(variants) else None

    def track(self, track: str, index: int) -> Fmp4Track | None:
        """The fMP4 rendition ``(track, index)``, or None."""
        fmp4 = self.fmp4
        if fmp4 is None or track not in TRACKS:
            return None
        tracks = fmp4.video if track == "video" else (fmp4.audio,)
        return tracks[index] if 0 <= index < len(tracks) else None

    def master_playlist(self, query: str) -> str:
        """The master playlist; ``query`` (``?...`` or empty) goes on every URI."""
        lines = ["#EXTM3U", f"#EXT-X-VERSION:{self._version}"]
        audio_bandwidth = 0
        if self.fmp4 is not None:
            lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
            lines.append(
                f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{_AUDIO_GROUP}",NAME="audio",DEFAULT=YES,'
                f'AUTOSELECT=YES,URI="{self._playlist_uri("audio", 0)}{query}"'
            )
            audio_bandwidth = self.fmp4.audio.bandwidth
        for index, variant in enumerate(self.media.variants):
            spec = variant.spec
            bandwidth, codecs, group = variant.bandwidth, variant.codecs, ""
            if self.fmp4 is not None:
                video = self.fmp4.video[index]
                bandwidth = video.bandwidth + audio_bandwidth
                codecs = f"{video.codecs},{self.fmp4.audio.codecs}"
                group = f',AUDIO="{_AUDIO_GROUP}"'
            lines.append(
                f"#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},RESOLUTION={spec.width}x{spec.height},"
                f'FRAME-RATE={spec.fps:.3f},CODECS="{codecs}"{group}'
            )
            lines.append(self._playlist_uri("video", index) + query)
        return "\n".join(lines) + "\n"

    def media_playlist(self, track: str, index: int, window: Window, query: str) -> str | None:
        """The media playlist of a rendition (None: no such rendition)."""
        source = self.rendition(track, index)
        if source is None:
            return None
        fmp4 = source if isinstance(source, Fmp4Track) else None
        lines = ["#EXTM3U", f"#EXT-X-VERSION:{self._version}"]
        lines.append(f"#EXT-X-TARGETDURATION:{self.target_duration}")
        llhls = fmp4 is not None and self.format == "llhls"
        if llhls:
            target = self.part_target
            lines.append(
                f"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={3 * target:.3f}"
            )
            lines.append(f"#EXT-X-PART-INF:PART-TARGET={target:.3f}")
        lines.append(f"#EXT-X-MEDIA-SEQUENCE:{window.media_sequence}")
        lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{window.discontinuity_sequence}")
        if fmp4 is not None:
            lines.append(f'#EXT-X-MAP:URI="{self._init_uri(track, index)}{query}"')
        for n, entry in enumerate(window.entries):
            if n > 0 and entry.discontinuity:
                lines.append("#EXT-X-DISCONTINUITY")
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{entry.program_date_time}")
            if llhls and fmp4 is not None and n >= len(window.entries) - _PARTS_LISTED:
                lines += self._parts(fmp4, track, index, entry.msn, entry.source, None, query)
            lines.append(f"#EXTINF:{source.durations[entry.source]:.6f},")
            lines.append(self._segment_uri(track, index, entry.msn) + query)
        if window.ended:
            lines.append("#EXT-X-ENDLIST")
        elif llhls and fmp4 is not None:
            lines += self._live_edge(fmp4, track, index, window, query)
        return "\n".join(lines) + "\n"

    @property
    def part_target(self) -> float:
        """The LL-HLS ``PART-TARGET`` in seconds."""
        return self.fmp4.part_target if self.fmp4 is not None else 0.0

    @property
    def _version(self) -> int:
        return {"ts": 3, "cmaf": 7, "llhls": 9}[self.format]

    def _live_edge(
        self, fmp4: Fmp4Track, track: str, index: int, window: Window, query: str
    ) -> list[str]:
        """Parts of the segment in progress, the preload hint and the rendition reports."""
        done = published_parts(fmp4, window)
        lines = []
        if done and window.live_discontinuity and window.entries:
            lines.append("#EXT-X-DISCONTINUITY")
        msn, source = window.live_msn, window.live_source
        lines += self._parts(fmp4, track, index, msn, source, done, query)
        hint = (msn, done) if done < len(fmp4.parts[source]) else (msn + 1, 0)
        lines.append(
            f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{self._part_uri(track, index, *hint)}{query}"'
        )
        renditions = [("video", i) for i in range(len(self.media.variants))] + [("audio", 0)]
        for other_track, other_index in renditions:
            other = self.track(other_track, other_index)
            if (other_track, other_index) == (track, index) or other is None:
                continue
            last_msn, last_part = msn, published_parts(other, window) - 1
            if last_part < 0 and window.entries:
                last_msn, last_source = window.entries[-1].msn, window.entries[-1].source
                last_part = len(other.parts[last_source]) - 1
            uri = _chunklist(other_track, other_index, self.stream_id) + query
            lines.append(
                f'#EXT-X-RENDITION-REPORT:URI="{uri}",LAST-MSN={last_msn},LAST-PART={last_part}'
            )
        return lines

    def _parts(
        self,
        fmp4: Fmp4Track,
        track: str,
        index: int,
        msn: int,
        source: int,
        count: int | None,
        query: str,
    ) -> list[str]:
        lines = []
        for p, part in enumerate(fmp4.parts[source][:count]):
            independent = ",INDEPENDENT=YES" if part.independent else ""
            lines.append(
                f"#EXT-X-PART:DURATION={part.duration:.6f},"
                f'URI="{self._part_uri(track, index, msn, p)}{query}"{independent}'
            )
        return lines

    def _playlist_uri(self, track: str, index: int) -> str:
        if self.format == "llhls":
            return _chunklist(track, index, self.stream_id)
        return _cmaf_playlist(track, index)

    def _init_uri(self, track: str, index: int) -> str:
        if self.format == "llhls":
            return f"init_{index}_{track}_{self.stream_id}.m4s"
        return "init.mp4"

    def _segment_uri(self, track: str, index: int, msn: int) -> str:
        if self.format == "llhls":
            return f"seg_{index}_{msn}_{track}_{self.stream_id}_llhls.m4s"
        return f"seg_{msn}.{'ts' if self.format == 'ts' else 'm4s'}"

    def _part_uri(self, track: str, index: int, msn: int, part: int) -> str:
        return f"part_{index}_{msn}_{part}_{track}_{self.stream_id}_llhls.m4s"
