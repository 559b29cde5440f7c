"""What every fake site shares: rooms, site options, faults on demand, a request log, ``/_control``.

A fake site (``chaturbate_site.py``, ``stripchat_site.py``...) subclasses :class:`FakeSite` and
supplies only what is its own: its endpoint kinds (``kinds``, ``route``), its rooms' type
(``room_type``, a dataclass with a ``username`` and a ``state()``), its options, and
``answer`` (the site's reply to a request that got past the gate and the faults). Optional
hooks: ``gate`` (a challenge for a request without the site's required cookie or User-Agent),
``fault_reply`` (how an injected fault looks on this site), ``reply_headers`` (headers every
reply carries, e.g. Cloudflare's ``cf-ray``).

Control API (JSON bodies; never logged, never affected by faults)::

    GET  /_control                    options, rooms, active faults, request count
    POST /_control/fault              {"kind": ..., "target": ..., "count": ..., ...}
    POST /_control/clear              remove every fault
    POST /_control/site               set options
    GET|POST|DELETE /_control/room/<user>   a room's state / create-or-update / remove

Faults (``set_fault``): ``challenge`` (403 or 503 with the site's challenge), ``rate_limit``
(429 + ``Retry-After``), ``error`` (``status``, default 503), ``non_json`` (200 + an HTML
maintenance page), ``slow`` (wait ``delay`` s first, then answer normally or with another
fault). ``target`` limits a fault to one endpoint kind; ``count`` to the next N requests;
``duration`` clears it after that many seconds.
"""

from __future__ import annotations

import html
import json
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from http import HTTPStatus
from typing import Any, ClassVar, Generic, NamedTuple, Protocol, TypeVar
from urllib.parse import parse_qs, urlsplit

from simlab.fakes.loopback import Background, TrackedHandler, TrackedServer

__all__ = [
    "FAULT_KINDS",
    "HTML",
    "JSON",
    "ControlError",
    "FakeSite",
    "Fault",
    "Reply",
    "SiteRequest",
    "error_reply",
    "html_page",
    "json_reply",
]

JSON = "application/json"
HTML = "text/html; charset=utf-8"
FAULT_KINDS = ("challenge", "rate_limit", "error", "non_json", "slow")
# When several faults match, the first of these answers (a CDN block before the origin's).
_BLOCKING = ("challenge", "rate_limit", "error", "non_json")


@dataclass(frozen=True)
class Reply:
    """A response to send."""

    status: int
    body: bytes
    content_type: str = HTML
    headers: dict[str, str] = field(default_factory=dict)


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


class RoomLike(Protocol):
    username: str

    def state(self) -> dict[str, Any]: ...


RoomT = TypeVar("RoomT", bound=RoomLike)


