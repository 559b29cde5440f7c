"""A fake stripchat.com on loopback: models, the cam API, bulk status, ids, pages, faults.

URLs (``<u>`` is case-insensitive; the answers are built in ``stripchat_pages.py``)::

    GET /api/front/v2/models/username/<u>/cam   status, cam and the model's id
    GET /api/front/v2/models/<id>/cam           the same by id
    GET /api/front/models/list?modelIds[]=<id>&modelIds[]=...   bulk status (100 ids at most)
    GET /api/front/users/user-ids/<u>           {"id": ...} (another host in reality:
                                                hu.stripchat.com; the source's IDS_BASE_URL)
    GET /<u>                                    profile page with window.__PRELOADED_STATE__
    GET /thumbs/<snapshotTimestamp>/<streamName>    a thumbnail (JPEG)
    GET /_control                               options, models (``rooms``), renames, faults
    POST /_control/fault | /_control/clear | /_control/site    see ``site_kit.py``
    POST /_control/rename                       {"old": ..., "new": ...}
    GET|POST|DELETE /_control/room/<u>          a model's state / create-or-update / remove

Site options: ``teapot`` (``"off"``; ``"api"``: the cam endpoints answer HTTP 418, 403 by id,
as the real site has answered non-browser clients since about August 2026; ``"all"``: every
endpoint but thumbnails does), ``teapot_exempt_user_agent`` (a User-Agent substring that gets
through, as a browser's would) and ``image_base_url`` (where thumbnails are said to be;
default this server). Faults on demand (429, any status, non-JSON, slow) are the kit's.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar, Unpack

from simlab.fakes import stripchat_pages as pages
from simlab.fakes.site_kit import ControlError, FakeSite, Fault, Reply, json_reply
from simlab.fakes.stripchat_pages import KINDS, Model, ModelFields

__all__ = ["FakeStripchat", "Model"]

TEAPOT_MODES = ("off", "api", "all")
_API_KINDS = ("cam", "cam_id")


class FakeStripchat(FakeSite[Model]):
    """Threaded HTTP server on loopback that behaves like stripchat.com; thread-safe."""

    thread_name = "fake-stripchat"
    server_name = "nginx"
    kinds = KINDS
    room_type = Model
    default_options: ClassVar[Mapping[str, Any]] = {
        "teapot": "off",
        "teapot_exempt_user_agent": None,
        "image_base_url": None,
    }

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **kwargs: Any) -> None:
        super().__init__(host, port, **kwargs)
        self._renamed: dict[str, str] = {}
        self._ids = itertools.count(1001)

    # -- models -----------------------------------------------------------------------------

    @property
    def image_base(self) -> str:
        return str(self.options.get("image_base_url") or self.base_url)

    def add_room(self, username: str, **fields: Unpack[ModelFields]) -> Model:  # type: ignore[override]
        """Create (or replace) a model; it gets an id when ``id`` is not given."""
        if not fields.get("id"):
            fields["id"] = next(self._ids)
        model = super().add_room(username, **fields)
        with self._lock:
            self._renamed.pop(model.key, None)
        return model

    def set_room(self, username: str, **fields: Unpack[ModelFields]) -> Model:  # type: ignore[override]
        """Change a model's fields live (validated, all or nothing)."""
        unknown = set(fields) - ModelFields.__annotations__.keys()
        if unknown:
            raise ValueError(f"unknown model fields {sorted(unknown)}")
        return super().set_room(username, **fields)

    def rename(self, old: str, new: str) -> Model:
        """The model ``old`` is now called ``new`` (same id); ``old`` answers "Model not found"
        with ``newUsername``."""
        with self._lock:
            model = self._rooms.pop(old.lower())
            renamed = replace(model, username=new)
            self._rooms[renamed.key] = renamed
            for name, target in self._renamed.items():
                if target.lower() == old.lower():
                    self._renamed[name] = new
            self._renamed[old.lower()] = new
            return renamed

    def find(self, username: str) -> Model | None:
        with self._lock:
            return self._rooms.get(username.lower())

    def find_id(self, model_id: int) -> Model | None:
        with self._lock:
            return next((m for m in self._rooms.values() if m.id == model_id), None)

    def renamed_to(self, username: str) -> str | None:
        with self._lock:
            return self._renamed.get(username.lower())

    def set_options(self, **options: Any) -> dict[str, Any]:
        if "teapot" in options and options["teapot"] not in TEAPOT_MODES:
            raise ValueError(f"teapot must be one of {TEAPOT_MODES}")
        return super().set_options(**options)

    # -- the site ---------------------------------------------------------------------------

    def route(self, path: str) -> str:
        return pages.classify(path)[0]

    def fault_reply(self, fault: Fault) -> Reply:
        return pages.fault_reply(fault.kind, fault.status, fault.retry_after)

    def answer(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        form: Mapping[str, str],
        body: bytes,
    ) -> Reply:
        kind = self.route(path)
        if self._refused(kind, headers):
            return pages.teapot_reply(kind)
        if method != "GET":
            return json_reply({"error": "Method Not Allowed"}, 405)
        return pages.answer(self, path, query)

    def _refused(self, kind: str, headers: Mapping[str, str]) -> bool:
        options = self.options
        mode = options["teapot"]
        if mode == "off" or kind == "thumb" or (mode == "api" and kind not in _API_KINDS):
            return False
        exempt = options["teapot_exempt_user_agent"]
        return not (exempt and exempt in headers.get("user-agent", ""))

    # -- control ----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        state = super().state()
        with self._lock:
            state["renamed"] = dict(self._renamed)
        return state

    def control(self, method: str, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        if method == "POST" and path == "/_control/rename":
            try:
                self.rename(str(payload["old"]), str(payload["new"]))
            except (KeyError, ValueError) as exc:
                raise ControlError(f"bad rename {payload!r}: {exc!r}") from exc
            return self.state()
        return super().control(method, path, payload)
