"""Measurement of the fault suite: media lost against the origin's request log, checks of files,
and collecting a case's results."""

from __future__ import annotations

import contextlib
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from recorder_service.ts_repair import last_pes_start
from simlab.fakes.hls_origin import HlsOrigin
from simlab.harness import Service, Stack
from simlab.media_check import decode
from tools.faults.lab import (
    _SEGMENT,
    SEGMENT_S,
    TAIL_LAG,
    CaseResult,
    EventFollower,
    FileCheck,
    Lab,
)
from tools.faults.rest import wait_finalized, wait_for


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
