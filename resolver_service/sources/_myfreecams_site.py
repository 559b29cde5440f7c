"""What MyFreeCams' share page says, as pure functions (no I/O): parsing, classification and
the preview playlist URL. The facts are in ``shared/brief/SITES.md`` (MyFreeCams).

``GET <share>/<username>`` answers 404 for no such user; a model's page holds a ``.campreview``
element whose data attributes name the video server and the model while she is on cam, and no
such element while she is not. The page is parsed with the standard library's HTML parser,
never with regular expressions, and every value taken from it is validated before it goes
into a URL: the page is the internet's text.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

from ..site_client import SiteResponse
from ..status import Availability
from ._site_answers import Verdict, generic_failure

__all__ = [
    "MODEL_ID_OFFSET",
    "Preview",
    "ShareLookup",
    "SharePage",
    "classify_preview",
    "classify_share",
    "parse_share_page",
    "preview_playlist_url",
    "validate_preview",
]

#: The stream id is the model id plus this (SITES.md: ``mfc_<100000000 + model id>``).
MODEL_ID_OFFSET = 100_000_000
_SERVER_ATTR = "data-cam-preview-server-id-value"
_MODEL_ATTR = "data-cam-preview-model-id-value"
_WZOBS_ATTR = "data-cam-preview-is-wzobs-value"
# Ids are decimal integers; these bounds keep a hostile page from building absurd URLs.
_MAX_SERVER_ID = 10**6
_MAX_MODEL_ID = 10**9
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0", ""})
_TRACKING_PATH = "/php/tracking.php"


@dataclass(frozen=True)
class SharePage:
    """What the share page holds: the first ``.campreview`` element's data attributes (None
    when there is none), and whether the page is a model's page at all (the tracking link
    with a ``model_id`` every model page carries; see ``docs/sites/myfreecams.md``)."""

    campreview: dict[str, str] | None
    is_model_page: bool


@dataclass(frozen=True)
class Preview:
    """The validated preview stream of a model on cam."""

    server_id: int
    model_id: int
    wzobs: bool


@dataclass(frozen=True)
class ShareLookup:
    """The share page's answer: a verdict, and the preview when ONLINE."""

    verdict: Verdict
    preview: Preview | None = None


class _ShareParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.campreview: dict[str, str] | None = None
        self.is_model_page = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name.lower(): value or "" for name, value in attrs}
        classes = values.get("class", "").split()
        if self.campreview is None and "campreview" in classes:
            self.campreview = {k: v for k, v in values.items() if k.startswith("data-")}
        if not self.is_model_page:
            self.is_model_page = any(_is_tracking_link(v) for v in values.values())


def _is_tracking_link(value: str) -> bool:
    if _TRACKING_PATH not in value:
        return False
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return False
    model_ids = parse_qs(parts.query).get("model_id", [])
    return parts.path.endswith(_TRACKING_PATH) and any(_is_decimal(m) for m in model_ids)


def parse_share_page(html: str) -> SharePage:
    """Parse a share page (any text: broken HTML gives what could be read)."""
    parser = _ShareParser()
    parser.feed(html)
    parser.close()
    return SharePage(campreview=parser.campreview, is_model_page=parser.is_model_page)


def _is_decimal(text: str) -> bool:
    return 0 < len(text) <= 10 and text.isascii() and text.isdigit()


def validate_preview(attrs: dict[str, str]) -> Preview:
    """The preview the ``.campreview`` attributes describe; ValueError naming the bad one."""
    server = attrs.get(_SERVER_ATTR, "").strip()
    model = attrs.get(_MODEL_ATTR, "").strip()
    wzobs = attrs.get(_WZOBS_ATTR, "").strip().lower()
    if not _is_decimal(server) or int(server) > _MAX_SERVER_ID:
        raise ValueError(f"the server id {server[:40]!r} is not an integer in range")
    if not _is_decimal(model) or not 0 < int(model) < _MAX_MODEL_ID:
        raise ValueError(f"the model id {model[:40]!r} is not an integer in range")
    if wzobs not in _TRUE | _FALSE:
        raise ValueError(f"the wzobs flag {wzobs[:40]!r} is neither true nor false")
    return Preview(server_id=int(server), model_id=int(model), wzobs=wzobs in _TRUE)


