"""The lab of the fault suite: constants, results, the event follower, the fake origin and stacks,
and the reaping of stray processes."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from simlab.fakes.chaturbate_site import FakeChaturbate
from simlab.fakes.hls_origin import HlsOrigin
from simlab.harness import Stack

ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_OUT = ROOT / "docs" / "RELIABILITY.md"
log = logging.getLogger("faults")

SEGMENT_S = 1.0
WINDOW = 15
# Behind the live edge a recording normally runs: ffmpeg starts 3 segments from the edge and
# reads a segment once it is listed. Segments this close to the edge when the recording is
# stopped are not counted as lost.
TAIL_LAG = 4
STACK_ENV = {
    "STALL_TIMEOUT": "5",
    "RESTART_BACKOFF_MAX": "2",
    "STREAM_END_GRACE": "20",
    "PROGRESS_INTERVAL": "1",
    "HEARTBEAT_INTERVAL": "1",
    "STATUS_CACHE_TTL": "0",
    "SITE_RATE": "50",
    "SITE_BURST": "20",
    "SITE_JITTER": "0",
    "AUTORECORD_INTERVAL": "2",
    "AUTORECORD_JITTER": "0",
}
_SEGMENT = re.compile(r"/v(\d+)/seg_(\d+)\.ts(?:\?|$)")
_FINAL_ROW_STATES = ("COMPLETE", "INTERRUPTED")


# -- results ---------------------------------------------------------------------------------


@dataclass
class FileCheck:
    """One recording file after finalization."""

    path: str
    state: str
    size: int
    duration_s: float
    decoded_s: float
    ok: bool
    errors: str = ""
    # When it does not decode cleanly: whether it does once its last (incomplete) PES packet
    # is cut off, i.e. only the frame being written when ffmpeg died is torn; bytes cut.
    clean_without_last_pes: bool | None = None
    cut_bytes: int = 0

    @property
    def to_end(self) -> bool:
        """Decodes without error up to (within a second of) the duration the recorder gave it."""
        return self.ok and self.decoded_s >= self.duration_s - 1.0

    @property
    def torn_tail(self) -> bool:
        """Does not decode cleanly, but only because its last frame is torn."""
        return not self.ok and bool(self.clean_without_last_pes)


@dataclass
class CaseResult:
    """What one case measured, and whether it met its target."""

    name: str
    title: str
    fault_window_s: float
    outcome: str = ""
    media_lost_s: float | None = None
    missing_segments: list[int] = field(default_factory=list)
    files: list[FileCheck] = field(default_factory=list)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    gap_events: int = 0
    events: Counter[str] = field(default_factory=Counter)
    recovered_after_s: float | None = None
    restarts: int = 0
    stall_stop_s: float | None = None
    checks: list[tuple[str, bool]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    error: str = ""

    def check(self, what: str, ok: bool) -> bool:
        self.checks.append((what, bool(ok)))
        return bool(ok)

    @property
    def passed(self) -> bool:
        return not self.error and bool(self.checks) and all(ok for _, ok in self.checks)

    @property
    def failed_checks(self) -> list[str]:
        return [what for what, ok in self.checks if not ok]

    @property
    def files_decode(self) -> bool:
        return bool(self.files) and all(f.to_end for f in self.files)

    @property
    def ledger_s(self) -> float:
        return round(sum(float(g.get("duration") or 0) for g in self.ledger), 1)


# -- following /api/events ---------------------------------------------------------------------


@dataclass(frozen=True)
class SseEvent:
    id: int | None
    type: str
    person: str
    session_id: str
    received: float
    data: dict[str, Any]


class EventFollower:
    """Follows ``GET /api/events`` in a thread, as a browser would: on a dropped connection it
    reconnects with ``Last-Event-ID`` (the gateway may be down meanwhile)."""

    def __init__(self, base_url: str) -> None:
        self._url = f"{base_url}/api/events"
        self.events: list[SseEvent] = []
        self.connects = 0
        self.last_id: str | None = None
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sse-follower", daemon=True)

    def start(self, timeout: float = 10.0) -> EventFollower:
        self._thread.start()
        if not self._connected.wait(timeout):
            raise TimeoutError("could not follow /api/events")
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def of(self, person: str) -> list[SseEvent]:
        return [e for e in list(self.events) if e.person == person]

    def _run(self) -> None:
        while not self._stop.is_set():
            headers = {"Last-Event-ID": self.last_id} if self.last_id else {}
            try:
                with (
                    httpx.Client(timeout=httpx.Timeout(5.0, read=10.0)) as client,
                    client.stream("GET", self._url, headers=headers) as response,
                ):
                    if response.status_code == 200:
                        self.connects += 1
                        self._connected.set()
                        self._read(response)
            except httpx.HTTPError:
                pass
            self._stop.wait(0.25)

    def _read(self, response: httpx.Response) -> None:
        frame: dict[str, str] = {}
        for line in response.iter_lines():
            if self._stop.is_set():
                return
            if line:
                if not line.startswith(":"):
                    key, _, value = line.partition(":")
                    frame[key] = value.removeprefix(" ")
                continue
            if "event" in frame:
                self._keep(frame)
            frame = {}

    def _keep(self, frame: dict[str, str]) -> None:
        data: dict[str, Any] = json.loads(frame.get("data") or "{}")
        session = data.get("session") or {}
        raw_id = frame.get("id")
        if raw_id is not None:
            self.last_id = raw_id
        self.events.append(
            SseEvent(
                id=int(raw_id) if raw_id and raw_id.isdigit() else None,
                type=frame["event"].upper(),
                person=str(session.get("person") or ""),
                session_id=str(session.get("session_id") or ""),
                received=time.monotonic(),
                data=data,
            )
        )


# -- the lab: fakes, stacks, processes ---------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return ""


def _argv(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _ancestors() -> set[int]:
    """This process and its ancestors (never to be signalled)."""
    found, pid = set(), os.getpid()
    while pid > 1 and pid not in found:
        found.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    return found


def is_ffmpeg(argv: list[str]) -> bool:
    """An ffmpeg, or a wrapper (setsid, setpriv) running one: an argument is an ffmpeg binary."""
    return any(Path(a).name.startswith("ffmpeg") and os.path.isfile(a) for a in argv[:8])


def processes_writing_to(directory: Path) -> list[int]:
    """PIDs of live ffmpeg processes (and their wrappers) whose arguments name a path under
    ``directory``: this run's ffmpegs write their files there."""
    marker = str(directory)
    mine = _ancestors()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        pid = int(entry.name)
        argv = _argv(pid)
        if is_ffmpeg(argv) and any(marker in a for a in argv) and _alive(pid):
            found.append(pid)
    return found


