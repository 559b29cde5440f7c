"""What the fake chaturbate.com answers: rooms, routing, JSON payloads, HTML pages (no I/O).

The shapes follow ``UPSTREAM.md`` ("Chaturbate: resolving a username"). Where the real answer
is unknown the choice is marked *unverified* and kept strict rather than friendly.
"""

from __future__ import annotations

import base64
import html
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http import HTTPStatus
from typing import Any, Protocol, TypedDict
from urllib.parse import parse_qs

from simlab.fakes.site_kit import Reply

#: Endpoint kinds, as logged.
KINDS = ("ajax", "api", "page", "bulk", "thumb", "other")
_ROUTES = (
    ("ajax", re.compile(r"^/get_edge_hls_url_ajax/$")),
    ("api", re.compile(r"^/api/chatvideocontext/(?P<user>[^/]+)/$")),
    ("bulk", re.compile(r"^/affiliates/api/onlinerooms/$")),
    ("thumb", re.compile(r"^/ri/(?P<user>[^/]+)\.jpg$")),
    ("page", re.compile(r"^/(?P<user>[A-Za-z0-9_]+)/$")),
)
JSON = "application/json"
HTML = "text/html; charset=utf-8"
_PHRASES = {status.value: status.phrase for status in HTTPStatus}
#: ``room_status`` values the real site is known to report.
ROOM_STATUSES = ("public", "offline", "private", "hidden", "password protected", "away", "group")
VIEWERS_FIELDS = ("num_users", "num_viewers")
#: How the chatvideocontext API refuses a password room: HTTP 401, or HTTP 200 with a code.
PASSWORD_STYLES = ("status", "json")
# The affiliate feed's ``current_show`` per status (unverified: password rooms show "public").
_CURRENT_SHOW = {"password protected": "public"}
# Django's ``escapejs`` set (the site is Django) plus "/" as "\/", as seen in real dossiers.
_JS_ESCAPES = {
    **{c: f"\\u{c:04X}" for c in range(32)},
    **{ord(c): f"\\u{ord(c):04X}" for c in "\\'\"<>&=-;`"},
    ord("/"): "\\/",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}
# An 8x8 grey baseline JPEG (219 bytes) for every room image.
THUMBNAIL = base64.b64decode(
    "/9j/4AAQSkZJRgABAgAAAQABAAD//gAPTGF2YzYzLjEuMTAyAP/bAEMACD4+ST5JVVVVVVVVZF1kaGhoZGRkZGhoaHBwcIOD"
    "g3BwcGhocHB8fIODj5OPh4eDh5OTm5uburqystnZ4P/////EAEoAAQAAAAAAAAAAAAAAAAAAAAABAQAAAAAAAAAAAAAAAAAA"
    "AAAQAQAAAAAAAAAAAAAAAAAAAAARAQAAAAAAAAAAAAAAAAAAAAD/wAARCAAIAAgDASIAAhEAAxEA/9oADAMBAAIRAxEAPwAA"
    "D//Z"
)


@dataclass
class Room:
    """One broadcaster's room. ``hls_url`` is revealed only while it can be watched here.

    ``password`` makes a ``public`` room report ``password protected``; ``geo_blocked`` keeps
    ``public`` but hides the URL (that is how the real site shows a region block).
    """

    username: str
    room_status: str = "public"
    hls_url: str = ""
    viewers: int = 0
    title: str = ""
    gender: str = "f"
    viewers_field: str = "num_users"
    password: bool = False
    password_style: str = "status"
    geo_blocked: bool = False
    cmaf_edge: bool = False
    country: str = ""
    age_gate: bool = False
    hidden_message: str = ""
    edge_region: str = "EU"
    tags: list[str] = field(default_factory=list)
    #: The room image's size in bytes (the 8x8 JPEG padded after its end); 0: the bare JPEG.
    image_size: int = 0

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_]+", self.username):
            raise ValueError(f"invalid username {self.username!r}: [A-Za-z0-9_] only")
        self.username = self.username.lower()
        if self.room_status not in ROOM_STATUSES:
            raise ValueError(f"room_status must be one of {ROOM_STATUSES}")
        if self.viewers_field not in VIEWERS_FIELDS:
            raise ValueError(f"viewers_field must be one of {VIEWERS_FIELDS}")
        if self.password_style not in PASSWORD_STYLES:
            raise ValueError(f"password_style must be one of {PASSWORD_STYLES}")
        if self.viewers < 0:
            raise ValueError("viewers must be >= 0")
        if self.image_size < 0 or self.image_size > 64 * 1024 * 1024:
            raise ValueError("image_size must be within [0, 64 MiB]")

    @property
    def status(self) -> str:
        """The ``room_status`` the site reports."""
        if self.password and self.room_status == "public":
            return "password protected"
        return self.room_status

    @property
    def password_protected(self) -> bool:
        """True when the API refuses to describe the room without its password."""
        return self.status == "password protected"

    @property
    def streaming_url(self) -> str:
        """The master playlist URL as revealed to this client ("" when not watchable)."""
        if self.status != "public" or self.geo_blocked:
            return ""
        return self.hls_url

    def state(self) -> dict[str, Any]:
        """Every field plus the reported status, for ``/_control``."""
        return {**asdict(self), "status": self.status, "streaming_url": self.streaming_url}


