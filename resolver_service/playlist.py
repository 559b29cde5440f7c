"""An m3u8 (HLS) parser for what real CDNs serve: master and media playlists, RFC 8216 plus LL-HLS.

The parser is tolerant where real CDNs are sloppy (a BOM, blank lines, unknown or low-latency
tags, optional attributes that do not parse) and strict where a wrong value would mislead the
recorder (segment durations, sequence numbers, target duration).

Every URI it returns is absolute, resolved against the URL the playlist was fetched from.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin, urlsplit, urlunsplit

from servicekit.errors import UpstreamError

__all__ = [
    "AudioRendition",
    "InitSection",
    "MasterPlaylist",
    "MediaPlaylist",
    "Segment",
    "Variant",
    "derive_uri",
    "parse_attributes",
    "parse_playlist",
]


@dataclass(frozen=True)
class Variant:
    """One ``#EXT-X-STREAM-INF`` entry of a master playlist."""

    uri: str
    bandwidth: int
    average_bandwidth: int | None = None
    width: int | None = None
    height: int | None = None
    frame_rate: float | None = None
    codecs: str | None = None
    audio_group: str | None = None
    name: str | None = None

    @property
    def resolution(self) -> str | None:
        """``"WxH"`` when the playlist declared a resolution, else None."""
        if self.width is None or self.height is None:
            return None
        return f"{self.width}x{self.height}"


@dataclass(frozen=True)
class AudioRendition:
    """One ``#EXT-X-MEDIA:TYPE=AUDIO`` entry; ``uri`` None means the audio is muxed in the video."""

    group_id: str
    name: str
    uri: str | None = None
    default: bool = False
    autoselect: bool = False
    language: str | None = None


@dataclass(frozen=True)
class MasterPlaylist:
    """A multivariant playlist: the variants to choose from and their audio renditions."""

    variants: tuple[Variant, ...]
    audio: tuple[AudioRendition, ...] = ()

    def audio_for(self, variant: Variant) -> AudioRendition | None:
        """The separate audio rendition to record with ``variant``, or None if audio is muxed.

        Among the renditions of the variant's AUDIO group that have a URI, the DEFAULT=YES one
        wins, else the first listed.
        """
        if variant.audio_group is None:
            return None
        candidates = [
            a for a in self.audio if a.group_id == variant.audio_group and a.uri is not None
        ]
        if not candidates:
            return None
        return next((a for a in candidates if a.default), candidates[0])


@dataclass(frozen=True)
class InitSection:
    """An ``#EXT-X-MAP`` (the fMP4/CMAF init segment)."""

    uri: str
    byterange: str | None = None


@dataclass(frozen=True)
class Segment:
    """One media segment (``#EXTINF`` + URI line)."""

    uri: str
    duration: float
    sequence: int
    discontinuity: bool = False
    program_date_time: datetime | None = None
    title: str | None = None
    init_section: InitSection | None = None


@dataclass(frozen=True)
class MediaPlaylist:
    """A media playlist: a (usually sliding) window of segments."""

    target_duration: int | None
    media_sequence: int
    discontinuity_sequence: int
    segments: tuple[Segment, ...]
    init_section: InitSection | None = None
    endlist: bool = False
    playlist_type: str | None = None

    @property
    def is_live(self) -> bool:
        """True while the playlist may still grow (no ``#EXT-X-ENDLIST``)."""
        return not self.endlist


# One attribute: KEY=value where value is a quoted string (may hold commas) or runs to the comma.
_ATTRIBUTE = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("[^"]*"|[^,]*)\s*(?:,|$)')
_RESOLUTION = re.compile(r"^\s*(\d{1,5})\s*[xX]\s*(\d{1,5})\s*$")
# Some CDNs (Chaturbate's among them) put the frame rate only in NAME, e.g. NAME="FPS:60.0".
_NAME_FPS = re.compile(r"FPS\s*[:=]\s*(\d+(?:\.\d+)?)", re.IGNORECASE)


