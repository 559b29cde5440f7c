"""A site's CDN URL in front of the fake origin: serve one of the origin's master playlists
under the URL shape the site's CDN uses (``/hls/NxServer/...`` for MyFreeCams, ``/<stream>_v1/
index.ll.m3u8`` for CamSoda), with every URI it lists made absolute, so the media playlists and
segments come from the origin itself (``hls_origin.py``, one live-stream generator for all)."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from urllib.parse import urljoin

__all__ = ["extra_audio_rendition", "fetch_master"]

_URI_ATTR = re.compile(r'URI="([^"]*)"')
# Straight to the origin on loopback, whatever proxy the environment names.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch_master(url: str, *, timeout: float = 5.0) -> tuple[int, str]:
    """GET the origin's playlist at ``url``: (status, text with absolute URIs); the text is
    empty when the origin did not answer 200 (status 502 when it did not answer at all)."""
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            text = response.read().decode("utf-8")
            final = response.geturl()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:
        return 502, ""
    lines = []
    for line in text.splitlines():
        if line.startswith("#"):
            line = _URI_ATTR.sub(lambda m: f'URI="{urljoin(final, m.group(1))}"', line)
        elif line.strip():
            line = urljoin(final, line.strip())
        lines.append(line)
    return 200, "\n".join(lines) + "\n"


def extra_audio_rendition(master: str, name: str) -> str:
    """``master`` with a second, non-default audio rendition (the first one's URI) after the
    first: a multitrack playlist's ``a2`` (CamSoda lists two audio tracks)."""
    out: list[str] = []
    added = False
    for line in master.splitlines():
        out.append(line)
        if not added and line.startswith("#EXT-X-MEDIA:") and "TYPE=AUDIO" in line:
            second = line.replace("DEFAULT=YES", "DEFAULT=NO").replace(
                "AUTOSELECT=YES", "AUTOSELECT=NO"
            )
            out.append(re.sub(r'NAME="[^"]*"', f'NAME="{name}"', second))
            added = True
    return "\n".join(out) + "\n"