class RoomFields(TypedDict, total=False):
    """``Room``'s settable fields, as keyword arguments."""

    room_status: str
    hls_url: str
    viewers: int
    title: str
    gender: str
    viewers_field: str
    password: bool
    password_style: str
    geo_blocked: bool
    cmaf_edge: bool
    country: str
    age_gate: bool
    hidden_message: str
    edge_region: str
    tags: list[str]
    image_size: int


def thumbnail_url(base_url: str, username: str) -> str:
    """The room image URL (``roomimg.stream.highwebmedia.com/ri/<user>.jpg`` in reality)."""
    return f"{base_url}/ri/{username}.jpg"


def room_image(room: Room) -> bytes:
    """The room image: ``THUMBNAIL``, padded with zeros after its end to ``image_size``."""
    return THUMBNAIL + bytes(max(0, room.image_size - len(THUMBNAIL)))


def ajax_payload(room: Room | None) -> dict[str, Any]:
    """``get_edge_hls_url_ajax`` JSON; an unknown room is ``success: false`` (unverified)."""
    if room is None:
        return {
            "success": False,
            "url": "",
            "room_status": "",
            "hidden_message": "",
            "cmaf_edge": False,
            "error": "Room does not exist.",
        }
    hidden = room.hidden_message or "The broadcaster is in a hidden show."
    return {
        "success": True,
        "url": room.streaming_url,
        "room_status": room.status,
        "hidden_message": hidden if room.status == "hidden" else "",
        "cmaf_edge": room.cmaf_edge,
    }


def context_payload(room: Room, base_url: str) -> dict[str, Any]:
    """``api/chatvideocontext`` JSON, also the content of the page's dossier."""
    return {
        "broadcaster_username": room.username,
        "room_status": room.status,
        "hls_source": room.streaming_url,
        room.viewers_field: room.viewers,
        "room_title": room.title,
        "broadcaster_gender": room.gender,
        "edge_region": room.edge_region,
        "summary_card_image": thumbnail_url(base_url, room.username),
        "allow_private_shows": True,
        "is_widescreen": True,
    }


#: chatvideocontext bodies for a password room (HTTP 401, or 200 in "json" style).
PASSWORD_PAYLOAD = {"code": "unauthorized", "detail": "This room requires a password."}
#: chatvideocontext body for an unknown user, with HTTP 404 (unverified).
NOT_FOUND_PAYLOAD = {"code": "not_found", "detail": "Not found."}


def online_room(room: Room, base_url: str) -> dict[str, Any]:
    """One entry of the affiliate ``onlinerooms`` feed."""
    room_url = f"{base_url}/{room.username}/"
    return {
        "username": room.username,
        "display_name": room.username,
        "gender": room.gender,
        "country": room.country,
        "location": room.country,
        "spoken_languages": "English",
        "current_show": _CURRENT_SHOW.get(room.status, room.status),
        "num_users": room.viewers,
        "num_followers": 0,
        "room_subject": room.title,
        "image_url": thumbnail_url(base_url, room.username),
        "image_url_360x270": thumbnail_url(base_url, room.username),
        "chat_room_url": room_url,
        "chat_room_url_revshare": room_url,
        "is_hd": True,
        "is_new": False,
        "seconds_online": 600,
        "tags": list(room.tags),
    }


def js_string(text: str) -> str:
    """``text`` as a double-quoted JS string literal, escaped like the site's dossier."""
    return '"' + text.translate(_JS_ESCAPES) + '"'


def _page(title: str, body: str, head: str = "") -> bytes:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n{head}</head>\n<body>\n{body}\n</body>\n</html>\n"
    ).encode()


