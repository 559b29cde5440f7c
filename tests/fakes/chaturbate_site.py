"""A fake chaturbate.com on loopback: rooms, the three resolve paths, the affiliate feed, faults.

URLs (``<user>`` is case-insensitive; the answers are built in ``chaturbate_pages.py``)::

    POST /get_edge_hls_url_ajax/                form room_slug=<user>&bandwidth=high
    GET  /api/chatvideocontext/<user>/          JSON room context
    GET  /<user>/                               room page with window.initialRoomDossier
    GET  /affiliates/api/onlinerooms/?format=json&wm=<code>
    GET  /ri/<user>.jpg                         room image (a JPEG; ``image_size`` pads it)
    GET  /_control                              state: options, rooms, faults
    POST /_control/fault | /_control/clear | /_control/site      JSON bodies, see ``control``
    GET|POST|DELETE /_control/room/<user>       a room's state / create-or-update / remove

Every site response carries ``Server: cloudflare`` and a ``cf-ray`` (the real site sits
behind Cloudflare, so only ``cf-mitigated`` and the page tell a challenge apart). A path
without its trailing slash is redirected (301) to it, as Django's APPEND_SLASH does.
``/_control`` requests are not logged and never affected by faults.

Choices where the real behaviour is unverified (kept strict rather than friendly):

- ajax, unknown room: HTTP 200 ``{"success": false, "url": "", "room_status": "", ...,
  "error": "Room does not exist."}``; ``ajax_csrf_required``: Django's HTML CSRF 403 page for
  every POST (no token is accepted); GET or no ``X-Requested-With``: HTML 403.
- chatvideocontext: password room HTTP 401 (or 200 with ``password_style="json"``), both with
  ``{"code": "unauthorized", "detail": ...}``; unknown user HTTP 404 ``{"code": "not_found",
  "detail": "Not found."}``. The page's dossier is exactly the API's JSON.
- onlinerooms: ``format`` other than json: HTTP 400, wrong/missing ``wm`` or no configured
  ``affiliate_code``: HTTP 401, both ``{"status": "error", "message": ...}``; a password
  room is listed with ``current_show: "public"``.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, replace
from typing import Any, NamedTuple, Unpack
from urllib.parse import urlsplit

from tests.fakes import chaturbate_pages as pages
from tests.fakes.chaturbate_pages import KINDS, Reply, Room, RoomFields
from tests.fakes.loopback import Background, TrackedHandler, TrackedServer

log = logging.getLogger(__name__)

FAULT_KINDS = ("challenge", "rate_limit", "error", "non_json", "slow")
FAULT_TARGETS = ("all", *(kind for kind in KINDS if kind != "other"))
# When several faults match, the first of these answers (a CDN block before the origin's).
_BLOCKING = ("challenge", "rate_limit", "error", "non_json")
_OPTIONS = frozenset(
    {"affiliate_code", "ajax_csrf_required", "age_gate", "required_cookie"}
    | {"required_user_agent_substring"}
)


class SiteRequest(NamedTuple):
    """One request the site answered; ``status`` 0: the server stopped before answering."""

    monotonic: float
    time: float
    method: str
    path: str
    kind: str
    status: int
    headers: dict[str, str]  # names lower-cased
    body: str
    form: dict[str, str]


@dataclass
class Fault:
    """An active site-wide fault (``expires_at`` on the monotonic clock)."""

    kind: str
    target: str = "all"
    expires_at: float | None = None
    count: int | None = None
    status: int = 503
    retry_after: int = 1
    delay: float = 0.0


class ControlError(ValueError):
    """A control request that cannot be applied; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class FakeChaturbate(Background["_Server"]):
    """Threaded HTTP server on loopback that behaves like chaturbate.com; thread-safe.

    Site options (``set_options`` changes them live): ``affiliate_code`` (the ``wm`` the
    affiliate feed accepts), ``ajax_csrf_required``, ``age_gate`` (every room page),
    ``required_cookie`` (``"name=value"``) and ``required_user_agent_substring``: requests
    without them get the Cloudflare challenge.
    """

    thread_name = "fake-chaturbate"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        affiliate_code: str | None = None,
        ajax_csrf_required: bool = False,
        age_gate: bool = False,
        required_cookie: str | None = None,
        required_user_agent_substring: str | None = None,
        request_log_size: int = 50_000,
    ) -> None:
        super().__init__(host, port)
        self._lock = threading.Lock()
        self._rooms: dict[str, Room] = {}
        self._faults: dict[str, Fault] = {}
        self._options: dict[str, Any] = {}
        self.set_options(
            affiliate_code=affiliate_code,
            ajax_csrf_required=ajax_csrf_required,
            age_gate=age_gate,
            required_cookie=required_cookie,
            required_user_agent_substring=required_user_agent_substring,
        )
        self._log: deque[SiteRequest] = deque(maxlen=request_log_size)

    def _make_server(self, address: tuple[str, int]) -> _Server:
        return _Server(address, _Handler, self)

    # -- rooms and options ----------------------------------------------------------------

    def add_room(self, username: str, **fields: Unpack[RoomFields]) -> Room:
        """Create (or replace) a room; ``fields`` are ``Room``'s (room_status, hls_url, ...)."""
        room = Room(username, **fields)
        with self._lock:
            self._rooms[room.username] = room
        return room

    def room(self, username: str) -> Room:
        """The room (KeyError if there is none); mutate it through ``set_room``."""
        with self._lock:
            return self._rooms[username.lower()]

    def get(self, username: str) -> Room | None:
        """A snapshot of the room, or None."""
        with self._lock:
            room = self._rooms.get(username.lower())
            return None if room is None else replace(room)

    def rooms(self) -> list[Room]:
        """Snapshots of every room."""
        with self._lock:
            return [replace(room) for room in self._rooms.values()]

    def remove_room(self, username: str) -> None:
        """Forget the room: it becomes an unknown user."""
        with self._lock:
            self._rooms.pop(username.lower(), None)

    def set_room(self, username: str, **fields: Unpack[RoomFields]) -> Room:
        """Change a room's fields live (validated, all or nothing); returns the room."""
        unknown = set(fields) - RoomFields.__annotations__.keys()
        if unknown:
            raise ValueError(f"unknown room fields {sorted(unknown)}")
        with self._lock:
            room = self._rooms[username.lower()]
            checked = replace(room, **fields)
            for name in fields:
                setattr(room, name, getattr(checked, name))
            return room

    def set_options(self, **options: Any) -> dict[str, Any]:
        """Set site options (see ``__init__``); returns them all."""
        unknown = set(options) - _OPTIONS
        if unknown:
            raise ValueError(f"unknown site options {sorted(unknown)}; known: {sorted(_OPTIONS)}")
        with self._lock:
            self._options.update(options)
            return dict(self._options)

    @property
    def options(self) -> dict[str, Any]:
        """A copy of the site options."""
        with self._lock:
            return dict(self._options)

    # -- faults ---------------------------------------------------------------------------

    def set_fault(
        self,
        kind: str,
        *,
        target: str = "all",
        duration: float | None = None,
        count: int | None = None,
        status: int | None = None,
        retry_after: int = 1,
        delay: float = 0.0,
    ) -> None:
        """Make matching requests fail (replaces an active fault of the same kind).

        ``challenge`` (``status`` 403 or 503), ``rate_limit`` (429 + ``Retry-After``),
        ``error`` (``status``, default 503), ``non_json`` (200 + a maintenance page),
        ``slow`` (wait ``delay`` s first). ``count``: only the next N matching requests;
        ``duration``: clears itself after that many seconds.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; kinds: {FAULT_KINDS}")
        if target not in FAULT_TARGETS:
            raise ValueError(f"unknown target {target!r}; targets: {FAULT_TARGETS}")
        if status is None:
            status = 403 if kind == "challenge" else 503
        if not 400 <= status <= 599 or (kind == "challenge" and status not in (403, 503)):
            raise ValueError(f"bad status {status} for {kind}")
        if (count is not None and count < 1) or (duration is not None and duration <= 0):
            raise ValueError("count must be >= 1 and duration > 0")
        if retry_after < 0 or (kind == "slow" and delay <= 0):
            raise ValueError("retry_after must be >= 0; slow needs delay > 0")
        expires = None if duration is None else time.monotonic() + duration
        fault = Fault(kind, target, expires, count, status, int(retry_after), float(delay))
        with self._lock:
            self._faults[kind] = fault

    def clear_faults(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()

    def take_faults(self, kind: str, *, blocking: bool = True) -> tuple[float, Fault | None]:
        """The delay and (if ``blocking``) the answering fault for a request (counts consumed)."""
        now = time.monotonic()
        with self._lock:
            for name, fault in list(self._faults.items()):
                if fault.expires_at is not None and now >= fault.expires_at:
                    del self._faults[name]
            slow = self._consume("slow", kind)
            hits = (self._consume(name, kind) for name in (_BLOCKING if blocking else ()))
            answering = next((fault for fault in hits if fault is not None), None)
        return (slow.delay if slow is not None else 0.0), answering

    def _consume(self, name: str, kind: str) -> Fault | None:
        fault = self._faults.get(name)
        if fault is None or fault.target not in ("all", kind):
            return None
        if fault.count is not None:
            fault.count -= 1
            if fault.count <= 0:
                del self._faults[name]
        return fault

    # -- request log ----------------------------------------------------------------------

    def record(self, entry: SiteRequest) -> None:
        """Add a request to the log (called by the request handler)."""
        with self._lock:
            self._log.append(entry)

    def requests(self, kind: str | None = None) -> list[SiteRequest]:
        """The logged requests (of ``kind``), oldest first."""
        if kind is not None and kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; kinds: {KINDS}")
        with self._lock:
            return [r for r in self._log if kind is None or r.kind == kind]

    def request_count(self, kind: str | None = None) -> int:
        """How many requests (of ``kind``) the log holds."""
        return len(self.requests(kind))

    def reset_log(self) -> None:
        """Empty the request log."""
        with self._lock:
            self._log.clear()

    def max_requests_in_window(self, seconds: float, kind: str | None = None) -> int:
        """The most requests (of ``kind``) that arrived within any ``[t, t + seconds)``."""
        times = sorted(r.monotonic for r in self.requests(kind))
        best = start = 0
        for end, arrived in enumerate(times):
            while arrived - times[start] >= seconds:
                start += 1
            best = max(best, end - start + 1)
        return best

    # -- control --------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Options, rooms, active faults and the request count, as JSON-ready data."""
        now = time.monotonic()
        with self._lock:
            faults = [
                {**asdict(f), "expires_in": None if f.expires_at is None else f.expires_at - now}
                for f in self._faults.values()
                if f.expires_at is None or f.expires_at > now
            ]
            return {
                "options": dict(self._options),
                "rooms": [room.state() for room in self._rooms.values()],
                "faults": faults,
                "request_count": len(self._log),
            }

    def control(self, method: str, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Apply one ``/_control`` request; returns the JSON to answer."""
        if path.startswith("/_control/room/"):
            user = path.removeprefix("/_control/room/").strip("/")
            return self._control_room(method, user, payload)
        if method == "GET" and path in ("/_control", "/_control/"):
            return self.state()
        try:
            if method == "POST" and path == "/_control/fault":
                options = {k: v for k, v in payload.items() if k != "kind"}
                self.set_fault(str(payload.get("kind")), **options)
            elif method == "POST" and path == "/_control/clear":
                self.clear_faults()
            elif method == "POST" and path == "/_control/site":
                self.set_options(**payload)
            else:
                raise ControlError(f"no control endpoint {method} {path}", 404)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ControlError):
                raise
            raise ControlError(f"bad control request {payload!r}: {exc}") from exc
        return self.state()

    def _control_room(self, method: str, user: str, payload: dict[str, Any]) -> dict[str, Any]:
        if method == "DELETE":
            self.remove_room(user)
            return {"username": user.lower(), "removed": True}
        try:
            if method == "POST":
                room = self.set_room(user, **payload) if self.get(user) else None
                return (room or self.add_room(user, **payload)).state()
        except (TypeError, ValueError) as exc:
            raise ControlError(f"bad room fields {payload!r}: {exc}") from exc
        room = self.get(user)
        if room is None:
            raise ControlError(f"no room {user!r}", 404)
        return room.state()


class _Server(TrackedServer):
    def __init__(
        self, address: tuple[str, int], handler: type[_Handler], site: FakeChaturbate
    ) -> None:
        self.site = site
        super().__init__(address, handler)


class _Handler(TrackedHandler):
    server: _Server

    def version_string(self) -> str:
        return "cloudflare"

    def do_GET(self) -> None:
        """Serve a site URL or a control request."""
        self._handle()

    def do_POST(self) -> None:
        """Serve a site URL or a control request."""
        self._handle()

    def do_DELETE(self) -> None:
        """Remove a room (control only)."""
        self._handle()

    def _handle(self) -> None:
        arrived, wall = time.monotonic(), time.time()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlsplit(self.path)
        if url.path == "/_control" or url.path.startswith("/_control/"):
            self._control(url.path, body)
            return
        site = self.server.site
        kind = pages.classify(url.path)[0]
        headers = {name.lower(): value for name, value in self.headers.items()}
        form = pages.parse_form(headers.get("content-type", ""), body)
        gate = pages.cloudflare_gate(site.options, headers)
        delay, fault = site.take_faults(kind, blocking=gate is None)
        reply: Reply | None = None
        if delay > 0 and site.stopping.wait(delay):
            self.close_connection = True  # stopped meanwhile: hang up without an answer
        elif gate is not None:
            reply = gate
        elif fault is not None:
            reply = pages.fault_reply(fault.kind, fault.status, fault.retry_after)
        else:
            reply = pages.answer(site, self.command, url.path, url.query, headers, form)
        entry = SiteRequest(
            arrived, wall, self.command, self.path, kind, reply.status if reply else 0,
            headers, body.decode("utf-8", "replace"), form,
        )  # fmt: skip
        site.record(entry)
        if reply is not None:
            self._send(reply)

    def _control(self, path: str, body: bytes) -> None:
        try:
            payload = json.loads(body or b"{}")
            if not isinstance(payload, dict):
                raise ControlError("the body must be a JSON object")
            data = self.server.site.control(self.command, path, payload)
            self._send(Reply(200, _json(data), pages.JSON))
        except ValueError as exc:  # ControlError and JSONDecodeError
            status = exc.status if isinstance(exc, ControlError) else 400
            self._send(Reply(status, _json({"error": str(exc)}), pages.JSON))

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("cf-ray", f"{secrets.token_hex(8)}-FRA")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)


def _json(data: Any) -> bytes:
    return json.dumps(data, indent=1).encode() + b"\n"