def parse_attributes(text: str) -> dict[str, str]:
    """Parse an attribute list (``A=1,B="x,y"``) into a dict; keys upper-cased, quotes removed."""
    attrs: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        match = _ATTRIBUTE.match(text, pos)
        if match is None or match.end() == pos:
            # Garbage between attributes: skip to the next comma rather than give up on the line.
            comma = text.find(",", pos)
            if comma < 0:
                break
            pos = comma + 1
            continue
        value = match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        attrs[match.group(1).upper()] = value
        pos = match.end()
    return attrs


def derive_uri(uri: str, base_url: str) -> str:
    """Make ``uri`` absolute against ``base_url``, carrying the base's query onto it if it has none.

    CDNs put the access token only on the master URL (``?token=...``) and expect it on every URL
    derived from it; a URI with a query of its own already carries what the CDN wants.
    """
    absolute = urljoin(base_url, uri.strip())
    parts = urlsplit(absolute)
    base_query = urlsplit(base_url).query
    # Only hierarchical http(s) URLs get the token: never graft it onto some other scheme.
    if parts.query or not base_query or parts.scheme.lower() not in ("http", "https"):
        return urlunsplit(parts._replace(fragment=""))
    return urlunsplit(parts._replace(query=base_query, fragment=""))


def parse_playlist(text: str, base_url: str) -> MasterPlaylist | MediaPlaylist:
    """Parse m3u8 ``text`` fetched from ``base_url`` into a master or a media playlist.

    Raises UpstreamError(reason="NOT_A_PLAYLIST") when the text does not start with ``#EXTM3U``:
    the text is what a server answered (an HTML error page, a Cloudflare challenge, a captive
    portal), so it is the upstream's fault and may well be fine on the next try, not a bad
    request by our caller. Raises UpstreamError(reason="MALFORMED_PLAYLIST") when a tag the
    recorder relies on (EXTINF, TARGETDURATION, sequence numbers) holds garbage.
    """
    lines = [line.strip() for line in text.lstrip("\ufeff \t\r\n").splitlines()]
    if not lines or not lines[0].startswith("#EXTM3U"):
        raise UpstreamError(
            "the upstream answer is not an HLS playlist (no #EXTM3U header)",
            reason="NOT_A_PLAYLIST",
        )
    # Only a master has these tags (mind "#EXT-X-MEDIA-SEQUENCE", which is a media tag).
    if any(line.startswith(("#EXT-X-STREAM-INF", "#EXT-X-MEDIA:")) for line in lines):
        return _parse_master(lines, base_url)
    return _parse_media(lines, base_url)


def _split_tag(line: str) -> tuple[str, str]:
    tag, _, value = line.partition(":")
    return tag, value