def html_page(title: str, body: str) -> bytes:
    """A minimal HTML page (``title`` escaped, ``body`` as given)."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    ).encode()


def json_reply(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    """A JSON answer."""
    return Reply(status, json.dumps(data).encode(), JSON, headers or {})


def error_reply(status: int, headers: dict[str, str] | None = None) -> Reply:
    """A plain HTML error page."""
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    page = html_page(f"{status} {phrase}", f"<h1>{status} {phrase}</h1>")
    return Reply(status, page, HTML, headers or {})


class FakeSite(Background["SiteServer"], Generic[RoomT]):
    """A threaded HTTP server on loopback playing one site; thread-safe. Subclass it."""

    thread_name = "fake-site"
    #: The ``Server`` header.
    server_name: ClassVar[str] = "nginx"
    #: Endpoint kinds, as logged and as fault targets ("other": anything else).
    kinds: ClassVar[tuple[str, ...]] = ("other",)
    #: The site options ``set_options`` accepts, with their defaults.
    default_options: ClassVar[Mapping[str, Any]] = {}
    #: Builds a room: ``room_type(username, **fields)`` (a dataclass validating itself).
    room_type: ClassVar[type[Any]]

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, request_log_size: int = 50_000
    ) -> None:
        super().__init__(host, port)
        self._lock = threading.Lock()
        self._rooms: dict[str, RoomT] = {}
        self._faults: dict[str, Fault] = {}
        self._options: dict[str, Any] = dict(self.default_options)
        self._log: deque[SiteRequest] = deque(maxlen=request_log_size)

    def _make_server(self, address: tuple[str, int]) -> SiteServer:
        return SiteServer(address, SiteHandler, self)

    # -- what a site supplies -------------------------------------------------------------

    def route(self, path: str) -> str:
        """The endpoint kind of a URL path (one of ``kinds``)."""
        return "other"

    def answer(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        form: Mapping[str, str],
        body: bytes,
    ) -> Reply:
        """The site's own answer to a request that got past the gate and the faults."""
        return error_reply(404)

    def parse_form(self, headers: Mapping[str, str], body: bytes) -> dict[str, str]:
        """A POST's form fields (urlencoded by default), as logged and given to ``answer``."""
        return parse_urlencoded(headers.get("content-type", ""), body)

    def gate(self, headers: Mapping[str, str]) -> Reply | None:
        """An answer that stops the request before the site sees it (a challenge), or None."""
        return None

    def fault_reply(self, fault: Fault) -> Reply:
        """The answer to a request hit by an injected fault (``slow`` only delays)."""
        if fault.kind == "rate_limit":
            return error_reply(429, {"Retry-After": str(fault.retry_after)})
        if fault.kind == "non_json":
            return Reply(200, html_page("Maintenance", "<h1>Down for maintenance</h1>"))
        if fault.kind == "challenge":
            body = html_page("Just a moment...", "<noscript>Enable JavaScript</noscript>")
            return Reply(fault.status, body, HTML, {"cf-mitigated": "challenge"})
        return error_reply(fault.status)

    def reply_headers(self) -> dict[str, str]:
        """Headers every site reply carries."""
        return {}

    @staticmethod
    def room_key(username: str) -> str:
        """The key a username's room is stored under (sites are case-insensitive)."""
        return username.lower()

    # -- rooms and options ----------------------------------------------------------------

    def add_room(self, username: str, **fields: Any) -> RoomT:
        """Create (or replace) a room from ``room_type``'s fields."""
        room: RoomT = self.room_type(username, **fields)
        with self._lock:
            self._rooms[self.room_key(room.username)] = room
        return room

    def room(self, username: str) -> RoomT:
        """The room (KeyError if there is none); mutate it through ``set_room``."""
        with self._lock:
            return self._rooms[self.room_key(username)]

    def get(self, username: str) -> RoomT | None:
        """A snapshot of the room, or None."""
        with self._lock:
            room = self._rooms.get(self.room_key(username))
            return None if room is None else replace(room)  # type: ignore[type-var]

    def rooms(self) -> list[RoomT]:
        """Snapshots of every room."""
        with self._lock:
            return [replace(room) for room in self._rooms.values()]  # type: ignore[type-var]

    def remove_room(self, username: str) -> None:
        """Forget the room: it becomes an unknown user."""
        with self._lock:
            self._rooms.pop(self.room_key(username), None)

    def set_room(self, username: str, **fields: Any) -> RoomT:
        """Change a room's fields live (validated by the room type, all or nothing)."""
        with self._lock:
            room = self._rooms[self.room_key(username)]
            checked = replace(room, **fields)  # type: ignore[type-var]
            for name in fields:
                setattr(room, name, getattr(checked, name))
            return room

    def set_options(self, **options: Any) -> dict[str, Any]:
        """Set site options; returns them all."""
        unknown = set(options) - set(self.default_options)
        if unknown:
            raise ValueError(
                f"unknown site options {sorted(unknown)}; known: {sorted(self.default_options)}"
            )
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
        """Make matching requests fail (replaces an active fault of the same kind); see the
        module docstring for the kinds."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; kinds: {FAULT_KINDS}")
        if target != "all" and target not in self.kinds:
            raise ValueError(f"unknown target {target!r}; targets: all, {self.kinds}")
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
        if kind is not None and kind not in self.kinds:
            raise ValueError(f"unknown kind {kind!r}; kinds: {self.kinds}")
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
            return {"username": self.room_key(user), "removed": True}
        try:
            if method == "POST":
                room = self.set_room(user, **payload) if self.get(user) else None
                return (room or self.add_room(user, **payload)).state()
        except (TypeError, ValueError) as exc:
            raise ControlError(f"bad room fields {payload!r}: {exc}") from exc
        found = self.get(user)
        if found is None:
            raise ControlError(f"no room {user!r}", 404)
        return found.state()


def parse_urlencoded(content_type: str, body: bytes) -> dict[str, str]:
    """A urlencoded POST form's fields (first value of each); {} for other bodies."""
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return {}
    text = body.decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


class SiteServer(TrackedServer):
    def __init__(
        self, address: tuple[str, int], handler: type[SiteHandler], site: FakeSite[Any]
    ) -> None:
        self.site = site
        super().__init__(address, handler)


class SiteHandler(TrackedHandler):
    """Routes a request: control, the site's gate, the faults, then the site's answer; logs it."""

    server: SiteServer

    def version_string(self) -> str:
        return self.server.site.server_name

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
        kind = site.route(url.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        form = site.parse_form(headers, body)
        gate = site.gate(headers)
        delay, fault = site.take_faults(kind, blocking=gate is None)
        reply: Reply | None = None
        if delay > 0 and site.stopping.wait(delay):
            self.close_connection = True  # stopped meanwhile: hang up without an answer
        elif gate is not None:
            reply = gate
        elif fault is not None:
            reply = site.fault_reply(fault)
        else:
            reply = site.answer(self.command, url.path, url.query, headers, form, body)
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
            self._send(Reply(200, json.dumps(data, indent=1).encode() + b"\n", JSON))
        except ValueError as exc:  # ControlError and JSONDecodeError
            status = exc.status if isinstance(exc, ControlError) else 400
            self._send(json_reply({"error": str(exc)}, status))

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in {**self.server.site.reply_headers(), **reply.headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)
