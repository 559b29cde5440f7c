"""The fault suite: ``make faults`` (``python -m tools.faults [--short] [--only NAME] [--out F]``).

Each case runs the three real services (``tests.harness.Stack``) against the fake live CDN
(``tests.fakes.hls_origin``; 1 s segments), starts a recording through the REST API, lets it
record, injects one fault, waits for the recording to recover, records on, stops it through the
REST API and then measures:

- outcome: the session's state, end reason and restarts;
- media lost: segments of the recorded variant published during the session but never fetched
  with a 200 (the origin's request log), times the segment duration;
- whether every file of the session decodes to its end (after it is finalized: the recording
  rows are COMPLETE or INTERRUPTED), with the same ffmpeg the recorder runs;
- the gap ledger (``GET /api/recordings/{person}``: ``gaps``) and the GAP events;
- the events emitted, from ``GET /api/events`` followed for the whole case.

A full run writes the table to ``docs/RELIABILITY.md``; ``--short`` runs only the quick cases
(also run by ``tests/faults`` in ``make test``) and, like ``--only``, writes a file only when
``--out`` is given. Every process started here is stopped by its PID (the ``Stack`` context
manager); an ffmpeg left behind that writes into this run's work directory is reported and
killed by its PID.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from recorder_service.ts_repair import last_pes_start
from servicekit.ffmpeg import find_ffmpeg
from simlab.fakes.chaturbate_site import FakeChaturbate
from simlab.fakes.hls_origin import HlsOrigin
from simlab.fakes.live_stream import Stream
from simlab.harness import Service, Stack, wait_grpc_serving
from simlab.media_check import decode

ROOT = Path(__file__).resolve().parent.parent
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


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 30.0, every: float = 0.2) -> Any:
    end = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        if time.monotonic() >= end:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def start_recording(client: httpx.Client, target: str, person: str) -> dict[str, Any]:
    response = client.post("/api/start", json={"target": target, "person": person})
    if response.status_code != 201:
        raise RuntimeError(f"start failed: HTTP {response.status_code} {response.text}")
    session: dict[str, Any] = response.json()
    return session


def get_session(client: httpx.Client, sid: str) -> dict[str, Any]:
    response = client.get(f"/api/sessions/{sid}")
    response.raise_for_status()
    session: dict[str, Any] = response.json()
    return session


def session_of(client: httpx.Client, person: str) -> dict[str, Any] | None:
    for session in client.get("/api/status").json():
        if session["person"] == person:
            return session  # type: ignore[no-any-return]
    return None


def wait_media(client: httpx.Client, sid: str, seconds: float, timeout: float = 30.0) -> None:
    """Until the session is RECORDING with at least ``seconds`` of media."""

    def probe() -> bool:
        s = get_session(client, sid)
        if s["state"] in ("STOPPED", "FAILED", "INTERRUPTED"):
            raise RuntimeError(f"session ended early: {s['state']} ({s['end_reason']})")
        return bool(s["state"] == "RECORDING" and s["media_seconds"] >= seconds)

    wait_for(f"{seconds:.0f}s of media", probe, timeout)


def wait_recovered(client: httpx.Client, sid: str, timeout: float = 60.0) -> float:
    """Until the session records again (RECORDING, media time advancing by 2 s); returns when
    that was first seen (monotonic)."""
    base = get_session(client, sid)["media_seconds"]
    recovered: list[float] = []

    def probe() -> bool:
        s = get_session(client, sid)
        if s["state"] in ("STOPPED", "FAILED", "INTERRUPTED"):
            raise RuntimeError(f"session ended: {s['state']} ({s['end_reason']})")
        if s["state"] == "RECORDING" and not recovered:
            recovered.append(time.monotonic())
        elif s["state"] != "RECORDING":
            recovered.clear()
        return bool(s["state"] == "RECORDING" and s["media_seconds"] >= base + 2)

    wait_for("the recording to recover", probe, timeout)
    return recovered[0] if recovered else time.monotonic()


def stop_recording(client: httpx.Client, sid: str) -> dict[str, Any]:
    response = client.post(f"/api/stop/{sid}")
    response.raise_for_status()
    session: dict[str, Any] = response.json()
    return session


def wait_finalized(
    client: httpx.Client,
    person: str,
    sessions: list[dict[str, Any]],
    follower: EventFollower,
    timeout: float = 60.0,
) -> list[dict[str, Any]]:
    """The recording rows of ``sessions`` once each of their files is COMPLETE or INTERRUPTED.
    The files are the session's after finalization (a part without media is dropped then):
    from its FINALIZED event, else as the recorder lists them now."""
    sids = [s["session_id"] for s in sessions]

    def files_of(sid: str) -> list[str]:
        for e in follower.events:
            if e.type == "FINALIZED" and e.session_id == sid:
                return list(e.data["session"]["record_paths"])
        return list(get_session(client, sid)["record_paths"])

    def probe() -> list[dict[str, Any]] | None:
        rows = client.get(f"/api/recordings/{person}").json()
        mine = {r["path"]: r for r in rows if r["sessionId"] in sids}
        for sid in sids:
            for path in files_of(sid):
                if path not in mine or mine[path]["state"] not in _FINAL_ROW_STATES:
                    return None
        return list(mine.values())

    rows: list[dict[str, Any]] = wait_for("the files to be finalized", probe, timeout, 0.3)
    return rows


# -- measuring ---------------------------------------------------------------------------------


def fetched_segments(origin: HlsOrigin, name: str) -> tuple[int, list[int]]:
    """(variant, msns fetched with 200) for the variant the recorder read most."""
    by_variant: dict[int, set[int]] = {}
    for record in origin.requests(name):
        m = _SEGMENT.search(record.path)
        if record.kind == "segment" and record.status == 200 and m:
            by_variant.setdefault(int(m[1]), set()).add(int(m[2]))
    if not by_variant:
        return 0, []
    variant = max(by_variant, key=lambda v: len(by_variant[v]))
    return variant, sorted(by_variant[variant])


def media_lost(origin: HlsOrigin, name: str, published_at_stop: int) -> tuple[float, list[int]]:
    """Seconds of the recorded variant published during the session and never fetched, from
    the first segment fetched to the live edge at the stop (less ``TAIL_LAG``)."""
    _, fetched = fetched_segments(origin, name)
    if not fetched:
        return float(max(0, published_at_stop)) * SEGMENT_S, []
    last = max(fetched[-1], published_at_stop - TAIL_LAG)
    missing = sorted(set(range(fetched[0], last + 1)) - set(fetched))
    return round(len(missing) * SEGMENT_S, 1), missing


def decodes_without_last_pes(path: Path) -> tuple[bool, int]:
    """Whether a copy of ``path`` cut before its last PES packet decodes cleanly; bytes cut."""
    cut = last_pes_start(path)
    if cut is None or path.suffix != ".ts":
        return False, 0
    with tempfile.TemporaryDirectory(prefix="streamrec-cut-") as tmp:
        copy = Path(tmp) / path.name
        with path.open("rb") as src, copy.open("wb") as dst:
            dst.write(src.read(cut))
        return decode(copy).ok, path.stat().st_size - cut


def _ranges(numbers: list[int]) -> str:
    """``[3, 4, 5, 9]`` -> ``"3-5, 9"``."""
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in spans)


def requests_for(origin: HlsOrigin, name: str, msns: list[int]) -> str:
    """What the origin answered for the segments ``msns`` (any variant): the evidence."""
    wanted = set(msns)
    seen: dict[int, list[str]] = {m: [] for m in msns}
    for record in origin.requests(name):
        m = _SEGMENT.search(record.path)
        if m and int(m[2]) in wanted:
            stamp = datetime.fromtimestamp(record.time, UTC).strftime("%H:%M:%S.%f")[:-3]
            seen[int(m[2])].append(f"v{m[1]} {record.status} at {stamp}")
    never = [m for m in msns if not seen[m]]
    parts = [f"msn {m}: {', '.join(seen[m])}" for m in msns if seen[m]]
    if never:
        parts.append(f"msn {_ranges(never)}: never requested")
    return "requests for the missing segments: " + "; ".join(parts)


def window_slides(origin: HlsOrigin, name: str, msns: list[int]) -> str:
    """When segments were skipped at a restart: the two media playlist reads just before the
    first segment fetched after them (the recorder's, for ``-live_start_index``, then the new
    ffmpeg's), and the live edge each saw (from the stream's publishing clock; constant
    segment durations and no stall or jump assumed)."""
    stream = origin.stream(name)
    wall0: float = stream._wall0
    seg = stream.media.segment_duration
    variant, _ = fetched_segments(origin, name)
    records = origin.requests(name)
    after = [
        r
        for r in records
        if r.kind == "segment"
        and r.status == 200
        and (m := _SEGMENT.search(r.path))
        and int(m[1]) == variant
        and int(m[2]) > msns[-1]
    ]
    if not after:
        return ""
    first = after[0]
    reads = [
        r
        for r in records
        if r.kind == "playlist"
        and r.status == 200
        and f"/v{variant}/" in r.path
        and first.time - 5.0 <= r.time <= first.time
    ][-2:]
    if len(reads) < 2:
        return ""

    def edge(t: float) -> int:
        return stream.window + int((t - wall0) / seg + 1e-6) - 1

    (a, b), start = reads, int(_SEGMENT.search(first.path)[2])  # type: ignore[index]
    if edge(a.time) == edge(b.time):
        return ""
    clock = [datetime.fromtimestamp(r.time, UTC).strftime("%H:%M:%S.%f")[:-3] for r in reads]
    return (
        f"the live window slid between the two playlist reads before msn {start} (the "
        f"recorder's, then ffmpeg's): answered at {clock[0]} its newest segment was "
        f"{edge(a.time)}, at {clock[1]} {edge(b.time)} ({(b.time - a.time) * 1000:.0f} ms later)"
    )


def check_files(output_dir: Path, rows: list[dict[str, Any]], order: list[str]) -> list[FileCheck]:
    """Decode every file of ``rows``, in the order of ``order`` (the sessions' paths)."""
    rank = {path: i for i, path in enumerate(order)}
    checks = []
    for row in sorted(rows, key=lambda r: (rank.get(r["path"], len(rank)), r["path"])):
        path = output_dir / row["path"]
        result = decode(path)
        check = FileCheck(
            path=row["path"],
            state=row["state"],
            size=path.stat().st_size,
            duration_s=float(row["duration"] or 0),
            decoded_s=round(result.seconds, 2),
            ok=result.ok,
            errors=" | ".join(result.errors.strip().splitlines()[:3]),
        )
        if not result.ok:
            check.clean_without_last_pes, check.cut_bytes = decodes_without_last_pes(path)
        checks.append(check)
    return checks


def describe(session: dict[str, Any]) -> str:
    restarts = session.get("restarts", 0)
    plural = "restart" if restarts == 1 else "restarts"
    return f"{session['state']} ({session['end_reason'] or 'no reason'}), {restarts} {plural}"


def collect(
    result: CaseResult,
    lab: Lab,
    stack: Stack,
    client: httpx.Client,
    follower: EventFollower,
    name: str,
    person: str,
    sessions: list[dict[str, Any]],
    published_at_stop: int,
) -> list[dict[str, Any]]:
    """Fill in the measurements common to every case; returns the recording rows."""
    rows = wait_finalized(client, person, sessions, follower)
    order = [p for s in sessions for p in s["record_paths"]]
    result.files = check_files(stack.output_dir, rows, order)
    result.ledger = [g for r in rows for g in r["gaps"]]
    result.media_lost_s, result.missing_segments = media_lost(lab.origin, name, published_at_stop)
    if result.missing_segments:
        result.notes.append(requests_for(lab.origin, name, result.missing_segments))
        # A loss the ledger does not account for: did a restart resume too far on?
        slid = "" if result.ledger else window_slides(lab.origin, name, result.missing_segments)
        if slid:
            result.notes.append(slid)
    sids = {s["session_id"] for s in sessions}
    # FINALIZED comes after the rows are written; give the event a moment to arrive.
    with contextlib.suppress(TimeoutError):
        wait_for(
            "FINALIZED events",
            lambda: {e.session_id for e in follower.of(person) if e.type == "FINALIZED"} >= sids,
            5,
            0.1,
        )
    events = [e for e in follower.of(person) if e.type != "SNAPSHOT"]
    result.events = Counter(e.type for e in events)
    result.gap_events = result.events.get("GAP", 0)
    result.check("every file decodes to its end", result.files_decode)
    note_escalations(result, stack.services["recorder_service"], sids)
    repaired = [
        r
        for r in stack.services["recorder_service"].log_records()
        if r.get("event.action") == "recording.repair"
        and f"/records/{person}/" in str(r.get("file.path", ""))
    ]
    for r in repaired:
        result.notes.append(f"at finalization: {r['message']}")
    stray = lab.reap(f"after {result.name}", stack.output_dir / "records" / person, settle=30.0)
    result.check("no ffmpeg left behind", not stray)
    return rows


def _when(record: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(record["@timestamp"]).replace("Z", "+00:00")).timestamp()


def note_escalations(result: CaseResult, recorder: Service, sids: set[str]) -> None:
    """Note each signal ffmpeg needed to stop (timed from the stall, when one caused the stop)
    and how long a stalled ffmpeg took to be replaced."""
    stalled: float | None = None
    said = []
    for r in recorder.log_records():
        if r.get("session_id") not in sids:
            continue
        action = r.get("event.action")
        if action == "session.stall":
            stalled = _when(r)
        elif action == "ffmpeg.escalate":
            after = f" (+{_when(r) - stalled:.1f} s after the stall)" if stalled else ""
            said.append(f"{r['message']}{after}")
        elif action == "session.restart" and stalled is not None:
            if result.stall_stop_s is None:
                result.stall_stop_s = round(_when(r) - stalled, 1)
            stalled = None
    if said:
        counted = Counter(said)
        result.notes.append(
            "ffmpeg had to be signalled: "
            + "; ".join(f"{text} (x{n})" if n > 1 else text for text, n in counted.items())
        )
    if result.stall_stop_s is not None:
        result.notes.append(
            f"the first stalled ffmpeg was gone {result.stall_stop_s:g} s after the stall "
            "was detected"
        )


def recovered_after(follower: EventFollower, person: str, since: float) -> float | None:
    """Seconds from ``since`` to the first RECORDING event after a RECONNECTING (a restart)."""
    restarted = False
    for e in follower.of(person):
        if e.received < since:
            continue
        if e.type == "RECONNECTING":
            restarted = True
        elif e.type == "RECORDING" and restarted:
            return round(e.received - since, 1)
    return None


# -- the cases ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    before_s: float  # recording before the fault
    after_s: float  # recording after the recovery


FULL = Timing(5.0, 5.0)
SHORT = Timing(3.0, 3.0)


@dataclass(frozen=True)
class Target:
    """What a fault is injected into: the stream, and the stack recording it as ``person``."""

    lab: Lab
    stack: Stack
    name: str
    person: str

    @property
    def stream(self) -> Stream:
        return self.lab.origin.stream(self.name)


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    run: Callable[[Lab, bool], CaseResult]
    short: bool
    checks: str


def _fault_case(
    lab: Lab,
    short: bool,
    *,
    case: str,
    title: str,
    fault_window_s: float,
    inject: Callable[[Target], None],
    window: int = WINDOW,
    wait_s: float | None = None,
    stack: Stack | None = None,
) -> tuple[CaseResult, dict[str, Any]]:
    """The common shape: record, inject, wait ``wait_s`` (default: the fault window), wait for
    the recovery, record on, stop, measure. Returns the result and the stopped session."""
    timing = SHORT if short else FULL
    result = CaseResult(case, title, fault_window_s)
    name = lab.unique(case)
    lab.origin.add_stream(name, segment_duration=SEGMENT_S, window=window)
    stack = stack or lab.shared_stack()
    follower = EventFollower(stack.base_url).start()
    try:
        with httpx.Client(base_url=stack.base_url, timeout=60) as client:
            session = start_recording(client, lab.origin.url(name), name)
            sid, person = session["session_id"], session["person"]
            wait_media(client, sid, 1.0)
            time.sleep(timing.before_s)
            injected = time.monotonic()
            inject(Target(lab, stack, name, person))
            rest = (fault_window_s if wait_s is None else wait_s) - (time.monotonic() - injected)
            time.sleep(max(0.0, rest))
            wait_recovered(client, sid)
            result.recovered_after_s = recovered_after(follower, person, injected)
            time.sleep(timing.after_s)
            published = int(lab.origin.stream(name).state()["published"])
            stopped = stop_recording(client, sid)
            result.outcome, result.restarts = describe(stopped), stopped["restarts"]
            collect(result, lab, stack, client, follower, name, person, [stopped], published)
            return result, stopped
    finally:
        follower.stop()


def _targets_no_loss(result: CaseResult, stopped: dict[str, Any], *, restarts: bool) -> None:
    result.check("session STOPPED by the stop request", stopped["state"] == "STOPPED")
    if restarts:
        result.check("the watchdog restarted ffmpeg", stopped["restarts"] >= 1)
    result.check("0 s of media lost", result.media_lost_s == 0)
    result.check("no gap in the ledger", not result.ledger)


def _http_error(status: int, duration: float) -> Callable[[Target], None]:
    def inject(t: Target) -> None:
        t.stream.set_fault("http_error", status=status, duration=duration)

    return inject


def case_playlist_stall(lab: Lab, short: bool) -> CaseResult:
    duration = 10.0 if short else 30.0

    def inject(t: Target) -> None:
        t.stream.set_fault("stall", duration=duration)

    result, stopped = _fault_case(
        lab,
        short,
        case="playlist-stall",
        title=f"playlist stall {duration:.0f} s",
        fault_window_s=duration,
        inject=inject,
        window=40,
    )
    _targets_no_loss(result, stopped, restarts=True)
    result.check("STALLED emitted", result.events.get("STALLED", 0) >= 1)
    return result


def case_404_burst(lab: Lab, short: bool) -> CaseResult:
    duration = 4.0 if short else 10.0
    result, stopped = _fault_case(
        lab,
        short,
        case="404-burst",
        title=f"404 burst {duration:.0f} s",
        fault_window_s=duration,
        inject=_http_error(404, duration),
    )
    _targets_no_loss(result, stopped, restarts=True)
    return result


def case_500_burst(lab: Lab, short: bool) -> CaseResult:
    duration = 4.0 if short else 10.0
    result, stopped = _fault_case(
        lab,
        short,
        case="500-burst",
        title=f"500 burst {duration:.0f} s",
        fault_window_s=duration,
        inject=_http_error(500, duration),
    )
    _targets_no_loss(result, stopped, restarts=False)
    return result


def case_window_jump(lab: Lab, short: bool) -> CaseResult:
    window, jump = (6, 10) if short else (6, 20)

    def inject(t: Target) -> None:
        t.stream.set_fault("window_jump", segments=jump)

    result, stopped = _fault_case(
        lab,
        short,
        case="window-jump",
        title=f"window jump {jump} segments (window {window})",
        fault_window_s=jump * SEGMENT_S,
        inject=inject,
        window=window,
        wait_s=1.0,
    )
    result.notes.append(
        f"the live edge jumped {jump} s at once; with a window of {window} the segments between "
        "the recorder's position and the new window expired unread"
    )
    lost = result.media_lost_s or 0.0
    result.check("session STOPPED by the stop request", stopped["state"] == "STOPPED")
    result.check("segments expired (media lost > 0)", lost > 0)
    result.check("the loss is in the ledger", bool(result.ledger))
    result.check("a GAP event per ledger entry", result.gap_events == len(result.ledger))
    result.check(
        "the ledger's length matches the loss (±max(1.5 s, 30 %))",
        abs(result.ledger_s - lost) <= max(1.5, 0.3 * lost),
    )
    return result


def case_token_expiry(lab: Lab, short: bool) -> CaseResult:
    """A Chaturbate target: the site hands out the CDN URL with its token; at the fault the CDN
    refuses the old token (403 on every request) and the site hands out a new one."""
    timing = SHORT if short else FULL
    case = "token-expiry-403"
    result = CaseResult(case, "403 on token expiry mid-stream", 0.0)
    name = lab.unique(case)
    stream = lab.origin.add_stream(name, segment_duration=SEGMENT_S, window=WINDOW, token="t1")
    lab.site.add_room(name, room_status="public", hls_url=lab.origin.url(name))
    stack = lab.shared_stack()
    follower = EventFollower(stack.base_url).start()
    try:
        with httpx.Client(base_url=stack.base_url, timeout=60) as client:
            session = start_recording(client, name, name)
            sid, person = session["session_id"], session["person"]
            wait_media(client, sid, 1.0)
            time.sleep(timing.before_s)
            injected = time.monotonic()
            # The token expires: from now on only a fresh token works (`token_expire` would
            # refuse every token until `rotate_token`, which also clears it; a CDN whose tokens
            # expire refuses the old one and accepts the site's new one).
            stream.rotate_token("t2")
            lab.site.set_room(name, hls_url=lab.origin.url(name))
            recovered = wait_recovered(client, sid)
            result.fault_window_s = round(recovered - injected, 1)
            result.recovered_after_s = recovered_after(follower, person, injected)
            time.sleep(timing.after_s)
            published = int(stream.state()["published"])
            stopped = stop_recording(client, sid)
            result.outcome = describe(stopped)
            collect(result, lab, stack, client, follower, name, person, [stopped], published)
    finally:
        follower.stop()
    refused = [r for r in lab.origin.requests(name) if r.status == 403]
    result.notes.append(f"{len(refused)} requests refused with 403 before the new token was used")
    result.check("the old token was refused (403s seen)", bool(refused))
    _targets_no_loss(result, stopped, restarts=True)
    return result


def case_slow_origin(lab: Lab, short: bool) -> CaseResult:
    duration, delay = (6.0, 1.5) if short else (15.0, 1.5)

    def inject(t: Target) -> None:
        t.stream.set_fault("slow", delay=delay, duration=duration)

    result, stopped = _fault_case(
        lab,
        short,
        case="slow-origin",
        title=f"slow origin ({delay} s per request for {duration:.0f} s)",
        fault_window_s=duration,
        inject=inject,
    )
    lost = result.media_lost_s or 0.0
    result.check("session STOPPED by the stop request", stopped["state"] == "STOPPED")
    result.check(
        "no silent loss (0 s lost, or the ledger accounts for it)",
        lost == 0 or (bool(result.ledger) and abs(result.ledger_s - lost) <= max(1.5, 0.3 * lost)),
    )
    return result


def _ffmpeg_pids(service: Service, person: str) -> list[int]:
    """The ffmpeg processes (not their wrappers) below ``service`` that record ``person``."""
    found = []
    for pid in service.descendants():
        argv = _argv(pid)
        if argv and is_ffmpeg(argv[:1]) and any(f"/records/{person}/" in a for a in argv):
            found.append(pid)
    return found


def case_ffmpeg_sigkill(lab: Lab, short: bool) -> CaseResult:
    killed: list[int] = []

    def inject(t: Target) -> None:
        pids = _ffmpeg_pids(t.stack.services["recorder_service"], t.person)
        if not pids:
            raise RuntimeError("no ffmpeg to kill")
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        killed.extend(pids)

    result, stopped = _fault_case(
        lab,
        short,
        case="ffmpeg-sigkill",
        title="ffmpeg SIGKILL",
        fault_window_s=0.0,
        inject=inject,
    )
    result.notes.append(f"killed ffmpeg PID {', '.join(map(str, killed))}")
    _targets_no_loss(result, stopped, restarts=True)
    result.check("RECONNECTING emitted", result.events.get("RECONNECTING", 0) >= 1)
    return result


def _autorecord_case(lab: Lab, short: bool, *, case: str, title: str, kill: bool) -> CaseResult:
    """A watch-list channel (manual sessions are not restarted after a recorder restart) is
    recorded by auto-record; the recorder is stopped (SIGTERM) or killed (SIGKILL), started
    again at once, and auto-record resumes the channel."""
    timing = SHORT if short else FULL
    result = CaseResult(case, title, 0.0)
    name = lab.unique(case)
    lab.origin.add_stream(name, segment_duration=SEGMENT_S, window=WINDOW)
    lab.site.add_room(name, room_status="public", hls_url=lab.origin.url(name))
    with (
        lab.own_stack(case) as stack,
        httpx.Client(base_url=stack.base_url, timeout=60) as client,
    ):
        follower = EventFollower(stack.base_url).start()
        try:
            created = client.post("/api/models", json={"username": name})
            if created.status_code != 201:
                raise RuntimeError(f"watch failed: HTTP {created.status_code} {created.text}")
            first = wait_for("an automatic start", lambda: session_of(client, name), 20)
            person = first["person"]
            wait_media(client, first["session_id"], 1.0)
            time.sleep(timing.before_s)
            recorder = stack.services["recorder_service"]
            ffmpegs = _ffmpeg_pids(recorder, person)
            down = time.monotonic()
            if kill:
                code = recorder.kill()
            else:
                code = recorder.stop(timeout=40)
                stopped_in = time.monotonic() - down
                result.notes.append(f"recorder exited with code {code} in {stopped_in:.1f} s")
                result.check("the recorder exits 0 within SHUTDOWN_GRACE (25 s)", code == 0)
                result.check(
                    "its ffmpeg exited with it",
                    not [p for p in ffmpegs if _alive(p)],
                )
            stack.restart_recorder()
            back = time.monotonic()
            result.fault_window_s = round(back - down, 1)
            if kill:
                # The killed recorder's ffmpeg got one SIGTERM and finishes its file by itself.
                wait_for(
                    "the orphaned ffmpeg to exit",
                    lambda: not [p for p in ffmpegs if _alive(p)],
                    20,
                )
            second = wait_for(
                "auto-record to resume",
                lambda: (
                    (s := session_of(client, name)) and s["session_id"] != first["session_id"] and s
                ),
                30,
            )
            result.recovered_after_s = round(time.monotonic() - down, 1)
            wait_media(client, second["session_id"], 1.0)
            time.sleep(timing.after_s)
            client.delete(f"/api/models/{name}")
            published = int(lab.origin.stream(name).state()["published"])
            stopped_second = stop_recording(client, second["session_id"])
            old = get_session(client, first["session_id"])
            result.outcome = f"old: {describe(old)}; new: {describe(stopped_second)}"
            rows = collect(
                result,
                lab,
                stack,
                client,
                follower,
                name,
                person,
                [old, stopped_second],
                published,
            )
        finally:
            follower.stop()
    old_rows = [r for r in rows if r["sessionId"] == first["session_id"]]
    snapshots = [e for e in follower.events if e.type == "SNAPSHOT"]
    if len(snapshots) > 1:
        result.notes.append(
            f"the /api/events client got {len(snapshots)} snapshots: the restarted recorder "
            "numbers its events above every id of the old run (from its start time in "
            "microseconds), so the gateway's resume after the old last id gets a snapshot, "
            "which carries the new session, instead of its first events"
        )
    if result.media_lost_s == 0:
        result.notes.append(
            "media lost is measured across the restart (both sessions): the new session "
            f"starts 3 segments behind the live edge, which covered the {result.fault_window_s:g}"
            " s the recorder was down"
        )
    else:
        result.notes.append(
            "media lost is measured across the restart (both sessions): a new session starts "
            "3 segments behind the live edge and does not resume the old one's media sequence"
        )
    if kill:
        result.check("old session INTERRUPTED", old["state"] == "INTERRUPTED")
        result.check(
            "its file recovered as INTERRUPTED",
            bool(old_rows) and all(r["state"] == "INTERRUPTED" for r in old_rows),
        )
    else:
        result.check(
            "old session STOPPED: recorder shutting down",
            old["state"] == "STOPPED" and old["end_reason"] == "recorder shutting down",
        )
        result.check(
            "its file finalized (COMPLETE)",
            bool(old_rows) and all(r["state"] == "COMPLETE" for r in old_rows),
        )
    result.check("auto-record resumed the channel", second["session_id"] != first["session_id"])
    return result


def case_recorder_sigterm(lab: Lab, short: bool) -> CaseResult:
    return _autorecord_case(
        lab, short, case="recorder-sigterm", title="recorder SIGTERM", kill=False
    )


def case_recorder_sigkill(lab: Lab, short: bool) -> CaseResult:
    return _autorecord_case(
        lab, short, case="recorder-sigkill", title="recorder SIGKILL", kill=True
    )


def case_resolver_restart(lab: Lab, short: bool) -> CaseResult:
    """The resolver is killed; a 404 burst then makes the watchdog need it; it comes back
    after ~8 s."""
    burst, back_after = (6.0, 5.0) if short else (10.0, 8.0)

    def inject(t: Target) -> None:
        t.stack.services["resolver_service"].kill()
        t.stream.set_fault("http_error", status=404, duration=burst)
        time.sleep(back_after)
        t.stack.start_service("resolver_service")
        wait_grpc_serving(f"127.0.0.1:{t.stack.resolver_port}")

    with lab.own_stack("resolver-restart") as stack:
        result, stopped = _fault_case(
            lab,
            short,
            case="resolver-restart",
            title=f"resolver killed; 404 burst {burst:.0f} s, back after {back_after:.0f} s",
            fault_window_s=burst,
            inject=inject,
            stack=stack,
        )
        records = stack.services["recorder_service"].log_records()
    failed = [r for r in records if r.get("event.action") == "session.reresolve_failed"]
    result.notes.append(f"{len(failed)} re-resolve attempt(s) failed while the resolver was down")
    result.check("the watchdog met the resolver down", bool(failed))
    _targets_no_loss(result, stopped, restarts=True)
    return result


def case_gateway_restart(lab: Lab, short: bool) -> CaseResult:
    """The gateway is restarted (SIGTERM, start) while a client follows /api/events; the client
    reconnects with Last-Event-ID and must miss no event."""
    timing = SHORT if short else FULL
    case = "gateway-restart-sse"
    result = CaseResult(case, "gateway restarted while a client follows /api/events", 0.0)
    name = lab.unique(case)
    lab.origin.add_stream(name, segment_duration=SEGMENT_S, window=WINDOW)
    with (
        lab.own_stack(case) as stack,
        httpx.Client(base_url=stack.base_url, timeout=60) as client,
    ):
        follower = EventFollower(stack.base_url).start()
        try:
            session = start_recording(client, lab.origin.url(name), name)
            sid, person = session["session_id"], session["person"]
            wait_media(client, sid, 1.0)
            time.sleep(timing.before_s)
            down = time.monotonic()
            code = stack.services["gateway"].stop()
            result.notes.append(f"the gateway took {time.monotonic() - down:.1f} s to stop")
            time.sleep(2.0)  # events keep coming while the gateway is away
            stack.start_service("gateway")
            stack.wait_http_ready()
            result.fault_window_s = round(time.monotonic() - down, 1)
            result.notes.append(f"gateway exited with code {code}")
            wait_for("the client to reconnect", lambda: follower.connects >= 2, 20, 0.1)
            result.notes.append(
                f"the client followed again {time.monotonic() - down:.1f} s after the stop began"
            )
            time.sleep(timing.after_s)
            published = int(lab.origin.stream(name).state()["published"])
            stopped = stop_recording(client, sid)
            result.outcome = describe(stopped)
            collect(result, lab, stack, client, follower, name, person, [stopped], published)
        finally:
            follower.stop()
    ids = [e.id for e in follower.events if e.id is not None]
    snapshots = [e for e in follower.events if e.type == "SNAPSHOT"]
    holes = [b for a, b in itertools.pairwise(ids) if b != a + 1]
    result.notes.append(
        f"the client saw events {ids[0] if ids else '-'}..{ids[-1] if ids else '-'} over "
        f"{follower.connects} connections ({len(snapshots)} snapshot(s))"
    )
    result.check("the client reconnected", follower.connects >= 2)
    result.check("event ids contiguous across the restart", not holes and len(snapshots) == 1)
    _targets_no_loss(result, stopped, restarts=False)
    return result


def case_disk_low(lab: Lab, short: bool) -> CaseResult:
    """MIN_FREE_BYTES is set 1 GiB below the free space; a 2 GiB ballast file then takes the
    disk below the watermark while a session records."""
    timing = SHORT if short else FULL
    case = "disk-low"
    result = CaseResult(case, "disk below the watermark", 0.0)
    name = lab.unique(case)
    lab.origin.add_stream(name, segment_duration=SEGMENT_S, window=WINDOW)
    lab.origin.add_stream(f"{name}_b", segment_duration=SEGMENT_S, window=WINDOW)
    free = shutil.disk_usage(lab.workdir).free
    watermark = free - (1 << 30)
    ballast = lab.workdir / "ballast.bin"
    env = {"MIN_FREE_BYTES": str(watermark), "DISK_CHECK_INTERVAL": "1"}
    with (
        lab.own_stack(case, **env) as stack,
        httpx.Client(base_url=stack.base_url, timeout=60) as client,
    ):
        follower = EventFollower(stack.base_url).start()
        try:
            session = start_recording(client, lab.origin.url(name), name)
            sid, person = session["session_id"], session["person"]
            wait_media(client, sid, 1.0)
            time.sleep(timing.before_s)
            down = time.monotonic()
            with ballast.open("wb") as f:
                os.posix_fallocate(f.fileno(), 0, 2 << 30)
            try:
                ended = wait_for(
                    "the session to be stopped",
                    lambda: (s := get_session(client, sid))["state"] in ("STOPPED", "FAILED") and s,
                    30,
                )
                result.fault_window_s = round(time.monotonic() - down, 1)
                refused = client.post("/api/start", json={"target": lab.origin.url(f"{name}_b")})
            finally:
                ballast.unlink(missing_ok=True)
            published = int(lab.origin.stream(name).state()["published"])
            result.outcome = describe(ended)
            collect(result, lab, stack, client, follower, name, person, [ended], published)
        finally:
            follower.stop()
    code = (
        refused.json().get("code")
        if refused.headers.get("content-type", "").startswith("application/json")
        else None
    )
    result.notes.append(f"a new start got HTTP {refused.status_code} {code}")
    result.notes.append(
        f"watermark {watermark / 2**30:.1f} GiB; the session was stopped "
        f"{result.fault_window_s:.1f} s after the ballast was written"
    )
    # Media after the stop is not expected: only what was published while it recorded counts.
    result.check(
        "a new start is refused: 507 LOW_DISK_SPACE",
        (refused.status_code, code) == (507, "LOW_DISK_SPACE"),
    )
    result.check(
        "the running session was stopped for low disk",
        ended["state"] == "STOPPED" and "watermark" in ended["end_reason"],
    )
    result.check("its file finalized (COMPLETE)", all(f.state == "COMPLETE" for f in result.files))
    return result


CASES: dict[str, Case] = {
    c.name: c
    for c in (
        Case(
            "playlist-stall",
            "playlist stall",
            case_playlist_stall,
            False,
            "The media playlist freezes for 30 s (newer segments 404) while the live clock runs "
            "on; the window is 40 segments so it still holds everything published meanwhile. "
            "Checked: STALLED after STALL_TIMEOUT (5 s), ffmpeg stopped and restarted, then "
            "resumed where the recording stopped (`-live_start_index`): 0 s lost (every "
            "segment fetched), no gap in the ledger, every part decodes.",
        ),
        Case(
            "404-burst",
            "404 burst",
            case_404_burst,
            True,
            "Every request of the stream answers 404 for 10 s (window 15). ffmpeg exits (with "
            "code 0); the watchdog asks the resolver, treats a 'not found' shorter than "
            "STREAM_END_GRACE as a burst, and restarts with -live_start_index where the "
            "recording stopped. Target: 0 s lost, no ledger gap, files decode.",
        ),
        Case(
            "500-burst",
            "500 burst",
            case_500_burst,
            True,
            "Every request answers 500 for 10 s (window 15). Same checks as the 404 burst: "
            "0 s lost, no ledger gap, files decode (ffmpeg may or may not exit on a 5xx).",
        ),
        Case(
            "window-jump",
            "window jump",
            case_window_jump,
            True,
            "The live edge jumps 20 segments ahead at once with a window of 6, so segments "
            "expire before ffmpeg can read them. Loss is expected here: the check is that it is "
            "not silent: a GAP event and a ledger entry whose duration is within max(1.5 s, "
            "30 %) of the media actually lost (from the origin's log).",
        ),
        Case(
            "token-expiry-403",
            "403 on token expiry",
            case_token_expiry,
            False,
            "A Chaturbate username target: the fake site hands out the CDN URL with token t1. "
            "Mid-stream the CDN stops accepting t1 (every request 403) and the site hands out "
            "t2. The watchdog re-resolves through the site, gets t2 and resumes. Fault window "
            "here = from the expiry to recording again. Target: 0 s lost, files decode.",
        ),
        Case(
            "slow-origin",
            "slow origin",
            case_slow_origin,
            False,
            "Every response of the stream waits 1.5 s for 15 s (1 s segments: the origin "
            "serves slower than real time). Checked: the session survives and any loss is "
            "accounted for in the ledger (no silent loss); files decode.",
        ),
        Case(
            "ffmpeg-sigkill",
            "ffmpeg SIGKILL",
            case_ffmpeg_sigkill,
            True,
            "The session's ffmpeg (found by PID among the recorder's descendants) is killed "
            "with SIGKILL. The watchdog sees the exit, the resolver says live, ffmpeg is "
            "restarted into a new part resuming where the recording stopped. Target: "
            "restarts >= 1, 0 s lost, every part (the killed one included) decodes.",
        ),
        Case(
            "recorder-sigterm",
            "recorder SIGTERM",
            case_recorder_sigterm,
            False,
            "A watch-list channel (fake Chaturbate site, AUTORECORD_INTERVAL=2) is recorded by "
            "auto-record; the recorder gets SIGTERM and is started again at once. Checked: exit "
            "0 within the grace, no ffmpeg left, the session STOPPED with 'recorder shutting "
            "down', its file COMPLETE and decodable, and auto-record records the channel again. "
            "Media lost is measured across the restart (fault window = recorder down time).",
        ),
        Case(
            "recorder-sigkill",
            "recorder SIGKILL",
            case_recorder_sigkill,
            False,
            "The same with SIGKILL: the orphaned ffmpeg gets one SIGTERM (parent-death signal) "
            "and finishes its file; on restart the session is INTERRUPTED, its file recovered "
            "(INTERRUPTED) and decodable to its end, and auto-record resumes the channel.",
        ),
        Case(
            "resolver-restart",
            "resolver killed and restarted",
            case_resolver_restart,
            False,
            "The resolver is SIGKILLed while recording, then a 10 s 404 burst makes ffmpeg exit "
            "so the watchdog needs the resolver; it is started again after 8 s. Checked: the "
            "watchdog logs failed re-resolves and keeps trying with the last URL, the recording "
            "continues, 0 s lost (the outage is shorter than the window), files decode.",
        ),
        Case(
            "gateway-restart-sse",
            "gateway restarted, SSE client",
            case_gateway_restart,
            False,
            "A client follows /api/events; the gateway is restarted (SIGTERM, ~2 s down). The "
            "client reconnects with Last-Event-ID. Checked: event ids contiguous from the first "
            "snapshot to the end (no event missed, no second snapshot), and the recording is "
            "not affected (0 s lost, no restart).",
        ),
        Case(
            "disk-low",
            "disk below the watermark",
            case_disk_low,
            False,
            "MIN_FREE_BYTES is set 1 GiB below the free space (DISK_CHECK_INTERVAL=1), then a "
            "2 GiB ballast file is allocated. Checked: the running session is stopped with the "
            "low-disk reason, its file finalized and decodable, and a new start gets 507 "
            "LOW_DISK_SPACE. Fault window = ballast written to session stopped.",
        ),
    )
}
SHORT_CASES = [name for name, case in CASES.items() if case.short]


def run_case(lab: Lab, name: str, short: bool) -> CaseResult:
    """Run one case; an exception becomes a failed result (the run goes on)."""
    case = CASES[name]
    started = time.monotonic()
    log.info("case %s: starting", name)
    try:
        result = case.run(lab, short)
    except Exception as exc:
        log.exception("case %s: error", name)
        result = CaseResult(name, case.title, 0.0, error=f"{type(exc).__name__}: {exc}")
        lab.reap(f"after {name}")
    result.wall_s = round(time.monotonic() - started, 1)
    log.info(
        "case %s: %s in %.1fs (lost %s s, failed: %s)",
        name,
        "PASS" if result.passed else "FAIL",
        result.wall_s,
        result.media_lost_s,
        result.failed_checks or result.error or "-",
    )
    return result


# -- the report --------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    ffmpeg = find_ffmpeg()
    try:
        first = subprocess.run(
            [ffmpeg, "-hide_banner", "-version"], capture_output=True, text=True, timeout=20
        ).stdout.splitlines()
        version = first[0].split(" Copyright")[0].removeprefix("ffmpeg version ") if first else "?"
    except (OSError, subprocess.SubprocessError):
        version = "unknown"
    return {
        "CPU": f"{os.cpu_count()} cores ({cpu})",
        "RAM": ram,
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "ffmpeg": f"{version} (`{ffmpeg}`)",
    }


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _events(result: CaseResult) -> str:
    order = ["STARTING", "RECORDING", "STALLED", "RECONNECTING", "GAP", "FILE_ROTATED"]
    order += ["STOPPING", "STOPPED", "FAILED", "FINALIZED"]
    parts = []
    for kind in [*order, *sorted(set(result.events) - set(order))]:
        if kind == "PROGRESS" or not result.events.get(kind):
            continue
        n = result.events[kind]
        parts.append(kind if n == 1 else f"{kind} x{n}")
    return ", ".join(parts) or "-"


def _files(result: CaseResult) -> str:
    if not result.files:
        return "-"
    good = sum(f.to_end for f in result.files)
    torn = sum(f.torn_tail for f in result.files)
    text = f"{'yes' if good == len(result.files) else 'NO'} ({good}/{len(result.files)}"
    return text + (f"; {torn} with a torn last frame)" if torn else ")")


def _ledger(result: CaseResult) -> str:
    if not result.ledger:
        return "none"
    causes = Counter(str(g.get("cause")) for g in result.ledger)
    what = ", ".join(f"{c} x{n}" if n > 1 else c for c, n in causes.items())
    return f"{len(result.ledger)}: {result.ledger_s:g} s ({what}); {result.gap_events} GAP event(s)"


def table(results: list[CaseResult]) -> str:
    head = [
        "| case | fault window s | outcome | media lost s | files decode | gaps in ledger "
        "| events | target |",
        "|---|---:|---|---:|---|---|---|---|",
    ]
    rows = []
    for r in results:
        if r.error:
            target = f"**FAIL**: {r.error}"
        elif r.passed:
            target = "met"
        else:
            target = "**FAIL**: " + "; ".join(r.failed_checks)
        lost = _num(r.media_lost_s)
        if r.missing_segments:
            lost += f" (msn {_ranges(r.missing_segments)})"
        rows.append(
            f"| {r.title} | {_num(r.fault_window_s)} | {r.outcome or '-'} | {lost} "
            f"| {_files(r)} | {_ledger(r)} | {_events(r)} | {target} |"
        )
    return "\n".join(head + rows)


def findings(results: list[CaseResult]) -> list[str]:
    """What the run showed beyond pass/fail, each only when it was observed."""
    out = []
    silent = [r for r in results if any("window slid" in n for n in r.notes)]
    if silent:
        out.append(
            "**A restart skipped segments without a ledger entry** ("
            + ", ".join(r.title for r in silent)
            + "). To resume, the watchdog reads the media playlist, finds the last recorded "
            "segment and starts ffmpeg with `-live_start_index` counted from the start of that "
            "window. ffmpeg counts it from the window *it* loads a moment later: when segments "
            "were published in between, the sliding window's start has moved and ffmpeg begins "
            "that many segments further on. Those segments are never requested (the origin's "
            "log says so) and nothing is added to the ledger; the case notes show both playlist "
            "reads and the live edge each saw. Starting one segment early covers a slide of "
            "one (a race of a few tens of ms per restart); an origin whose responses take "
            "longer than a segment slides the window further. Comparing the first segment the "
            "new ffmpeg opens with the one intended, and recording the difference as a RESTART "
            "gap, would at least make it visible."
        )
    torn = [(r, f) for r in results for f in r.files if f.torn_tail]
    if torn:
        cases = ", ".join(sorted({r.title for r, _ in torn}))
        out.append(
            "**A part whose ffmpeg was killed ends in a torn frame** "
            f"({cases}). A SIGKILLed ffmpeg stops mid-write: the file ends inside a TS packet "
            "(its size is a multiple of ffmpeg's 32 KiB I/O buffer, not of 188), so the last "
            "PES packet is incomplete and a strict decode reports an error on the last frame. "
            "Everything before it is intact: cut before its last PES packet the same file "
            "decodes cleanly (checked on a copy for every such file). Players play it; the "
            "loss is that one frame plus what sat in ffmpeg's output buffer. The finalizer's "
            "`recorder_service/ts_repair.py` is meant to cut exactly this tail (a `.ts` part "
            "whose size is not a whole number of 188-byte packets) at finalization; a file "
            "listed here still had it after finalization."
        )
    slow_stall = [r for r in results if (r.stall_stop_s or 0) > 5]
    if slow_stall:
        cases = ", ".join(f"{r.title}: {r.stall_stop_s:g} s" for r in slow_stall)
        out.append(
            f"**A stalled ffmpeg is slow to replace** ({cases} from the stall to the restart). "
            "Its HLS demuxer waits in the playlist reload loop and ignores `q` and SIGINT (a "
            "second signal gets it out but aborts the output: 'Immediate exit requested'), so "
            "each step of the stop ladder runs out its full wait before the SIGKILL: recovery "
            "from a stall takes STALL_TIMEOUT plus those waits, which a short live window may "
            "not hold. Nothing more can reach a stalled ffmpeg's file, so short steps lose "
            "nothing."
        )
    resnap = [r for r in results if any("snapshots" in n for n in r.notes)]
    if resnap:
        out.append(
            "**A client following events across a recorder restart gets a snapshot** ("
            + ", ".join(r.title for r in resnap)
            + "). The restarted recorder numbers its events above every number the previous "
            "run handed out (a run starts at its start time in microseconds), so a client's "
            "last id is always behind the new ring and it gets a snapshot of the sessions: the "
            "new session's first events (STARTING, RECORDING) reach it only as session state, "
            "and nothing after the snapshot is missed (`tests/recorder_service/test_events.py`)."
        )
    return out


def report(
    results: list[CaseResult],
    command: str,
    started: datetime,
    wall_s: float,
    strays: list[int] | None = None,
) -> str:
    info = machine()
    passed = sum(r.passed for r in results)
    lines = [
        "# Reliability: the fault suite",
        "",
        "Written by `make faults` (`python -m tools.faults`): each case runs the real resolver, "
        "recorder and gateway as processes against the fake live CDN (`tests/fakes`, 1 s "
        "segments, a window of 15 unless said otherwise), starts a recording through "
        "`POST /api/start`, records ~5 s, injects the fault, waits for the recording to "
        "recover, records ~5 s more and stops it through `POST /api/stop/{id}`. The recorder "
        "runs with `STALL_TIMEOUT=5`, `RESTART_BACKOFF_MAX=2`, `STREAM_END_GRACE=20`, "
        "`PROGRESS_INTERVAL=1`. The quick cases (`--short`, with 4 s bursts) also run in "
        "`make test` (`tests/faults`).",
        "",
        "- **media lost**: segments of the recorded variant published during the session and "
        "never fetched with a 200, by the origin's request log, times the segment duration "
        f"(up to the live edge at the stop, less the {TAIL_LAG} segments a live recording "
        "normally trails by).",
        "- **files decode**: every file of the session, once finalized (its recording row "
        "COMPLETE or INTERRUPTED), decoded with the recorder's ffmpeg (`tests/media_check.py`): "
        "exit 0, no error, and the decode reaches the duration the recorder gave the file.",
        "- **gaps in ledger**: the `gaps` of the session's recordings (`GET "
        "/api/recordings/{person}`), and the GAP events. Causes: segments ffmpeg skipped "
        "(SKIPPED_SEGMENT) or could not fetch (FAILED_FETCH), discontinuities (DISCONTINUITY; "
        "0 s unless the playlist's PROGRAM-DATE-TIME shows media missing), and media lost "
        "across a restart (RESTART; also when a restarted ffmpeg starts later than asked).",
        "- **events**: what a client following `GET /api/events` received for the session "
        "(PROGRESS left out).",
        "",
        f"Run: {started.strftime('%Y-%m-%d %H:%M UTC')}, `{command}`, "
        f"{wall_s / 60:.1f} min; {passed}/{len(results)} cases met their target.",
        "",
        "Machine: " + "; ".join(f"{k} {v}" for k, v in info.items()) + ".",
        "",
        "Every service was stopped by its PID at the end of its case; ffmpeg processes left "
        "behind (checked after each case and after the run, by PID): "
        + (", ".join(map(str, strays)) + " (killed)" if strays else "none")
        + ".",
        "",
        table(results),
        "",
    ]
    found = findings(results)
    if found:
        lines += ["## Findings", ""]
        lines += [f"{i}. {text}" for i, text in enumerate(found, 1)]
        lines.append("")
    lines += ["## What each case checks", ""]
    for r in results:
        case = CASES[r.name]
        lines += [f"### {r.title}", "", case.checks, ""]
        detail = [f"Result: {'target met' if r.passed else '**target not met**'}"]
        if r.error:
            detail.append(f"error: {r.error}")
        if r.failed_checks:
            detail.append("failed: " + "; ".join(r.failed_checks))
        if r.recovered_after_s is not None:
            detail.append(f"recording again {r.recovered_after_s:g} s after the fault began")
        detail += r.notes
        bad = [f for f in r.files if not f.to_end]
        for f in bad:
            text = (
                f"`{Path(f.path).name}` ({f.size} bytes) decodes {f.decoded_s:g} s of "
                f"{f.duration_s:g} s with `{f.errors or 'no error'}`"
            )
            if f.torn_tail:
                text += (
                    f"; without its last PES packet (the last {f.cut_bytes} bytes) it decodes "
                    "cleanly: only the frame being written when ffmpeg died is torn"
                )
            detail.append(text)
        detail.append(f"case took {r.wall_s:g} s")
        lines += ["; ".join(detail) + ".", ""]
    return "\n".join(lines).rstrip() + "\n"


# -- entry point -------------------------------------------------------------------------------


def run(
    names: list[str], short: bool, workdir: Path | None = None
) -> tuple[list[CaseResult], list[int]]:
    """Run ``names`` in order in one lab; returns their results and the PIDs of ffmpegs that
    were left behind (and killed)."""
    own = workdir is None
    base = workdir or Path(tempfile.mkdtemp(prefix="streamrec-faults-"))
    results = []
    try:
        with Lab(base) as lab:
            for name in names:
                results.append(run_case(lab, name, short))
    finally:
        if own:
            shutil.rmtree(base, ignore_errors=True)
    return results, lab.strays


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.faults", description=__doc__)
    parser.add_argument("--short", action="store_true", help="only the quick cases")
    parser.add_argument("--only", action="append", choices=list(CASES), help="run this case")
    parser.add_argument(
        "--out",
        type=Path,
        help=f"write the report here (a full run: {DEFAULT_OUT.relative_to(ROOT)} by default)",
    )
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    names = args.only or (SHORT_CASES if args.short else list(CASES))
    out = args.out or (None if args.short or args.only else DEFAULT_OUT)
    command = "python -m tools.faults" + (" " + " ".join(argv or sys.argv[1:])).rstrip()
    started = datetime.now(UTC)
    t0 = time.monotonic()
    results, strays = run(names, args.short, args.keep)
    wall = time.monotonic() - t0
    text = report(results, command, started, wall, strays)
    sys.stdout.write(table(results) + "\n")
    sys.stdout.write(f"\n{sum(r.passed for r in results)}/{len(results)} met; {wall:.0f} s\n")
    if out is not None:
        out.write_text(text, encoding="utf-8")
        sys.stdout.write(f"wrote {out}\n")
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