def _int_or_none(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _float_or_none(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number > 0 else None


def _variant(attrs: dict[str, str], uri: str, base_url: str) -> Variant:
    width = height = None
    resolution = _RESOLUTION.match(attrs.get("RESOLUTION", ""))
    if resolution is not None:
        width, height = int(resolution.group(1)), int(resolution.group(2))
        if width == 0 or height == 0:
            width = height = None
    name = attrs.get("NAME")
    frame_rate = _float_or_none(attrs.get("FRAME-RATE"))
    if frame_rate is None and name:
        fps = _NAME_FPS.search(name)
        frame_rate = _float_or_none(fps.group(1)) if fps else None
    return Variant(
        uri=derive_uri(uri, base_url),
        # BANDWIDTH is mandatory by the RFC, but a variant without it is still recordable.
        bandwidth=max(_int_or_none(attrs.get("BANDWIDTH")) or 0, 0),
        average_bandwidth=_int_or_none(attrs.get("AVERAGE-BANDWIDTH")),
        width=width,
        height=height,
        frame_rate=frame_rate,
        codecs=attrs.get("CODECS") or None,
        audio_group=attrs.get("AUDIO") or None,
        name=name or None,
    )


def _parse_master(lines: list[str], base_url: str) -> MasterPlaylist:
    variants: list[Variant] = []
    audio: list[AudioRendition] = []
    pending: dict[str, str] | None = None
    for line in lines[1:]:
        if not line:
            continue
        if line.startswith("#"):
            tag, value = _split_tag(line)
            if tag == "#EXT-X-STREAM-INF":
                pending = parse_attributes(value)
            elif tag == "#EXT-X-MEDIA":
                attrs = parse_attributes(value)
                if attrs.get("TYPE", "").upper() == "AUDIO" and "GROUP-ID" in attrs:
                    uri = attrs.get("URI")
                    audio.append(
                        AudioRendition(
                            group_id=attrs["GROUP-ID"],
                            name=attrs.get("NAME", ""),
                            uri=derive_uri(uri, base_url) if uri else None,
                            default=attrs.get("DEFAULT", "").upper() == "YES",
                            autoselect=attrs.get("AUTOSELECT", "").upper() == "YES",
                            language=attrs.get("LANGUAGE") or None,
                        )
                    )
            # Everything else (I-frame streams, session data, unknown tags) is of no use here.
            continue
        if pending is not None:
            variants.append(_variant(pending, line, base_url))
            pending = None
    return MasterPlaylist(variants=tuple(variants), audio=tuple(audio))


def _required_int(tag: str, value: str) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        number = -1
    if number < 0:
        raise UpstreamError(f"{tag} is not a non-negative integer", reason="MALFORMED_PLAYLIST")
    return number


def _extinf(value: str) -> tuple[float, str | None]:
    duration_text, _, title = value.partition(",")
    try:
        duration = float(duration_text.strip())
    except ValueError:
        duration = -1.0
    if not math.isfinite(duration) or duration < 0:
        raise UpstreamError("#EXTINF has no valid duration", reason="MALFORMED_PLAYLIST")
    return duration, title.strip() or None


def _program_date_time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        # Informational only; a CDN's odd timestamp must not fail the whole playlist.
        return None


def _parse_media(lines: list[str], base_url: str) -> MediaPlaylist:
    target_duration: int | None = None
    media_sequence = 0
    discontinuity_sequence = 0
    endlist = False
    playlist_type: str | None = None
    first_map: InitSection | None = None
    current_map: InitSection | None = None
    segments: list[Segment] = []
    # State of the segment being described by the tags seen since the last URI line.
    extinf: tuple[float, str | None] | None = None
    discontinuity = False
    pdt: datetime | None = None
    for line in lines[1:]:
        if not line:
            continue
        if not line.startswith("#"):
            if extinf is not None:
                segments.append(
                    Segment(
                        uri=derive_uri(line, base_url),
                        duration=extinf[0],
                        sequence=media_sequence + len(segments),
                        discontinuity=discontinuity,
                        program_date_time=pdt,
                        title=extinf[1],
                        init_section=current_map,
                    )
                )
            extinf, discontinuity, pdt = None, False, None
            continue
        tag, value = _split_tag(line)
        if tag == "#EXTINF":
            extinf = _extinf(value)
        elif tag == "#EXT-X-TARGETDURATION":
            target_duration = _required_int(tag, value)
        elif tag == "#EXT-X-MEDIA-SEQUENCE":
            media_sequence = _required_int(tag, value)
        elif tag == "#EXT-X-DISCONTINUITY-SEQUENCE":
            discontinuity_sequence = _required_int(tag, value)
        elif tag == "#EXT-X-DISCONTINUITY":
            discontinuity = True
        elif tag == "#EXT-X-PROGRAM-DATE-TIME":
            pdt = _program_date_time(value)
        elif tag == "#EXT-X-MAP":
            attrs = parse_attributes(value)
            if attrs.get("URI"):
                current_map = InitSection(
                    uri=derive_uri(attrs["URI"], base_url), byterange=attrs.get("BYTERANGE")
                )
                first_map = first_map or current_map
        elif tag == "#EXT-X-ENDLIST":
            endlist = True
        elif tag == "#EXT-X-PLAYLIST-TYPE":
            playlist_type = value.strip().upper() or None
        # LL-HLS tags (EXT-X-PART, -PRELOAD-HINT, -SERVER-CONTROL, -RENDITION-REPORT, -PART-INF,
        # -SKIP) and any other tag are ignored: ffmpeg records whole segments, not parts.
    return MediaPlaylist(
        target_duration=target_duration,
        media_sequence=media_sequence,
        discontinuity_sequence=discontinuity_sequence,
        segments=tuple(segments),
        init_section=first_map,
        endlist=endlist,
        playlist_type=playlist_type,
    )
