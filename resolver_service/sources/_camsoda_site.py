"""What CamSoda's react API says, as pure functions (no I/O): classification, validation of
the stream it names, and the LL-HLS multitrack playlist URL. Facts: ``shared/brief/SITES.md``
(CamSoda); what each state means: ``docs/sites/camsoda.md``.

``GET <base>/api/v1/chat/react/<username>`` answers JSON: ``{"error": "No username found."}``
for no such user, else a ``stream`` object with ``edge_servers``, ``private_servers``,
``stream_name`` and ``token``. A 403 there is the site's rate limit (a Cloudflare challenge,
told apart by its page, is BLOCKED). Every value that goes into the playlist URL comes from
the site and is checked first: the edge must be a plain host[:port], the stream name a plain
word, and the token is percent-encoded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ..site_client import SiteResponse
from ..status import Availability
from ._site_answers import Verdict, generic_failure, json_object

__all__ = [
    "DEFAULT_TRACK_FILTER",
    "NO_USERNAME",
    "ReactAnswer",
    "Stream",
    "classify_react",
    "playlist_url",
    "validate_stream",
]

NO_USERNAME = "No username found."
#: The tracks the multitrack playlist offers: four video renditions and two audio ones.
DEFAULT_TRACK_FILTER = "tracks:v4v3v2v1a1a2"
# A DNS name (labels of letters, digits and hyphens) or an IPv4 address, with an optional port.
_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_EDGE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*(?::(?P<port>\d{{1,5}}))?")
_STREAM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_MAX_TOKEN = 4096


@dataclass(frozen=True)
class Stream:
    """A validated public stream: where it is and how to ask for it (the token is a secret)."""

    edge: str
    name: str
    token: str

    def __repr__(self) -> str:
        return f"Stream(edge={self.edge!r}, name={self.name!r})"


@dataclass(frozen=True)
class ReactAnswer:
    """The react API's answer: a verdict, and the stream when ONLINE."""

    verdict: Verdict
    stream: Stream | None = None


def validate_stream(edge: object, name: object, token: object) -> Stream:
    """The stream the API named; ValueError saying which value is unusable."""
    if not isinstance(edge, str) or not (match := _EDGE.fullmatch(edge)):
        raise ValueError(f"the edge server {str(edge)[:80]!r} is not a host name")
    if match["port"] is not None and not 0 < int(match["port"]) < 65536:
        raise ValueError(f"the edge server {edge[:80]!r} has a bad port")
    if not isinstance(name, str) or not _STREAM_NAME.fullmatch(name):
        raise ValueError(f"the stream name {str(name)[:80]!r} is not a plain name")
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN:
        raise ValueError("the stream token is missing or too long")
    if any(not (" " < ch <= "~") for ch in token):
        raise ValueError("the stream token is not printable ASCII")
    return Stream(edge=edge.lower(), name=name, token=token)


def playlist_url(scheme: str, stream: Stream, track_filter: str = DEFAULT_TRACK_FILTER) -> str:
    """``<scheme>://<edge>/<stream>_v1/index.ll.m3u8?filter=...&multitrack=true&token=...``."""
    track = quote(track_filter, safe=":")
    query = f"filter={track}&multitrack=true&token={quote(stream.token, safe='')}"
    return f"{scheme}://{stream.edge}/{quote(stream.name, safe='')}_v1/index.ll.m3u8?{query}"


def _non_empty_list(value: Any) -> bool:
    return isinstance(value, list) and len(value) > 0


def classify_react(response: SiteResponse) -> ReactAnswer:
    """What a react API answer means.

    A challenge page: BLOCKED; 403 or 429: RATE_LIMITED; 5xx: UPSTREAM_ERROR. A body saying
    "No username found.": NOT_FOUND. ``private_servers`` non-empty: PRIVATE (a private show is
    never taken for a public one). ``edge_servers`` non-empty with valid values: ONLINE
    (invalid ones: UPSTREAM_ERROR BAD_STREAM_DATA). A token without edge servers: OFFLINE.
    Anything else (no JSON, no ``stream``, another status): UPSTREAM_ERROR, never "offline".
    """
    failure = generic_failure(response, "react")
    if failure is not None:
        return ReactAnswer(failure)
    if response.status == 403:
        return ReactAnswer(
            Verdict(
                Availability.RATE_LIMITED,
                "react: HTTP 403, the site's rate limit",
                "RATE_LIMITED",
                response.retry_after,
            )
        )
    data = json_object(response)
    if data is not None and data.get("error") == NO_USERNAME:
        return ReactAnswer(Verdict(Availability.NOT_FOUND, "react: no such user"))
    if response.status != 200:
        return ReactAnswer(
            Verdict(
                Availability.UPSTREAM_ERROR,
                f"react: HTTP {response.status}",
                f"UPSTREAM_HTTP_{response.status}",
            )
        )
    if data is None:
        return ReactAnswer(
            Verdict(
                Availability.UPSTREAM_ERROR, "react: the answer is not a JSON object", "NOT_JSON"
            )
        )
    stream = data.get("stream")
    if not isinstance(stream, dict):
        error = str(data.get("error") or "no stream in the answer")[:200]
        return ReactAnswer(Verdict(Availability.UPSTREAM_ERROR, f"react: {error}", "NO_STREAM"))
    if _non_empty_list(stream.get("private_servers")):
        return ReactAnswer(Verdict(Availability.PRIVATE, "react: the room is in a private show"))
    edges = stream.get("edge_servers")
    if isinstance(edges, list) and edges:
        try:
            found = validate_stream(edges[0], stream.get("stream_name"), stream.get("token"))
        except ValueError as exc:
            return ReactAnswer(
                Verdict(Availability.UPSTREAM_ERROR, f"react: {exc}", "BAD_STREAM_DATA")
            )
        return ReactAnswer(Verdict(Availability.ONLINE), found)
    if isinstance(stream.get("token"), str) and stream.get("token"):
        return ReactAnswer(Verdict(Availability.OFFLINE, "react: no edge server"))
    return ReactAnswer(
        Verdict(
            Availability.UPSTREAM_ERROR,
            "react: neither edge servers nor a token in the stream",
            "NO_STREAM",
        )
    )
