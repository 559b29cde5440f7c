"""The benchmark's measurement helpers: /proc parsing, CPU deltas, PSS sums, percentiles, the
table and the SSE parsing of its clients. Fast and pure; no timed assertions."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tools import bench_measure as m
from tools.bench_clients import sse_event_times

# comm may hold spaces and parentheses: the fields are counted from the last ")".
STAT = (
    "4242 (ffmpeg (x) y) S 4241 4242 4242 0 -1 4194304 1500 0 0 0 "
    "123 45 0 0 20 0 7 0 9876 123456789 2048 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 "
    "17 1 0 0 0 0 0"
)

SMAPS_ROLLUP = """\
55f977b3e000-7ffc7f905000 ---p 00000000 00:00 0                          [rollup]
Rss:                1768 kB
Pss:                 364 kB
Pss_Dirty:           108 kB
Pss_Anon:            108 kB
Pss_File:            256 kB
Shared_Clean:       1608 kB
Private_Dirty:       108 kB
Swap:                  0 kB
"""


def test_parse_stat_counts_fields_after_the_last_parenthesis() -> None:
    stat = m.parse_stat(STAT)
    assert (stat.pid, stat.comm, stat.state, stat.ppid) == (4242, "ffmpeg (x) y", "S", 4241)
    assert (stat.utime, stat.stime, stat.ticks) == (123, 45, 168)
    assert stat.num_threads == 7
    assert stat.rss_pages == 2048


def test_parse_stat_refuses_garbage() -> None:
    with pytest.raises(ValueError):
        m.parse_stat("not a stat line")


def test_parse_stat_of_this_process() -> None:
    stat = m.parse_stat(Path(f"/proc/{os.getpid()}/stat").read_text())
    assert stat.pid == os.getpid() and stat.ppid == os.getppid()
    assert stat.num_threads >= 1


def test_parse_schedstat() -> None:
    assert m.parse_schedstat("107602574 15966983 385\n") == 107_602_574


def test_cpu_delta_prefers_exact_time_unless_ticks_say_more() -> None:
    before = {1: m.CpuTime(ticks=100, ns=1_000_000_000), 2: m.CpuTime(ticks=50, ns=500_000_000)}
    after = {
        # 0.255 s exact; the ticks (0.25 s) agree within their rounding: the exact time counts.
        1: m.CpuTime(ticks=125, ns=1_255_000_000),
        # A thread that ran 1 s and exited: its schedstat is gone, the ticks keep it.
        2: m.CpuTime(ticks=150, ns=510_000_000),
        # Started in between: all of its time counts.
        3: m.CpuTime(ticks=10, ns=100_000_000),
    }
    delta = m.cpu_delta_seconds(before, after)
    expected = 0.255 + 100 / m.CLK_TCK + 0.1
    assert delta == pytest.approx(expected)


def test_cpu_delta_with_plain_ticks() -> None:
    assert m.cpu_delta_seconds({1: 10}, {1: 10 + m.CLK_TCK, 2: m.CLK_TCK}) == pytest.approx(2.0)


def test_cpu_times_of_a_busy_child() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(0)"])
    try:
        first = m.cpu_times([child.pid])[child.pid]
        while (later := m.cpu_times([child.pid])[child.pid]).ns <= first.ns:
            pass
        assert later.ns > first.ns and later.ticks >= first.ticks
    finally:
        child.kill()
        child.wait(5)
    assert m.cpu_times([child.pid]) == {}


def test_parse_smaps_rollup_in_bytes() -> None:
    fields = m.parse_smaps_rollup(SMAPS_ROLLUP)
    assert fields["Rss"] == 1768 * 1024
    assert fields["Pss"] == 364 * 1024
    assert fields["Pss_Anon"] == 108 * 1024
    assert "rollup" not in fields


def test_pss_sum_over_processes_skips_the_gone() -> None:
    mine = m.memory(os.getpid())
    assert mine["Pss"] > 0 and mine["Rss"] >= mine["Pss"]
    gone = 2**22 + 12345  # above pid_max's largest value: never a live process
    assert m.memory(gone) == {}
    assert m.pss_sum([gone]) == 0
    assert m.pss_sum([os.getpid(), gone]) > 0


def test_descendants_finds_grandchildren() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys; subprocess.run(['sleep', '30'])"]
    )
    try:
        for _ in range(500):
            found = m.descendants(os.getpid())
            if len(found) >= 2:
                break
            subprocess.run(["sleep", "0.01"], check=True)
        assert child.pid in found
        assert any(m.comm(p) == "sleep" for p in found)
        assert m.tree(child.pid)[0] == child.pid
    finally:
        for pid in reversed(m.descendants(child.pid)):
            os.kill(pid, 9)
        child.kill()
        child.wait(5)


def test_system_cpu_share() -> None:
    before = m.parse_proc_stat("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n")
    after = m.parse_proc_stat("cpu  200 0 100 1600 100 0 0 0 0 0\n")
    share = m.cpu_share(before, after)
    # 1000 ticks went by: 150 busy, 800 idle, 50 iowait (counted as not busy).
    assert share.busy == pytest.approx(0.15)
    assert share.iowait == pytest.approx(0.05)
    assert m.cpu_share(after, after).busy == 0.0


def test_diskstats_counts_whole_disks_only() -> None:
    text = (
        " 253       0 vda 1 0 2 0 10 0 1000 0 0 0 0\n"
        " 253       1 vda1 1 0 2 0 10 0 999 0 0 0 0\n"
        "   7       0 loop0 1 0 2 0 10 0 5000 0 0 0 0\n"
        " 259       0 nvme0n1 1 0 2 0 10 0 24 0 0 0 0\n"
        " 259       1 nvme0n1p1 1 0 2 0 10 0 24 0 0 0 0\n"
    )
    assert m.parse_diskstats_written(text) == (1000 + 24) * 512


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([5.0], 99, 5.0),
        ([1, 2, 3, 4, 5], 50, 3.0),
        ([1, 2, 3, 4], 50, 2.5),
        ([1, 2, 3, 4, 5], 0, 1.0),
        ([1, 2, 3, 4, 5], 100, 5.0),
        (list(range(1, 101)), 99, 99.01),
        ([10, 1, 7, 3], 75, 7.75),
    ],
)
def test_percentile_interpolates_like_numpy(values: list[float], p: float, expected: float) -> None:
    assert m.percentile(values, p) == pytest.approx(expected)


def test_percentile_edges() -> None:
    assert math.isnan(m.percentile([], 50))
    with pytest.raises(ValueError):
        m.percentile([1.0], 101)


def test_render_table_pads_columns() -> None:
    table = m.render_table(["a", "long header"], [["1", "x"], ["22222", "y"]])
    lines = table.splitlines()
    assert lines[0] == "| a     | long header |"
    assert lines[1] == "|-------|-------------|"
    assert lines[2] == "| 1     | x           |"
    assert lines[3] == "| 22222 | y           |"
    with pytest.raises(ValueError):
        m.render_table(["a"], [["1", "2"]])


def test_fmt() -> None:
    assert m.fmt(1.23456, 2, " %") == "1.23 %"
    assert m.fmt(None) == "n/a"
    assert m.fmt(float("nan")) == "n/a"


def test_cpu_model_from_cpuinfo() -> None:
    assert m.cpu_model("processor\t: 0\nmodel name\t: AMD EPYC 7B13\n") == "AMD EPYC 7B13"


def test_sse_event_times_from_raw_chunks() -> None:
    event = (
        b'id: 7\nevent: progress\ndata: {"sequence":7,"type":"PROGRESS",'
        b'"event_time":"2026-01-01T00:00:00.123Z","session":{}}\n\n'
    )
    snapshot = b'id: 6\nevent: snapshot\ndata: {"sequence":6,"sessions":[]}\n\n'
    stamps, rest = sse_event_times(b"retry: 2000\n\n" + snapshot + event + event[:30])
    assert stamps == [b"2026-01-01T00:00:00.123Z"]
    assert rest == b'data: {"'  # the line cut at the end of the chunk waits for the next
    stamps, rest = sse_event_times(rest + event[30:])
    assert stamps == [b"2026-01-01T00:00:00.123Z"]
    assert rest == b""


def test_summary_table_lists_every_metric_with_its_status() -> None:
    from tools.bench import summary_table
    from tools.bench_common import CaseReport

    report = CaseReport("cost", "Cost")
    report.add("ratio", "1.5x", "<= 1.10x", False)
    report.add("info", "42")
    failed = CaseReport("gateway", "Gateway", error="TimeoutError: no")
    rows = [
        [cell.strip() for cell in line.split("|")[1:-1]]
        for line in summary_table([report, failed]).splitlines()
    ]
    assert rows[0] == ["case", "measure", "result", "target", ""]
    assert rows[2] == ["cost", "ratio", "1.5x", "<= 1.10x", "MISSED"]
    assert rows[3] == ["cost", "info", "42", "", ""]
    assert rows[4][:3] == ["gateway", "(the case failed)", "TimeoutError: no"]


def test_write_doc_keeps_the_hand_written_part(tmp_path: Path) -> None:
    from tools.bench import KEEP_MARKER, write_doc
    from tools.bench_common import CaseReport

    doc = tmp_path / "PERFORMANCE.md"
    doc.write_text(f"# old\n\nold numbers\n\n{KEEP_MARKER}\n\n## Analysis\n\nkept text\n")
    report = CaseReport("latency", "Start latency", notes=["a note"])
    info = {"CPU": "test"}
    write_doc(
        doc,
        [report],
        "| table |\n",
        info,
        "python -m tools.bench",
        datetime(2026, 1, 1, tzinfo=UTC),
        60.0,
        ((0.1, 0.2, 0.3), (0.4, 0.5, 0.6)),
        "intro",
    )
    text = doc.read_text()
    assert "old numbers" not in text and "| table |" in text and "- a note" in text
    assert text.count(KEEP_MARKER) == 1
    assert text.rstrip().endswith("## Analysis\n\nkept text")


def test_a_partial_rerun_replaces_only_its_cases_in_the_document(tmp_path: Path) -> None:
    from tools.bench import KEEP_MARKER, merge_doc, write_doc
    from tools.bench_common import CaseReport

    def report(key: str, value: str, detail: str) -> CaseReport:
        r = CaseReport(key, f"The {key} case")
        r.add(f"{key} measure", value, "< 1", True)
        r.details.append(detail)
        r.notes.append(f"{key} note {value}")
        return r

    doc = tmp_path / "PERF.md"
    began = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    full = [report("cost", "1", "cost table v1"), report("ceiling", "32", "ceiling table v1")]
    from tools.bench import summary_table

    load = ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0))
    write_doc(doc, full, summary_table(full), {"cores": "2"}, "bench", began, 60, load, "intro")
    doc.write_text(doc.read_text() + "hand-written analysis\n")
    merge_doc(doc, [report("ceiling", "128", "ceiling table v2")], "bench --only ceiling", began)
    text = doc.read_text()
    assert "ceiling table v2" in text and "ceiling table v1" not in text
    assert "cost table v1" in text and "cost note 1" in text
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()]
    assert ["ceiling", "ceiling measure", "128", "< 1", "met"] in rows
    assert not [r for r in rows if r[:1] == ["ceiling"] and "32" in r]
    assert sum(1 for line in text.splitlines() if line.startswith("|-")) == 1
    assert text.index("cost measure") < text.index("ceiling measure")  # case order kept
    assert "rerun 2026-11-21 10:00 UTC: `bench --only ceiling`" in text
    assert text.split(KEEP_MARKER)[1].strip() == "hand-written analysis"