def room_page(room: Room, base_url: str) -> bytes:
    """The room page, holding ``window.initialRoomDossier`` (the chatvideocontext JSON)."""
    user = html.escape(room.username)
    dossier = js_string(json.dumps(context_payload(room, base_url)))
    head = (
        f'<meta property="og:image" content="{html.escape(thumbnail_url(base_url, user))}">\n'
        f'<link rel="canonical" href="{base_url}/{user}/">\n'
    )
    body = (
        f'<div id="main" class="roomPage"><h1 class="roomOwner">{user}</h1>\n'
        f'<div class="roomSubject">{html.escape(room.title)}</div>\n'
        '<div id="player"></div></div>\n'
        '<script type="text/javascript">\n'
        f"    window.initialRoomDossier = {dossier};\n"
        '    window.pageLanguage = "en";\n'
        "</script>"
    )
    return _page(f"{room.username}'s Chat Room @ Chaturbate", body, head)


def age_gate_page() -> bytes:
    """The age verification interstitial (no dossier)."""
    body = (
        '<div id="entrance_terms"><h1>Verify your age</h1>\n'
        "<p>This website contains sexually explicit material. You must be 18 or older.</p>\n"
        '<form method="post" action="/terms/"><button name="agree">I AGREE</button>'
        '<a href="https://www.google.com/">EXIT</a></form></div>'
    )
    return _page("Chaturbate - Age Verification", body)


def challenge_page(ray: str) -> bytes:
    """A Cloudflare managed-challenge page."""
    head = (
        '<meta name="robots" content="noindex,nofollow">\n'
        '<meta http-equiv="refresh" content="390">\n'
    )
    body = (
        '<div class="main-wrapper" role="main"><div class="main-content">\n'
        '<h1 class="zone-name-title h1">chaturbate.com</h1>\n'
        '<h2 id="challenge-running" class="h2">Checking if the site connection is secure</h2>\n'
        '<noscript><div id="challenge-error-title">Enable JavaScript and cookies to continue'
        "</div></noscript>\n"
        '<div id="challenge-body-text">chaturbate.com needs to review the security of your'
        " connection before proceeding.</div></div></div>\n"
        f"<script>window._cf_chl_opt={{cvId: '3',cZone: 'chaturbate.com',cType: 'managed',"
        f"cRay: '{ray}'}};</script>\n"
        f'<script src="/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1?ray={ray}">'
        "</script>\n"
        f'<div class="footer">Ray ID: <code>{ray}</code> Performance &amp; security by '
        '<a href="https://www.cloudflare.com">Cloudflare</a></div>'
    )
    return _page("Just a moment...", body, head)


def maintenance_page() -> bytes:
    """What the site serves, with HTTP 200, while it is down for maintenance."""
    body = "<h1>Chaturbate is down for maintenance</h1>\n<p>We will be back shortly.</p>"
    return _page("Chaturbate - Maintenance", body)


def error_page(status: int, reason: str) -> bytes:
    """A plain error page (an origin error as passed on by the CDN)."""
    return _page(f"{status} {reason}", f"<h1>{status} {html.escape(reason)}</h1>")


def csrf_failure_page() -> bytes:
    """Django's 403 page for a POST without a valid CSRF token."""
    body = (
        "<h1>Forbidden <span>(403)</span></h1>\n"
        "<p>CSRF verification failed. Request aborted.</p>\n"
        "<p>You are seeing this message because this site requires a CSRF cookie when "
        "submitting forms.</p>"
    )
    return _page("403 Forbidden", body)


def not_found_page() -> bytes:
    """The site's 404 page (unknown room or path)."""
    return _page("Page Not Found", "<h1>HTTP 404 - Page Not Found</h1>")


def home_page(base_url: str) -> bytes:
    """A minimal front page."""
    return _page("Chaturbate - Free Adult Webcams", f'<a href="{base_url}/">chaturbate</a>')


# -- routing ------------------------------------------------------------------------------


class SiteView(Protocol):
    """What the routing reads from the site."""

    @property
    def base_url(self) -> str: ...

    @property
    def options(self) -> dict[str, Any]: ...

    def get(self, username: str) -> Room | None: ...

    def rooms(self) -> list[Room]: ...


def classify(path: str) -> tuple[str, re.Match[str] | None]:
    """The endpoint kind of a URL path, and its route match (None: no route matched)."""
    for kind, pattern in _ROUTES:
        match = pattern.match(path)
        if match is not None:
            return kind, match
    for kind, pattern in _ROUTES:  # APPEND_SLASH: the kind of the path it redirects to
        if not path.endswith("/") and pattern.match(path + "/"):
            return kind, None
    return "other", None


