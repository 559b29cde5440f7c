"""The faults a fake live stream can be given (see ``live_stream.py`` for what each does)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

FAULT_KINDS = ("stall", "http_error", "window_jump", "slow", "token_expire", "discontinuity")
#: ``http_error`` targets: the master playlist, media playlists, segments, or every request.
ERROR_TARGETS = ("master", "playlist", "segment", "all")
# The parameters of each lasting fault that its state shows.
STATE_FIELDS: dict[str, set[str]] = {
    "stall": {"frozen_at"},
    "http_error": {"status", "target", "count"},
    "slow": {"delay"},
    "token_expire": set(),
}


@dataclass
class Fault:
    """An active fault; ``expires_at`` is on the stream's monotonic clock (None: until cleared)."""

    kind: str
    expires_at: float | None = None
    status: int = 503
    target: str = "all"
    delay: float = 0.0
    count: int | None = None
    frozen_at: int = 0


class ActiveFaults:
    """The lasting faults of one stream, expiring on its clock; the stream's lock guards it."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._faults: dict[str, Fault] = {}

    def set(self, fault: Fault) -> None:
        """Add ``fault``, replacing an active one of the same kind."""
        self._faults[fault.kind] = fault

    def get(self, kind: str) -> Fault | None:
        """The active fault of ``kind`` (an expired one is dropped)."""
        fault = self._faults.get(kind)
        if fault is not None and fault.expires_at is not None and self._clock() >= fault.expires_at:
            del self._faults[kind]
            return None
        return fault

    def discard(self, kind: str) -> None:
        """Clear the fault of ``kind``, if any."""
        self._faults.pop(kind, None)

    def clear(self) -> None:
        """Clear every fault but an expired token (which stays expired until rotated)."""
        self._faults = {k: f for k, f in self._faults.items() if k == "token_expire"}

    def injected_status(self, kind: str) -> int | None:
        """The status an ``http_error`` fault imposes on a request of ``kind`` (counted)."""
        fault = self.get("http_error")
        if fault is None or fault.target not in ("all", kind):
            return None
        if fault.count is not None:
            fault.count -= 1
            if fault.count <= 0:
                del self._faults["http_error"]
        return fault.status

    def state(self) -> dict[str, Any]:
        """JSON-ready ``{kind: {parameters..., "remaining": seconds or None}}``."""
        now = self._clock()
        faults = {}
        for kind in list(self._faults):
            fault = self.get(kind)
            if fault is not None:
                info = {k: v for k, v in asdict(fault).items() if k in STATE_FIELDS[kind]}
                left = None if fault.expires_at is None else round(fault.expires_at - now, 3)
                faults[kind] = {**info, "remaining": left}
        return faults