def preview_playlist_url(preview_base: str, preview: Preview) -> str:
    """``<preview base>/hls/NxServer/<server>/ngrp:mfc_[a_]<100000000 + model>...m3u8``.

    Only validated integers go into it, so nothing from the page can change its shape."""
    prefix = "a_" if preview.wzobs else ""
    stream = f"mfc_{prefix}{MODEL_ID_OFFSET + preview.model_id}"
    return (
        f"{preview_base.rstrip('/')}/hls/NxServer/{preview.server_id}/"
        f"ngrp:{stream}.f4v_mobile_mhp1080_previewurl/playlist.m3u8"
    )


def classify_share(response: SiteResponse) -> ShareLookup:
    """What a share page answer means.

    A challenge page: BLOCKED; 429: RATE_LIMITED; 5xx: UPSTREAM_ERROR (``_site_answers``).
    404: NOT_FOUND. 200 with a ``.campreview`` whose values are valid: ONLINE; with invalid
    values: UPSTREAM_ERROR (BAD_PREVIEW_DATA). 200 without one on a model's page: OFFLINE; on
    any other page (a maintenance page, a changed site): UPSTREAM_ERROR (NOT_A_SHARE_PAGE),
    never "offline". Any other status: UPSTREAM_ERROR (UPSTREAM_HTTP_<status>).
    """
    failure = generic_failure(response, "share page")
    if failure is not None:
        return ShareLookup(failure)
    status = response.status
    if status == 404:
        return ShareLookup(Verdict(Availability.NOT_FOUND, "share page: no such model"))
    if status != 200:
        return ShareLookup(
            Verdict(
                Availability.UPSTREAM_ERROR, f"share page: HTTP {status}", f"UPSTREAM_HTTP_{status}"
            )
        )
    page = parse_share_page(response.text)
    if page.campreview is not None:
        try:
            preview = validate_preview(page.campreview)
        except ValueError as exc:
            return ShareLookup(
                Verdict(Availability.UPSTREAM_ERROR, f"share page: {exc}", "BAD_PREVIEW_DATA")
            )
        return ShareLookup(Verdict(Availability.ONLINE), preview)
    if page.is_model_page:
        return ShareLookup(Verdict(Availability.OFFLINE, "share page: no cam preview"))
    return ShareLookup(
        Verdict(
            Availability.UPSTREAM_ERROR,
            "share page: the answer is not a model's share page",
            "NOT_A_SHARE_PAGE",
        )
    )


def classify_preview(response: SiteResponse) -> Verdict:
    """What the preview playlist's answer says of a model whose share page shows a preview.

    200: ONLINE. 404/410: PRIVATE: the preview card is there but not its stream, which other
    recorders read as a private show (unverified; see ``docs/sites/myfreecams.md``). A
    challenge, 429 or 5xx as anywhere; 401/403: UPSTREAM_ERROR (STREAM_FORBIDDEN), any other
    status UPSTREAM_ERROR: we could not tell.
    """
    failure = generic_failure(response, "preview playlist")
    if failure is not None:
        return failure
    status = response.status
    if status == 200:
        return Verdict(Availability.ONLINE)
    if status in (404, 410):
        return Verdict(
            Availability.PRIVATE,
            f"preview playlist: HTTP {status} while the share page shows the cam preview",
        )
    reason = "STREAM_FORBIDDEN" if status in (401, 403) else f"UPSTREAM_HTTP_{status}"
    return Verdict(Availability.UPSTREAM_ERROR, f"preview playlist: HTTP {status}", reason)
