"""The benchmarks: ``make bench`` (``python -m tools.bench [--quick] [--only CASE] [--out F]``).

Runs streamrec (the three services as real processes, ``simlab.harness.Stack``) against a fake
live origin serving pre-encoded 720p segments (``tools.bench_origin``: 2.5 Mbit/s, 2 s
segments, loopback), prints one table and writes it with the machine description, per-case
details and notes to ``docs/PERFORMANCE.md``. Cases (``--only``):

- ``cost``: CPU seconds per recorded minute and PSS per session at N = 1, 32, 128, for plain
  ``ffmpeg -c copy``, for the recorder's own ffmpeg command run by the bench, and for streamrec
  (recorder + every process below it); the recorder's own CPU and memory growth;
- ``ceiling``: the largest N that records 2 minutes with no gap and every file complete;
- ``latency``: ``POST /api/start`` to the first byte on disk, 20 starts, 8 sessions running;
- ``burst``: 32 starts at once, each to its first byte on disk, with the default budgets;
- ``fanout``: 500 WatchSessions subscribers and 100 SSE clients while 32 sessions record;
- ``watchlist``: 10,000 channels, 1 % online: auto-record cycle time and upstream requests;
- ``gateway``: ``GET /api/status`` at 50 concurrent clients against ListSessions over gRPC;
- ``dashboard``: the web dashboard in Chromium with 1,000 channels, 32 recording: time until
  the grid is usable, filter response, the page's memory, event-to-card delay (p50/p99); it
  needs the built assets (``make web``) and Debian's Chromium (``tools/ensure_chromium.sh``);
- ``thumbnails``: CPU per live thumbnail (alone and batched) and per contact sheet, and what
  thumbnails add at N = 128 recording with a picture per channel per minute.

``--quick`` runs every case small and short (a smoke run of about a minute) and, like
``--only``, writes a file only when ``--out`` is given. Every process started here is stopped by
its PID; recordings go to a temporary directory that is deleted after each case.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shlex
import shutil
import sys
import tempfile
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from servicekit.ffmpeg import find_ffmpeg
from tools import bench_measure as m
from tools.bench_burst import burst_case
from tools.bench_common import CaseReport, Context
from tools.bench_cost import ceiling_case, cost_case
from tools.bench_dashboard import dashboard_case
from tools.bench_origin import origin_process
from tools.bench_service import fanout_case, gateway_case, latency_case, watchlist_case
from tools.bench_thumbnails import thumbnails_case

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "docs" / "PERFORMANCE.md"
#: Everything below this line in the document is written by hand and kept across runs.
KEEP_MARKER = "<!-- written by hand below: tools/bench.py keeps it when it rewrites the above -->"
log = logging.getLogger("bench")

CASES: dict[str, Callable[[Context], CaseReport]] = {
    "cost": cost_case,
    "ceiling": ceiling_case,
    "latency": latency_case,
    "burst": burst_case,
    "fanout": fanout_case,
    "watchlist": watchlist_case,
    "gateway": gateway_case,
    "dashboard": dashboard_case,
    "thumbnails": thumbnails_case,
}


def summary_table(reports: list[CaseReport]) -> str:
    rows = []
    for report in reports:
        if report.error:
            rows.append([report.key, "(the case failed)", report.error[:80], "", ""])
        for metric in report.metrics:
            rows.append([metric.case, metric.name, metric.value, metric.target, metric.status])
    return m.render_table(["case", "measure", "result", "target", ""], rows)


def _case_sections(text: str) -> dict[str, str]:
    """The per-case sections of a written document, by case key."""
    body = text.split(KEEP_MARKER, 1)[0]
    sections: dict[str, str] = {}
    for part in re.split(r"\n(?=## )", body):
        found = re.match(r"## .*\(`--only (\w+)`\)", part)
        if found:
            sections[found[1]] = part.rstrip() + "\n"
    return sections


def _summary_rows(text: str) -> list[list[str]]:
    """The rows of a written document's summary table."""
    body = text.split("## Results", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in body.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or cells[0] == "case" or not cells[0].strip("-"):
            continue  # the header and the rule under it
        rows.append(cells)
    return rows


def merge_doc(path: Path, reports: list[CaseReport], command: str, began: datetime) -> None:
    """Put the cases of a partial run (``--only``) into the document of an earlier full run,
    replacing only their summary rows and sections, and say so under "How it was measured"."""
    text = path.read_text(encoding="utf-8")
    keys = {r.key for r in reports}
    fresh = summary_table(reports)
    rows = [r for r in _summary_rows(text) if r[0] not in keys]
    new_rows = _summary_rows("## Results\n\n" + fresh)
    order = list(CASES)
    merged = sorted(
        rows + new_rows, key=lambda r: order.index(r[0]) if r[0] in order else len(order)
    )
    table = m.render_table(["case", "measure", "result", "target", ""], merged)
    start = text.index("## Results")
    end = text.index("\n## ", start + 3)
    text = text[:start] + "## Results\n\n" + table + "\n" + text[end:]
    sections = _case_sections(text)
    for report in reports:
        lines = [f"## {report.title} (`--only {report.key}`)", ""]
        lines += [detail + "\n" for detail in report.details]
        lines += [f"- {note}" for note in report.notes]
        lines.append(f"- the case took {report.seconds:.0f} s; rerun on its own: `{command}`")
        new = "\n".join(lines).rstrip() + "\n"
        old = sections.get(report.key)
        text = (
            text.replace(old, new) if old else text.replace(KEEP_MARKER, new + "\n" + KEEP_MARKER)
        )
    note = (
        f"- rerun {began.strftime('%Y-%m-%d %H:%M UTC')}: `{command}` "
        f"(replaces {', '.join(sorted(keys))})"
    )
    text = text.replace("\n\n## Results", "\n" + note + "\n\n## Results", 1)
    path.write_text(text, encoding="utf-8")


def write_doc(
    path: Path,
    reports: list[CaseReport],
    table: str,
    info: dict[str, str],
    command: str,
    began: datetime,
    wall_s: float,
    load: tuple[tuple[float, float, float], tuple[float, float, float]],
    intro: str,
) -> None:
    kept = ""
    if path.exists():
        old = path.read_text(encoding="utf-8")
        if KEEP_MARKER in old:
            kept = old.split(KEEP_MARKER, 1)[1].strip()
    lines = [
        "# Performance",
        "",
        "What a recording costs against plain ffmpeg, and how far one machine goes. The part",
        "down to the analysis is generated by `make bench` (`tools/bench.py`); the analysis at",
        "the end is written by hand and kept when the bench rewrites the rest.",
        "",
        "## How it was measured",
        "",
        f"- command: `{command}`",
        f"- date: {began.strftime('%Y-%m-%d %H:%M UTC')}; the whole run took {wall_s / 60:.1f} min",
        *(f"- {key}: {value}" for key, value in info.items()),
        f"- load average before the run {load[0][0]:.2f} / {load[0][1]:.2f} / {load[0][2]:.2f}, "
        f"after {load[1][0]:.2f} / {load[1][1]:.2f} / {load[1][2]:.2f} (1 / 5 / 15 min)",
        "",
        intro,
        "",
        "## Results",
        "",
        table,
    ]
    for report in reports:
        lines += ["", f"## {report.title} (`--only {report.key}`)", ""]
        if report.error:
            lines += ["The case failed:", "", "```", report.error, "```", ""]
        for detail in report.details:
            lines += [detail, ""]
        lines += [f"- {note}" for note in report.notes]
        lines.append(f"- the case took {report.seconds:.0f} s")
    lines += ["", KEEP_MARKER, ""]
    if kept:
        lines.append(kept)
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")


INTRO = (
    "The origin is `tools/bench_origin.py` (the fake live CDN of `simlab/fakes`, in a process "
    "of its own): one 1280x720 30 fps stream, 2.5 Mbit/s video + 64 kbit/s AAC, 2 s segments, "
    "a 6-segment live window, pre-encoded once and served from memory. Every session records "
    "that same stream. The stacks run the recorder's defaults (`PROGRESS_INTERVAL` 5 s, "
    "`HLS_TIME` 4, `HLS_LIST_SIZE` 6) except where a case says otherwise."
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small N, short windows")
    parser.add_argument("--only", choices=sorted(CASES), action="append", metavar="CASE")
    parser.add_argument("--out", type=Path, default=None, help="write the document here")
    parser.add_argument("--tmp", type=Path, default=None, help="parent of the work directory")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="with --only: replace those cases in the existing --out document",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    out = args.out or (None if args.quick or args.only else DEFAULT_OUT)
    command = shlex.join(["python", "-m", "tools.bench", *(argv or sys.argv[1:])])
    began, clock = datetime.now(UTC), m.Stopwatch()
    load_before = m.loadavg()
    ffmpeg = find_ffmpeg()
    info = m.machine(ffmpeg)
    tmp = Path(tempfile.mkdtemp(prefix="streamrec-bench-", dir=args.tmp))
    reports: list[CaseReport] = []
    try:
        with origin_process(log_path=tmp / "origin.log") as origin:
            ctx = Context(quick=args.quick, ffmpeg=ffmpeg, origin=origin, tmp=tmp)
            for key, case in CASES.items():
                if args.only and key not in args.only:
                    continue
                case_clock = m.Stopwatch()
                try:
                    report = case(ctx)
                except Exception as exc:
                    log.exception("case %s failed", key)
                    report = CaseReport(key, key, error=f"{type(exc).__name__}: {exc}")
                    report.notes.append(traceback.format_exc(limit=3).strip().replace("\n", " "))
                report.seconds = case_clock()
                reports.append(report)
                log.info("case %s done in %.0fs", key, report.seconds)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    table = summary_table(reports)
    sys.stdout.write(table)
    wall = clock()
    sys.stdout.write(f"\n{command}: {wall / 60:.1f} min\n")
    if out is not None and args.merge and out.exists():
        merge_doc(out, reports, command, began)
        log.info("merged %s into %s", ", ".join(r.key for r in reports), out)
    elif out is not None:
        write_doc(
            out,
            reports,
            table,
            info,
            command,
            began,
            wall,
            (load_before, m.loadavg()),
            INTRO,
        )
        log.info("wrote %s", os.path.relpath(out, ROOT))
    return 1 if any(r.error for r in reports) else 0


if __name__ == "__main__":
    raise SystemExit(main())
