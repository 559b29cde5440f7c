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

import secrets
from collections.abc import Mapping
from typing import Any, ClassVar, Unpack

from simlab.fakes import chaturbate_pages as pages
from simlab.fakes.chaturbate_pages import KINDS, Room, RoomFields
from simlab.fakes.site_kit import ControlError, FakeSite, Fault, Reply, SiteRequest

__all__ = ["FAULT_TARGETS", "ControlError", "FakeChaturbate", "Fault", "SiteRequest"]

FAULT_TARGETS = ("all", *(kind for kind in KINDS if kind != "other"))


class FakeChaturbate(FakeSite[Room]):
    """Threaded HTTP server on loopback that behaves like chaturbate.com; thread-safe.

    Site options (``set_options`` changes them live): ``affiliate_code`` (the ``wm`` the
    affiliate feed accepts), ``ajax_csrf_required``, ``age_gate`` (every room page),
    ``required_cookie`` (``"name=value"``) and ``required_user_agent_substring``: requests
    without them get the Cloudflare challenge. Rooms, faults, the request log and the control
    API are the kit's (``site_kit.py``).
    """

    thread_name = "fake-chaturbate"
    server_name = "cloudflare"
    kinds = KINDS
    room_type = Room
    default_options: ClassVar[Mapping[str, Any]] = {
        "affiliate_code": None,
        "ajax_csrf_required": False,
        "age_gate": False,
        "required_cookie": None,
        "required_user_agent_substring": None,
    }

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
        super().__init__(host, port, request_log_size=request_log_size)
        self.set_options(
            affiliate_code=affiliate_code,
            ajax_csrf_required=ajax_csrf_required,
            age_gate=age_gate,
            required_cookie=required_cookie,
            required_user_agent_substring=required_user_agent_substring,
        )

    def add_room(self, username: str, **fields: Unpack[RoomFields]) -> Room:  # type: ignore[override]
        """Create (or replace) a room; ``fields`` are ``Room``'s (room_status, hls_url, ...)."""
        return super().add_room(username, **fields)

    def set_room(self, username: str, **fields: Unpack[RoomFields]) -> Room:  # type: ignore[override]
        """Change a room's fields live (validated, all or nothing); returns the room."""
        unknown = set(fields) - RoomFields.__annotations__.keys()
        if unknown:
            raise ValueError(f"unknown room fields {sorted(unknown)}")
        return super().set_room(username, **fields)

    def route(self, path: str) -> str:
        return pages.classify(path)[0]

    def gate(self, headers: Mapping[str, str]) -> Reply | None:
        return pages.cloudflare_gate(self.options, headers)

    def fault_reply(self, fault: Fault) -> Reply:
        return pages.fault_reply(fault.kind, fault.status, fault.retry_after)

    def parse_form(self, headers: Mapping[str, str], body: bytes) -> dict[str, str]:
        return pages.parse_form(headers.get("content-type", ""), body)

    def answer(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        form: Mapping[str, str],
        body: bytes,
    ) -> Reply:
        return pages.answer(self, method, path, query, headers, form)

    def reply_headers(self) -> dict[str, str]:
        return {"cf-ray": f"{secrets.token_hex(8)}-FRA"}
