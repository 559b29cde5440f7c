"""What the fake stripchat.com answers: models, routing and JSON/HTML payloads (no I/O).

The shapes follow ``shared/brief/SITES.md`` ("Stripchat"). Where the real answer is unknown
the choice is marked *unverified* and kept strict rather than friendly:

- unknown user (cam endpoint): HTTP 404 ``{"error": "Not Found"}``; renamed user: HTTP 404
  ``{"error": "Model not found", "data": {"newUsername": ...}}`` (the real status codes of
  both are unverified; the bodies are as reported).
- ``isOnline`` is true unless the status is ``off``; ``isLive`` is true while the status is
  neither ``off`` nor ``idle`` and the cam is active (unverified).
- the bulk list omits unknown and deleted ids and refuses more than 100 ids with HTTP 400.
- user-ids: 404 ``{"error": "Not Found"}`` for unknown, deleted and renamed-away names.
- the profile page of an unknown or renamed-away name is a 404 without any state.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import asdict, dataclass
from http import HTTPStatus
from typing import Any, Protocol, TypedDict
from urllib.parse import parse_qs, unquote

from simlab.fakes.chaturbate_pages import THUMBNAIL
from simlab.fakes.site_kit import HTML, Reply, json_reply

#: Endpoint kinds, as logged.
KINDS = ("cam", "cam_id", "bulk", "ids", "page", "thumb", "other")
_ROUTES = (
    ("cam", re.compile(r"^/api/front/v2/models/username/(?P<key>[^/]+)/cam$")),
    ("cam_id", re.compile(r"^/api/front/v2/models/(?P<key>[^/]+)/cam$")),
    ("bulk", re.compile(r"^/api/front/models/list$")),
    ("ids", re.compile(r"^/api/front/users/user-ids/(?P<key>[^/]+)$")),
    ("thumb", re.compile(r"^/thumbs/(?P<ts>[0-9]+)/(?P<key>[^/]+)$")),
    ("page", re.compile(r"^/(?P<key>[A-Za-z0-9_-]+)/?$")),
)
#: The ``status`` words the real site is known to report.
STATUSES = ("public", "private", "groupShow", "p2p", "virtualPrivate", "p2pVoice", "off", "idle")
BULK_MAX_IDS = 100
_PHRASES = {status.value: status.phrase for status in HTTPStatus}
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


class ModelFields(TypedDict, total=False):
    id: int
    status: str
    cam_active: bool
    cam_available: bool
    viewers: int
    topic: str
    country: str
    gender: str
    deleted: bool
    geo_banned: bool
    snapshot_timestamp: int
    stream_name: str
    preview_url: str | None


@dataclass
class Model:
    """One broadcaster. ``id`` 0 is given one by the site; ``stream_name`` "" is the id;
    ``preview_url`` None is ``<image base>/thumbs/<snapshot_timestamp>/<stream_name>``."""

    username: str
    id: int = 0
    status: str = "public"
    cam_active: bool = True
    cam_available: bool = True
    viewers: int = 0
    topic: str = ""
    country: str = ""
    gender: str = "female"
    deleted: bool = False
    geo_banned: bool = False
    snapshot_timestamp: int = 1_764_900_000
    stream_name: str = ""
    preview_url: str | None = None

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.username):
            raise ValueError(f"invalid username {self.username!r}: [A-Za-z0-9_-] only")
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        if self.id < 0 or self.viewers < 0 or self.snapshot_timestamp < 0:
            raise ValueError("id, viewers and snapshot_timestamp must be >= 0")

    @property
    def key(self) -> str:
        return self.username.lower()

    @property
    def is_online(self) -> bool:
        return self.status != "off"

    @property
    def is_live(self) -> bool:
        return self.status not in ("off", "idle") and self.cam_active

    def thumbnail(self, image_base: str) -> str:
        if self.preview_url is not None:
            return self.preview_url
        return f"{image_base}/thumbs/{self.snapshot_timestamp}/{self.stream_name or self.id}"

    def user(self, image_base: str) -> dict[str, Any]:
        """``user.user`` of the cam answer (also the page's ``viewCam.model``)."""
        return {
            "id": self.id,
            "username": self.username,
            "status": "off" if self.deleted else self.status,
            "isOnline": self.is_online and not self.deleted,
            "isLive": self.is_live and not self.deleted,
            "isDeleted": self.deleted,
            "viewersCount": self.viewers,
            "previewUrlThumbBig": self.thumbnail(image_base),
            "snapshotTimestamp": self.snapshot_timestamp,
            "country": self.country,
            "broadcastGender": self.gender,
        }

    def cam(self) -> dict[str, Any]:
        return {
            "streamName": self.stream_name or str(self.id),
            "isCamActive": self.cam_active,
            "isCamAvailable": self.cam_available,
            "topic": self.topic,
            "viewServers": {"flashphoner-hls": "doppiocdn"},
        }

    def state(self) -> dict[str, Any]:
        return asdict(self)


class Site(Protocol):
    """What the pages need from the fake site (implemented by ``FakeStripchat``)."""

    @property
    def image_base(self) -> str: ...

    def find(self, username: str) -> Model | None: ...
    def find_id(self, model_id: int) -> Model | None: ...
    def renamed_to(self, username: str) -> str | None: ...


def classify(path: str) -> tuple[str, dict[str, str]]:
    """The endpoint kind of ``path`` and its captured groups (``other`` when none matches)."""
    for kind, pattern in _ROUTES:
        match = pattern.match(path)
        if match:
            return kind, {k: unquote(v) for k, v in match.groupdict().items()}
    return "other", {}


def answer(site: Site, path: str, query: str) -> Reply:
    """The site's answer to a GET of ``path?query`` (faults and blocks are applied before)."""
    kind, groups = classify(path)
    key = groups.get("key", "")
    if kind == "cam":
        return _cam(site, site.find(key), key)
    if kind == "cam_id":
        model = site.find_id(int(key)) if key.isdigit() else None
        return _cam(site, model, key)
    if kind == "bulk":
        return _bulk(site, query)
    if kind == "ids":
        model = site.find(key)
        if model is None or model.deleted:
            return json_reply({"error": "Not Found"}, 404)
        return json_reply({"id": model.id}, 200)
    if kind == "thumb":
        return Reply(200, THUMBNAIL, "image/jpeg")
    if kind == "page":
        return _page(site, site.find(key))
    return json_reply({"error": "Not Found"}, 404)


def _cam(site: Site, model: Model | None, key: str) -> Reply:
    if model is None:
        new = site.renamed_to(key)
        if new is not None:
            return json_reply({"error": "Model not found", "data": {"newUsername": new}}, 404)
        return json_reply({"error": "Not Found"}, 404)
    return json_reply(
        {
            "user": {"user": model.user(site.image_base), "isGeoBanned": model.geo_banned},
            "cam": model.cam(),
        }
    )


def _bulk(site: Site, query: str) -> Reply:
    raw = parse_qs(query).get("modelIds[]", [])
    if not raw or any(not v.isdigit() for v in raw):
        return json_reply({"error": "modelIds[] must be ids"}, 400)
    if len(raw) > BULK_MAX_IDS:
        return json_reply({"error": f"at most {BULK_MAX_IDS} ids"}, 400)
    models = []
    for value in dict.fromkeys(raw):
        model = site.find_id(int(value))
        if model is None or model.deleted:
            continue
        user = model.user(site.image_base)
        models.append({k: user[k] for k in _BULK_FIELDS})
    return json_reply({"models": models}, 200)


_BULK_FIELDS = ("id", "username", "status", "isOnline", "isLive", "viewersCount",
                "snapshotTimestamp", "previewUrlThumbBig")  # fmt: skip


def _page(site: Site, model: Model | None) -> Reply:
    if model is None or model.deleted:
        return Reply(404, b"<!doctype html><title>Page not found</title>", HTML)
    user = model.user(site.image_base)
    state = {
        "viewCam": {
            "model": {k: user[k] for k in ("id", "username", "status", "isLive", "isOnline")},
            "cam": model.cam(),
        },
        "config": {"hlsStreamHost": "doppiocdn.{tld}", "hlsStreamHostTlds": ["com", "net"]},
    }
    # ``</`` would end the script element: JSON allows it escaped.
    blob = json.dumps(state).replace("</", "<\\/")
    body = (
        f"<!doctype html><html><head><title>{html.escape(model.username)}</title></head><body>"
        f"<script>window.__PRELOADED_STATE__ = {blob};window.__X__ = {{}};</script>"
        "</body></html>"
    )
    return Reply(200, body.encode(), HTML)


def teapot_reply(kind: str) -> Reply:
    """How the site refuses a non-browser client: HTTP 418 (403 on the by-id endpoint)."""
    code = 403 if kind == "cam_id" else 418
    return Reply(code, f"{code} {_PHRASES[code]}".encode(), "text/plain")


def fault_reply(kind: str, status: int, retry_after: int) -> Reply:
    """The answer of an injected fault, in the site's JSON."""
    if kind == "rate_limit":
        return json_reply({"error": "Too Many Requests"}, 429, {"Retry-After": str(retry_after)})
    if kind == "non_json":
        return Reply(200, b"<!doctype html><title>Maintenance</title>", HTML)
    return json_reply({"error": _PHRASES.get(status, "error")}, status)
