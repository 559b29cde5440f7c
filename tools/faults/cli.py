"""The fault suite: ``make faults`` (``python -m tools.faults [--short] [--only NAME] [--out F]``).

Each case runs the three real services (``simlab.harness.Stack``) against the fake live CDN
(``simlab.fakes.hls_origin``; 1 s segments), starts a recording through the REST API, lets it
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
import logging
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from tools.faults.cases import CASES, SHORT_CASES
from tools.faults.lab import DEFAULT_OUT, ROOT, CaseResult, Lab
from tools.faults.report import report, table
from tools.faults.runner import run_case


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