def cloudflare_gate(options: Mapping[str, Any], headers: Mapping[str, str]) -> Reply | None:
    """The challenge for a request without the required clearance cookie or User-Agent."""
    cookie, agent = options["required_cookie"], options["required_user_agent_substring"]
    sent = {c.strip() for c in headers.get("cookie", "").split(";")}
    if (cookie and cookie not in sent) or (agent and agent not in headers.get("user-agent", "")):
        return challenge_reply(403)
    return None


def challenge_reply(status: int) -> Reply:
    """Cloudflare's managed challenge."""
    headers = {"cf-mitigated": "challenge", "Cross-Origin-Embedder-Policy": "require-corp"}
    return Reply(status, challenge_page(secrets.token_hex(8)), headers=headers)


def fault_reply(kind: str, status: int, retry_after: int) -> Reply:
    """The answer to a request hit by an injected fault (``slow`` only delays)."""
    if kind == "challenge":
        return challenge_reply(status)
    if kind == "rate_limit":
        return error_reply(429, {"Retry-After": str(retry_after)})
    if kind == "error":
        return error_reply(status)
    return Reply(200, maintenance_page())  # non_json: a maintenance page with HTTP 200


def error_reply(status: int, headers: dict[str, str] | None = None) -> Reply:
    """A plain HTML error page."""
    return Reply(status, error_page(status, _PHRASES.get(status, "Error")), headers=headers or {})


def answer(
    site: SiteView,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    form: Mapping[str, str],
) -> Reply:
    """The site's own answer to a request that got past Cloudflare and the faults."""
    kind, match = classify(path)
    if kind == "other":
        return Reply(200, home_page(site.base_url)) if path == "/" else _not_found()
    if match is None:
        return Reply(301, b"", headers={"Location": path + "/" + (f"?{query}" if query else "")})
    if kind == "ajax":
        return _ajax(site, method, headers, form)
    if method != "GET":
        return error_reply(405, {"Allow": "GET"})
    if kind == "bulk":
        return _bulk(site, {k: v[0] for k, v in parse_qs(query).items()})
    room = site.get(match["user"])
    if kind == "thumb":
        return Reply(200, room_image(room), "image/jpeg") if room else _not_found()
    if kind == "api":
        if room is None:
            return _json_reply(404, NOT_FOUND_PAYLOAD)
        if room.password_protected:
            return _json_reply(401 if room.password_style == "status" else 200, PASSWORD_PAYLOAD)
        return _json_reply(200, context_payload(room, site.base_url))
    if room is None:
        return _not_found()
    if room.age_gate or site.options["age_gate"]:
        return Reply(200, age_gate_page())
    return Reply(200, room_page(room, site.base_url))


def _ajax(
    site: SiteView, method: str, headers: Mapping[str, str], form: Mapping[str, str]
) -> Reply:
    if method != "POST":
        return error_reply(403)
    if site.options["ajax_csrf_required"]:
        return Reply(403, csrf_failure_page())
    if headers.get("x-requested-with") != "XMLHttpRequest":
        return error_reply(403)
    return _json_reply(200, ajax_payload(site.get(form.get("room_slug", ""))))


def _bulk(site: SiteView, query: Mapping[str, str]) -> Reply:
    # Unverified: how the real feed refuses a bad request; these are explicit JSON errors.
    if query.get("format") != "json":
        return _json_reply(400, {"status": "error", "message": "format must be json"})
    code = site.options["affiliate_code"]
    if not code or query.get("wm") != code:
        return _json_reply(401, {"status": "error", "message": "Invalid or missing wm code."})
    rooms = [r for r in site.rooms() if r.status != "offline"]
    return _json_reply(200, [online_room(r, site.base_url) for r in rooms])


def parse_form(content_type: str, body: bytes) -> dict[str, str]:
    """The POST form fields, as Django parses them (urlencoded or multipart only)."""
    if content_type.startswith("application/x-www-form-urlencoded"):
        text = body.decode("utf-8", "replace")
        return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}
    if not content_type.startswith("multipart/form-data"):
        return {}
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    form: dict[str, str] = {}
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            payload = part.get_payload(decode=True)
            form[name] = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return form


def _not_found() -> Reply:
    return Reply(404, not_found_page())


def _json_reply(status: int, data: Any) -> Reply:
    return Reply(status, json.dumps(data).encode(), JSON)
