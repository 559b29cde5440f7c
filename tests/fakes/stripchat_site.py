"""A fake stripchat.com on loopback: models, the cam API, bulk status, ids, pages, faults.

URLs (``<u>`` is case-insensitive; the answers are built in ``stripchat_pages.py``)::

    GET /api/front/v2/models/username/<u>/cam   status, cam and the model's id
    GET /api/front/v2/models/<id>/cam           the same by id
    GET /api/front/models/list?modelIds[]=<id>&modelIds[]=...   bulk status (100 ids at most)
    GET /api/front/users/user-ids/<u>           {"id": ...} (another host in reality:
                                                hu.stripchat.com; the source's IDS_BASE_URL)
    GET /<u>                                    profile page with window.__PRELOADED_STATE__
    GET /thumbs/<snapshotTimestamp>/<streamName>    a thumbnail (JPEG)
    GET /_control                               state: models, renames, faults, options
    POST /_control/fault | /_control/clear | /_control/site    JSON bodies, see ``control``
    POST /_control/rename                       {"old": ..., "new": ...}
    GET|POST|DELETE /_control/model/<u>         a model's state / create-or-update / remove

Faults (``set_fault``): ``teapot`` (HTTP 418, 403 on the by-id endpoint: what the real site
answers non-browser clients since about August 2026), ``rate_limit`` (429 + Retry-After),
``error`` (any status), ``non_json`` (200 + an HTML page), ``slow`` (a delay first); each for
every endpoint or one kind (``cam``, ``cam_id``, ``bulk``, ``ids``, ``page``, ``thumb``).
``/_control`` requests are not logged and never affected by faults.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import asdict, replace
from typing import Any, Unpack
from urllib.parse import urlsplit

from tests.fakes import stripchat_pages as pages
from tests.fakes.chaturbate_site import ControlError, Fault, SiteRequest
from tests.fakes.loopback import Background, TrackedHandler, TrackedServer
from tests.fakes.stripchat_pages import KINDS, Model, ModelFields, Reply

__all__ = ["FAULT_KINDS", "FakeStripchat", "Model"]

FAULT_KINDS = ("teapot", "rate_limit", "error", "non_json", "slow")
FAULT_TARGETS = ("all", *(kind for kind in KINDS if kind != "other"))
_BLOCKING = ("teapot", "rate_limit", "error", "non_json")
_OPTIONS = frozenset({"image_base_url"})


class FakeStripchat(Background["_Server"]):
    """Threaded HTTP server on loopback that behaves like stripchat.com; thread-safe.

    Option ``image_base_url``: where thumbnails are said to be (default: this server).
    """

    thread_name = "fake-stripchat"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        image_base_url: str | None = None,
        request_log_size: int = 50_000,
    ) -> None:
        super().__init__(host, port)
        self._lock = threading.Lock()
        self._models: dict[str, Model] = {}
        self._renamed: dict[str, str] = {}
        self._faults: dict[str, Fault] = {}
        self._options: dict[str, Any] = {"image_base_url": image_base_url}
        self._ids = itertools.count(1001)
        self._log: deque[SiteRequest] = deque(maxlen=request_log_size)

    def _make_server(self, address: tuple[str, int]) -> _Server:
        return _Server(address, _Handler, self)

    # -- models ---------------------------------------------------------------------------

    @property
    def image_base(self) -> str:
        return str(self._options.get("image_base_url") or self.base_url)

    def add_model(self, username: str, **fields: Unpack[ModelFields]) -> Model:
        """Create (or replace) a model; an id is given when ``id`` is not."""
        model = Model(username, **fields)
        with self._lock:
            if model.id == 0:
                model.id = next(self._ids)
            self._models[model.key] = model
            self._renamed.pop(model.key, None)
        return replace(model)

    def set_model(self, username: str, **fields: Unpack[ModelFields]) -> Model:
        """Change a model's fields live (validated, all or nothing); returns a snapshot."""
        unknown = set(fields) - ModelFields.__annotations__.keys()
        if unknown:
            raise ValueError(f"unknown model fields {sorted(unknown)}")
        with self._lock:
            model = self._models[username.lower()]
            checked = replace(model, **fields)
            for name in fields:
                setattr(model, name, getattr(checked, name))
            return replace(model)

    def rename(self, old: str, new: str) -> Model:
        """The model ``old`` is now called ``new`` (same id); ``old`` answers "Model not found"
        with ``newUsername``."""
        with self._lock:
            model = self._models.pop(old.lower())
            renamed = replace(model, username=new)
            self._models[renamed.key] = renamed
            self._renamed[old.lower()] = new
            for name, target in self._renamed.items():
                if target.lower() == old.lower():
                    self._renamed[name] = new
            return replace(renamed)

    def remove_model(self, username: str) -> None:
        with self._lock:
            self._models.pop(username.lower(), None)

    def get(self, username: str) -> Model | None:
        """A snapshot of the model, or None."""
        model = self.find(username)
        return None if model is None else replace(model)

    def find(self, username: str) -> Model | None:
        with self._lock:
            return self._models.get(username.lower())

    def find_id(self, model_id: int) -> Model | None:
        with self._lock:
            return next((m for m in self._models.values() if m.id == model_id), None)

    def renamed_to(self, username: str) -> str | None:
        with self._lock:
            return self._renamed.get(username.lower())

    def set_options(self, **options: Any) -> dict[str, Any]:
        unknown = set(options) - _OPTIONS
        if unknown:
            raise ValueError(f"unknown site options {sorted(unknown)}; known: {sorted(_OPTIONS)}")
        with self._lock:
            self._options.update(options)
            return dict(self._options)

    # -- faults ---------------------------------------------------------------------------

    def set_fault(
        self,
        kind: str,
        *,
        target: str = "all",
        duration: float | None = None,
        count: int | None = None,
        status: int = 503,
        retry_after: int = 1,
        delay: float = 0.0,
    ) -> None:
        """Make matching requests fail (replaces an active fault of the same kind); ``count``:
        only the next N matching requests; ``duration``: clears itself after that long."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; kinds: {FAULT_KINDS}")
        if target not in FAULT_TARGETS:
            raise ValueError(f"unknown target {target!r}; targets: {FAULT_TARGETS}")
        if not 400 <= status <= 599:
            raise ValueError(f"bad status {status}")
        if (count is not None and count < 1) or (duration is not None and duration <= 0):
            raise ValueError("count must be >= 1 and duration > 0")
        if retry_after < 0 or (kind == "slow" and delay <= 0):
            raise ValueError("retry_after must be >= 0; slow needs delay > 0")
        expires = None if duration is None else time.monotonic() + duration
        with self._lock:
            self._faults[kind] = Fault(kind, target, expires, count, status, retry_after, delay)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def take_faults(self, kind: str) -> tuple[float, Fault | None]:
        """The delay and the answering fault for a request of ``kind`` (counts consumed)."""
        now = time.monotonic()
        with self._lock:
            for name, fault in list(self._faults.items()):
                if fault.expires_at is not None and now >= fault.expires_at:
                    del self._faults[name]
            slow = self._consume("slow", kind)
            hits = (self._consume(name, kind) for name in _BLOCKING)
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
        with self._lock:
            self._log.append(entry)

    def requests(self, kind: str | None = None) -> list[SiteRequest]:
        """The logged requests (of ``kind``), oldest first."""
        if kind is not None and kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; kinds: {KINDS}")
        with self._lock:
            return [r for r in self._log if kind is None or r.kind == kind]

    def request_count(self, kind: str | None = None) -> int:
        return len(self.requests(kind))

    def reset_log(self) -> None:
        with self._lock:
            self._log.clear()

    # -- control --------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            faults = [
                {**asdict(f), "expires_in": None if f.expires_at is None else f.expires_at - now}
                for f in self._faults.values()
                if f.expires_at is None or f.expires_at > now
            ]
            return {
                "options": dict(self._options),
                "models": [model.state() for model in self._models.values()],
                "renamed": dict(self._renamed),
                "faults": faults,
                "request_count": len(self._log),
            }

    def control(self, method: str, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Apply one ``/_control`` request; returns the JSON to answer."""
        try:
            if path.startswith("/_control/model/"):
                return self._control_model(method, path.removeprefix("/_control/model/"), payload)
            if method == "GET" and path in ("/_control", "/_control/"):
                pass
            elif method == "POST" and path == "/_control/fault":
                self.set_fault(str(payload.get("kind")), **{k: v for k, v in payload.items()
                                                            if k != "kind"})  # fmt: skip
            elif method == "POST" and path == "/_control/clear":
                self.clear_faults()
            elif method == "POST" and path == "/_control/site":
                self.set_options(**payload)
            elif method == "POST" and path == "/_control/rename":
                self.rename(str(payload["old"]), str(payload["new"]))
            else:
                raise ControlError(f"no control endpoint {method} {path}", 404)
        except (TypeError, ValueError, KeyError) as exc:
            if isinstance(exc, ControlError):
                raise
            raise ControlError(f"bad control request {payload!r}: {exc!r}") from exc
        return self.state()

    def _control_model(self, method: str, user: str, payload: dict[str, Any]) -> dict[str, Any]:
        user = user.strip("/")
        if method == "DELETE":
            self.remove_model(user)
            return {"username": user, "removed": True}
        if method == "POST":
            model = self.set_model(user, **payload) if self.find(user) else None
            return (model or self.add_model(user, **payload)).state()
        found = self.get(user)
        if found is None:
            raise ControlError(f"no model {user!r}", 404)
        return found.state()


class _Server(TrackedServer):
    def __init__(
        self, address: tuple[str, int], handler: type[_Handler], site: FakeStripchat
    ) -> None:
        self.site = site
        super().__init__(address, handler)


class _Handler(TrackedHandler):
    server: _Server

    def version_string(self) -> str:
        return "nginx"

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
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
        delay, fault = site.take_faults(kind)
        reply: Reply | None = None
        if delay > 0 and site.stopping.wait(delay):
            self.close_connection = True  # stopped meanwhile: hang up without an answer
        elif fault is not None:
            reply = pages.fault_reply(fault.kind, fault.status, fault.retry_after, kind)
        elif self.command != "GET":
            reply = pages.json_reply(405, {"error": "Method Not Allowed"})
        else:
            reply = pages.answer(site, url.path, url.query)
        entry = SiteRequest(
            arrived, wall, self.command, self.path, kind, reply.status if reply else 0,
            headers, body.decode("utf-8", "replace"), {},
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
            self._send(pages.json_reply(200, data))
        except ValueError as exc:  # ControlError and JSONDecodeError
            status = exc.status if isinstance(exc, ControlError) else 400
            self._send(pages.json_reply(status, {"error": str(exc)}))

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Request-Id", secrets.token_hex(8))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)
