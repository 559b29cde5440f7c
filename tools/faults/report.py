"""The report of the fault suite: the table and findings written to docs/RELIABILITY.md."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from collections import Counter
from datetime import datetime
from pathlib import Path

from servicekit.ffmpeg import find_ffmpeg
from tools.faults.cases import CASES
from tools.faults.lab import TAIL_LAG, CaseResult
from tools.faults.measure import _ranges


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
        "recorder and gateway as processes against the fake live CDN (`simlab/fakes`, 1 s "
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
        "COMPLETE or INTERRUPTED), decoded with the recorder's ffmpeg (`simlab/media_check.py`): "
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