def kill_pids(pids: list[int], grace: float = 5.0) -> list[int]:
    """SIGTERM each PID still alive, SIGKILL what outlives ``grace``; returns those signalled."""
    alive = [p for p in pids if _alive(p)]
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + grace
    while time.monotonic() < end and any(_alive(p) for p in alive):
        time.sleep(0.1)
    for pid in alive:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return alive


class Lab:
    """The fakes and stacks a run shares; everything started here is stopped in ``close``."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.origin = HlsOrigin(request_log_size=200_000)
        self.site = FakeChaturbate()
        self._stacks: list[Stack] = []
        self._shared: Stack | None = None
        self._counter = 0
        self.strays: list[int] = []

    def __enter__(self) -> Lab:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.origin.__enter__()
        self.site.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for stack in reversed(self._stacks):
            stack.stop()
        self._stacks.clear()
        self._shared = None
        self.reap("after the run")
        self.site.__exit__(None, None, None)
        self.origin.__exit__(None, None, None)

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **STACK_ENV,
            "CHATURBATE_BASE_URL": self.site.base_url,
            "CHATURBATE_THUMBNAIL_BASE_URL": f"{self.site.base_url}/ri",
            **extra,
        }

    def unique(self, name: str) -> str:
        """A stream (and channel) name not used before in this run."""
        self._counter += 1
        return f"{name.replace('-', '_')}_{self._counter}"

    def shared_stack(self) -> Stack:
        """One stack for the cases that do not restart or reconfigure a service."""
        if self._shared is None:
            self._shared = self._start(Stack(self.workdir / "shared", env_extra=self.env()))
        return self._shared

    @contextlib.contextmanager
    def own_stack(self, label: str, **env: str) -> Iterator[Stack]:
        """A stack of its own, stopped (by PID) when the block ends."""
        stack = self._start(Stack(self.workdir / label, env_extra=self.env(**env)))
        try:
            yield stack
        finally:
            stack.stop()
            self._stacks.remove(stack)

    def _start(self, stack: Stack) -> Stack:
        self._stacks.append(stack)
        try:
            stack.start()
        except BaseException:
            stack.stop()
            self._stacks.remove(stack)
            raise
        return stack

    def reap(self, when: str, under: Path | None = None, settle: float = 0.0) -> list[int]:
        """Kill (by PID) every ffmpeg of this run still alive that writes under ``under``.

        ``settle`` seconds are first given to ffmpegs that end by themselves: the pictures of a
        finished recording (poster, contact sheet) are made by short-lived ffmpegs reading the
        file just after FINALIZED, and on a loaded machine they can outlast the checks. A
        recording ffmpeg that was leaked never ends by itself, so it is still caught."""
        where = under or self.workdir
        end = time.monotonic() + settle
        while processes_writing_to(where) and time.monotonic() < end:
            time.sleep(0.2)
        left = processes_writing_to(where)
        if left:
            for pid in left:
                log.error("stray ffmpeg %s: PID %d: %s; killing it", when, pid, _cmdline(pid))
            self.strays += kill_pids(left)
        return left


# -- REST helpers ------------------------------------------------------------------------------
