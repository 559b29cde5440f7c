"""Cases 3 to 6 of ``tools.bench``: start latency, event fan-out, watch-list scale and the
gateway's overhead."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from grpc import aio

from simlab.fakes.chaturbate_site import FakeChaturbate
from simlab.harness import ROOT, Stack
from streamrec.v1 import channel_service_pb2, channel_service_pb2_grpc, resolver_service_pb2
from tools import bench_measure as m
from tools.bench_common import (
    BASE_ENV,
    FAST_START_ENV,
    PROGRESS_S,
    BenchStack,
    CaseReport,
    Context,
    WindowResult,
    measure_window,
    running_stack,
)

log = logging.getLogger("bench")


# -- client processes --------------------------------------------------------------------------


@dataclass
class ClientResult:
    samples_ms: list[float] = field(default_factory=list)
    received: int = 0
    connected: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    window_s: float = 0.0

    def pct(self, p: float) -> float:
        return m.percentile(self.samples_ms, p)

    @property
    def rate(self) -> float:
        return len(self.samples_ms) / self.window_s if self.window_s else 0.0


def start_clients(
    kind: str, target: str, n: int, procs: int, start_at: float, duration: float
) -> list[subprocess.Popen[str]]:
    """``procs`` processes of ``tools.bench_clients`` sharing ``n`` clients."""
    out = []
    for i in range(procs):
        share = n // procs + (1 if i < n % procs else 0)
        out.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tools.bench_clients",
                    kind,
                    "--target",
                    target,
                    "--n",
                    str(share),
                    "--start-at",
                    f"{start_at:.3f}",
                    "--duration",
                    str(duration),
                ],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    return out


def collect(procs: list[subprocess.Popen[str]], timeout: float) -> ClientResult:
    """Wait for the client processes (killed by PID past ``timeout``) and merge their results."""
    merged = ClientResult()
    for proc in procs:
        try:
            stdout, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, _ = proc.communicate(timeout=10)
        if not stdout.strip():
            merged.errors["client process failed"] = merged.errors.get("client process failed", 0)
            merged.errors["client process failed"] += 1
            continue
        data = json.loads(stdout.strip().splitlines()[-1])
        merged.samples_ms += data["samples_ms"]
        merged.received += data["received"]
        merged.connected += data["connected"]
        merged.window_s = data["window_s"]
        for key, count in data["errors"].items():
            merged.errors[key] = merged.errors.get(key, 0) + count
    return merged


def _sessions(st: BenchStack, ctx: Context, n: int, prefix: str, spread_s: float = 0.0) -> None:
    persons = [f"{prefix}{i:03d}" for i in range(n)]
    sessions = st.start_sessions(ctx.origin.master(), persons, spread_s=spread_s)
    st.wait_all_recording([s.session_id for s in sessions], timeout=60 + n)


# -- case 3 ------------------------------------------------------------------------------------


def latency_case(ctx: Context) -> CaseReport:
    report = CaseReport("latency", "Start latency: POST /api/start to the first byte on disk")
    running, starts, spacing = (2, 3, 1.0) if ctx.quick else (8, 20, 2.0)
    workdir = ctx.workdir("latency")
    totals: list[float] = []
    answers: list[float] = []
    with running_stack(workdir, BASE_ENV) as st:
        _sessions(st, ctx, running, "busy")
        time.sleep(1.0 if ctx.quick else 3.0)
        output = st.stack.output_dir
        with httpx.Client(base_url=st.stack.base_url, timeout=60) as client:
            for i in range(starts):
                began = time.monotonic()
                response = client.post(
                    "/api/start", json={"target": ctx.origin.master(), "person": f"lat{i:02d}"}
                )
                answered = time.monotonic()
                if response.status_code != 201:
                    raise RuntimeError(f"start {i}: {response.status_code} {response.text}")
                path = output / response.json()["record_path"]
                while not (path.exists() and path.stat().st_size > 0):
                    if time.monotonic() - began > 30:
                        raise TimeoutError(f"start {i}: no byte in {path} after 30 s")
                    time.sleep(0.002)
                totals.append(time.monotonic() - began)
                answers.append(answered - began)
                time.sleep(max(0.0, spacing - (time.monotonic() - began)))
        first_bytes = [
            r["event.duration"] / 1e9
            for r in st.stack.services["recorder_service"].log_records()
            if r.get("event.action") == "session.recording"
            and str(r.get("channel", "")).startswith("lat")
        ]
    p50, p95 = m.percentile(totals, 50), m.percentile(totals, 95)
    report.add("POST /api/start -> first byte on disk, p50", f"{p50 * 1000:.0f} ms")
    report.add(
        "POST /api/start -> first byte on disk, p95",
        f"{p95 * 1000:.0f} ms",
        "< 1 s",
        p95 < 1.0,
    )
    report.details.append(
        m.render_table(
            ["part", "p50", "p95", "max"],
            [
                [
                    "POST /api/start answered (resolve + spawn)",
                    *(f"{m.percentile(answers, p) * 1000:.0f} ms" for p in (50, 95, 100)),
                ],
                [
                    "spawn -> first bytes seen by the recorder (its log, 50 ms polls)",
                    *(f"{m.percentile(first_bytes, p) * 1000:.0f} ms" for p in (50, 95, 100)),
                ],
                [
                    "POST -> first byte on disk (bench polls every 2 ms)",
                    *(f"{m.percentile(totals, p) * 1000:.0f} ms" for p in (50, 95, 100)),
                ],
            ],
        )
    )
    report.notes.append(
        f"{starts} starts one after another, {spacing:.0f} s apart, each of a master playlist "
        f"URL, with {running} sessions recording; default request budget (SITE_RATE 2/s, "
        "SITE_BURST 4, SITE_JITTER up to 0.2 s per request: a start makes two requests, the "
        "master and the chosen media playlist)."
    )
    return report


# -- case 4 ------------------------------------------------------------------------------------


@dataclass
class FanoutRun:
    watch: ClientResult
    sse: ClientResult
    window: WindowResult
    idle: WindowResult


def _fanout(
    ctx: Context,
    sessions: int,
    n_watch: int,
    n_sse: int,
    duration: float,
    spread_s: float,
    watch_kind: str = "watch",
) -> FanoutRun:
    workdir = ctx.workdir("fanout")
    with running_stack(workdir, FAST_START_ENV) as st:
        _sessions(st, ctx, sessions, "fan", spread_s)
        rec, gw = st.recorder_pid, st.pid("gateway")
        idle = measure_window(
            {"recorder": lambda: [rec], "gateway": lambda: [gw]}, 1.0 if ctx.quick else 5.0
        )
        start_at = time.time() + (1.5 if ctx.quick else 15.0)
        watch = start_clients(watch_kind, st.recorder_addr, n_watch, 2, start_at, duration)
        sse = start_clients("sse", f"{st.stack.base_url}/api/events", n_sse, 2, start_at, duration)
        clients = [p.pid for p in watch + sse]
        time.sleep(max(0.0, start_at - time.time()))
        window = measure_window(
            {
                "recorder": lambda: [rec],
                "gateway": lambda: [gw],
                "clients": lambda: clients,
                "tree": st.recorder_tree,
            },
            duration,
        )
        return FanoutRun(collect(watch, duration + 60), collect(sse, duration + 60), window, idle)


def fanout_case(ctx: Context) -> CaseReport:
    report = CaseReport("fanout", "Event fan-out: WatchSessions subscribers and SSE clients")
    sessions, n_watch, n_sse = (4, 20, 5) if ctx.quick else (32, 500, 100)
    duration = 3.0 if ctx.quick else 30.0
    spread = 0.5 if ctx.quick else PROGRESS_S  # one progress interval
    run = _fanout(ctx, sessions, n_watch, n_sse, duration, spread)
    rows = []
    for label, got, n in (("WatchSessions (gRPC)", run.watch, n_watch), ("SSE", run.sse, n_sse)):
        rows.append(_fanout_row(label, "paced", got, n))
        p99 = got.pct(99)
        report.add(
            f"{label}: p99 delivery latency ({n} clients, {sessions} sessions)",
            f"{p99:.0f} ms",
            "< 200 ms",
            p99 < 200 and got.connected == n,
        )
    rec_pct = run.window.cores("recorder") * 100
    report.add(
        "recorder CPU while fanning out",
        f"{rec_pct:.0f} % of a core (no subscriber: {run.idle.cores('recorder') * 100:.1f} %)",
    )
    w = run.window
    notes = [
        f"{sessions} sessions recording, started evenly over {spread:.0f} s (one progress "
        f"interval) as sessions started at different times would be: one PROGRESS event per "
        f"session every {PROGRESS_S:g} s, about {sessions / PROGRESS_S:.0f} events/s, each to "
        f"every client. Clients "
        f"in 4 processes of `tools/bench_clients.py`; latency = receive time - the event's "
        f"`event_time` (SSE: to the millisecond), over {duration:.0f} s after every client "
        f"connected. CPU over that window: recorder {rec_pct:.0f} %, gateway "
        f"{w.cores('gateway') * 100:.0f} %, the client processes "
        f"{w.cores('clients') * 100:.0f} % of a core, machine {w.system.busy * 100:.0f} % busy."
    ]
    if not ctx.quick:
        burst = _fanout(ctx, sessions, n_watch, n_sse, 20.0, 0.0)
        for label, got, n in (
            ("WatchSessions (gRPC)", burst.watch, n_watch),
            ("SSE", burst.sse, n_sse),
        ):
            rows.append(_fanout_row(label, "burst", got, n))
        batched = _fanout(ctx, sessions, n_watch, n_sse, 20.0, 0.0, "watch-batched")
        rows.append(_fanout_row("WatchSessions, allow_batches", "burst", batched.watch, n_watch))
        rows.append(_fanout_row("SSE", "burst", batched.sse, n_sse))
        p99 = batched.watch.pct(99)
        report.add(
            f"burst, subscribers allowing batches: p99 ({n_watch} clients, {sessions} sessions)",
            f"{p99:.0f} ms",
            "< 200 ms",
            p99 < 200 and batched.watch.connected == n_watch,
        )
        notes.append(
            "Burst: the same with all sessions started at once, so that every session "
            "reports within the same second and each event goes out while the previous "
            f"ones are still queued ({sessions} events x {n_watch + n_sse} clients every "
            f"{PROGRESS_S:g} s); "
            f"recorder {burst.window.cores('recorder') * 100:.0f} %, machine "
            f"{burst.window.system.busy * 100:.0f} % busy. Then again with the WatchSessions "
            "subscribers setting `allow_batches` (the gateway always does): the events "
            "waiting for a subscriber go out as one message; recorder "
            f"{batched.window.cores('recorder') * 100:.0f} %, machine "
            f"{batched.window.system.busy * 100:.0f} % busy."
        )
    report.details.append(
        m.render_table(
            [
                "clients",
                "starts",
                "connected",
                "events/s received (all clients)",
                "p50 ms",
                "p99 ms",
                "max ms",
                "errors",
            ],
            rows,
        )
    )
    report.notes += notes
    return report


def _fanout_row(label: str, starts: str, got: ClientResult, n: int) -> list[str]:
    return [
        label,
        starts,
        f"{got.connected} / {n}",
        f"{got.rate:.0f}",
        *(m.fmt(got.pct(p), 1) for p in (50, 99)),
        m.fmt(max(got.samples_ms) if got.samples_ms else None, 1),
        ", ".join(f"{k} {v}" for k, v in got.errors.items()) or "-",
    ]


# -- case 5 ------------------------------------------------------------------------------------


class CycleLog:
    """The ``autorecord.cycle`` records of a recorder's JSON log, read incrementally (the log
    also holds a line per CreateChannel call: re-reading it all would load the machine)."""

    def __init__(self, path: Path, *, from_end: bool = False) -> None:
        self.path = path
        self.offset = path.stat().st_size if from_end and path.exists() else 0
        self.cycles: list[dict[str, Any]] = []

    def read(self) -> list[dict[str, Any]]:
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        complete = data.rfind(b"\n") + 1
        self.offset += complete
        for line in data[:complete].splitlines():
            if b'"autorecord.cycle"' in line:
                record = json.loads(line)
                if record.get("event.action") == "autorecord.cycle":
                    self.cycles.append(record)
        return self.cycles


async def _create_channels(addr: str, names: list[str], parallel: int = 32) -> None:
    async with aio.insecure_channel(addr) as channel:
        stub = channel_service_pb2_grpc.ChannelServiceStub(channel)
        queue = list(reversed(names))

        async def worker() -> None:
            while queue:
                name = queue.pop()
                await stub.CreateChannel(
                    channel_service_pb2.CreateChannelRequest(
                        channel=channel_service_pb2.Channel(
                            username=name,
                            source_type=resolver_service_pb2.SOURCE_TYPE_CHATURBATE,
                            auto_record=True,
                        )
                    ),
                    timeout=60,
                )

        await asyncio.gather(*(worker() for _ in range(parallel)))


def watchlist_case(ctx: Context) -> CaseReport:
    report = CaseReport("watchlist", "Watch-list scale: 10,000 channels, 1 % online")
    n = 300 if ctx.quick else 10_000
    online = max(1, n // 100)
    cycles_wanted = 1 if ctx.quick else 5
    per_channel_s = 2.0 if ctx.quick else 60.0
    workdir = ctx.workdir("watchlist")
    names = [f"room{i:05d}" for i in range(n)]
    with FakeChaturbate(request_log_size=200_000) as site:
        for i, name in enumerate(names):
            if i % (n // online) == 0:
                site.add_room(name, room_status="public", hls_url=ctx.origin.master(), viewers=5)
            else:
                site.add_room(name, room_status="offline")
        site.set_options(affiliate_code="benchwm")
        env = {
            **BASE_ENV,
            "CHATURBATE_BASE_URL": site.base_url,
            "CHATURBATE_THUMBNAIL_BASE_URL": f"{site.base_url}/ri",
            "AUTORECORD_INTERVAL": "2",
            "AUTORECORD_JITTER": "0",
            "STATUS_CACHE_TTL": "0",
            # Starts are refused before anything is resolved (LOW_DISK_SPACE): the case
            # measures the scheduler, not 100 recordings; the disk guard stays out of the way.
            "MIN_FREE_BYTES": str(2**62),
            "DISK_CHECK_INTERVAL": "3600",
        }
        try:
            bulk = _bulk_path(ctx, workdir, env, names, site, cycles_wanted, report)
            _per_channel_path(workdir, env, n, site, per_channel_s, report, bulk)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    report.notes.append(
        f"{n} channels (all auto-record, source chaturbate) at the fake site, {online} of "
        "them public (1 %), the rest offline; AUTORECORD_INTERVAL 2 s, STATUS_CACHE_TTL 0 (every "
        "cycle asks upstream), default request budget (SITE_RATE 2/s, SITE_BURST 4). Starts of "
        "the online channels are refused cheaply (MIN_FREE_BYTES set above the free space), so "
        "they back off (2 s, 4 s, 8 s...) and later cycles check fewer channels."
    )
    return report


def _bulk_path(
    ctx: Context,
    workdir: Path,
    env: dict[str, str],
    names: list[str],
    site: FakeChaturbate,
    cycles_wanted: int,
    report: CaseReport,
) -> float:
    n = len(names)
    with Stack(workdir, env_extra={**env, "CHATURBATE_AFFILIATE_CODE": "benchwm"}) as stack:
        addr = f"127.0.0.1:{stack.recorder_port}"
        began = time.monotonic()
        asyncio.run(_create_channels(addr, names))
        created_s = time.monotonic() - began
        report.add("CreateChannel over gRPC (32 in flight)", f"{n / created_s:.0f} channels/s")
        # Wait for a cycle that saw every channel, then count requests over the next ones.
        log_ = CycleLog(stack.services["recorder_service"].log_path)
        deadline = time.monotonic() + 120
        while not any(c.get("autorecord.channels") == n for c in log_.read()):
            if time.monotonic() > deadline:
                raise TimeoutError("no auto-record cycle over the whole watch list")
            time.sleep(0.25)
        seen = len(log_.read())
        site.reset_log()
        rec, res = (
            stack.services["recorder_service"].proc.pid,
            stack.services["resolver_service"].proc.pid,
        )
        before = m.cpu_times([rec, res])
        t0 = time.monotonic()
        while len(log_.read()) < seen + cycles_wanted:
            if time.monotonic() - t0 > 300:
                raise TimeoutError("auto-record cycles stopped coming")
            time.sleep(0.25)
        elapsed = time.monotonic() - t0
        after = m.cpu_times([rec, res])
        cycles = log_.read()[seen : seen + cycles_wanted]
        kinds = {k: site.request_count(k) for k in ("bulk", "api", "ajax", "page")}
    rec_pct = m.cpu_delta_seconds({0: before[rec]}, {0: after[rec]}) / elapsed * 100
    res_pct = m.cpu_delta_seconds({0: before[res]}, {0: after[res]}) / elapsed * 100
    durations = [c["event.duration"] / 1e9 for c in cycles]
    requests = sum(kinds.values()) / len(cycles)
    cycle = m.percentile(durations, 50)
    report.add(
        "bulk path (affiliate code): cycle time, median / max",
        f"{cycle * 1000:.0f} / {max(durations) * 1000:.0f} ms",
    )
    report.add("bulk path: upstream requests per cycle", f"{requests:.1f}")
    checked = ", ".join(str(c.get("autorecord.checked")) for c in cycles)
    report.notes.append(
        f"Bulk path: {len(cycles)} cycles after the watch list was complete; channels checked "
        f"per cycle {checked}; upstream requests {kinds}; CPU over those {elapsed:.0f} s: "
        f"recorder {rec_pct:.1f} %, resolver {res_pct:.1f} % of a core. Creating "
        f"the {n} channels took {created_s:.1f} s."
    )
    return cycle


def _per_channel_path(
    workdir: Path,
    env: dict[str, str],
    n: int,
    site: FakeChaturbate,
    seconds: float,
    report: CaseReport,
    bulk_cycle_s: float,
) -> None:
    site.set_options(affiliate_code=None)
    site.reset_log()
    # The same database: the watch list is complete before the first cycle starts.
    log_path = workdir / "recorder_service.log"  # the bulk stack's, appended to
    cycle_log = CycleLog(log_path, from_end=True)
    with Stack(workdir, env_extra=env):
        t0 = time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - t0
        kinds = {k: site.request_count(k) for k in ("bulk", "api", "ajax", "page")}
        completed = cycle_log.read()
        window = site.max_requests_in_window(10.0)
        times = sorted(r.monotonic for r in site.requests())
    total = sum(kinds.values())
    # The steady rate: past the first SITE_BURST requests, which the bucket lets out at once.
    burst = 4
    steady = times[burst:]
    rate = (len(steady) - 1) / (steady[-1] - steady[0]) if len(steady) > 2 else 0.0
    cycle_s = n / rate if rate else float("inf")
    report.add(
        "per-channel path (no affiliate code): requests/s under the budget",
        f"{rate:.2f} ({total} in {elapsed:.0f} s, at most {window} in any 10 s)",
    )
    report.add(
        "per-channel path: one cycle of all channels (extrapolated)",
        f"{cycle_s / 60:.0f} min ({n} requests at {rate:.2f}/s)",
    )
    report.notes.append(
        f"Per-channel path: measured for {elapsed:.0f} s ({len(completed)} cycle(s) completed), "
        f"upstream requests {kinds}; one request per channel (the `api` lookup), so a cycle "
        f"takes n / SITE_RATE: {cycle_s / 60:.0f} min for {n} channels, "
        f"{cycle_s / max(bulk_cycle_s, 1e-3):.0f} times the bulk path's cycle. The recorder's "
        "BatchGetChannelStatus deadline is 600 s, so at this size the per-channel batch can "
        "never finish: the scheduler would report every cycle as a status error after 10 min "
        "(ARCHITECTURE.md's known limit); up to about 600 x SITE_RATE = 1,200 channels a "
        "per-channel cycle completes."
    )


# -- case 6 ------------------------------------------------------------------------------------


def _load(
    st: BenchStack, kind: str, target: str, n: int, duration: float, lead: float
) -> tuple[ClientResult, WindowResult]:
    start_at = time.time() + lead
    procs = start_clients(kind, target, n, 2, start_at, duration)
    clients = [p.pid for p in procs]
    time.sleep(max(0.0, start_at - time.time()))
    window = measure_window(
        {
            "recorder": lambda: [st.recorder_pid],
            "gateway": lambda: [st.pid("gateway")],
            "clients": lambda: clients,
        },
        duration,
    )
    return collect(procs, duration + 60), window


def gateway_case(ctx: Context) -> CaseReport:
    report = CaseReport("gateway", "Gateway: GET /api/status against ListSessions over gRPC")
    sessions, clients = (4, 10) if ctx.quick else (32, 50)
    duration = 1.5 if ctx.quick else 20.0
    workdir = ctx.workdir("gateway")
    with running_stack(workdir, FAST_START_ENV) as st:
        _sessions(st, ctx, sessions, "gw")
        time.sleep(0.5 if ctx.quick else 2.0)
        lead = 1.5 if ctx.quick else 3.0
        url = f"{st.stack.base_url}/api/status"
        http, http_w = _load(st, "http", url, clients, duration, lead)
        grpc_r, grpc_w = _load(st, "grpc-list", st.recorder_addr, clients, duration, lead)
    rows = []
    for label, got, w in (
        ("GET /api/status (gateway)", http, http_w),
        ("ListSessions (gRPC, direct)", grpc_r, grpc_w),
    ):
        rows.append(
            [
                label,
                f"{got.rate:.0f}",
                *(m.fmt(got.pct(p), 1) for p in (50, 99)),
                f"{w.cores('gateway') * 100:.0f} %",
                f"{w.cores('recorder') * 100:.0f} %",
                f"{w.cores('clients') * 100:.0f} %",
                f"{w.system.busy * 100:.0f} %",
                ", ".join(f"{k} {v}" for k, v in got.errors.items()) or "-",
            ]
        )
    report.add(
        f"GET /api/status at {clients} clients ({sessions} sessions): req/s, p99",
        f"{http.rate:.0f} req/s, p99 {http.pct(99):.0f} ms",
    )
    report.add(
        f"ListSessions over gRPC at {clients} clients: req/s, p99",
        f"{grpc_r.rate:.0f} req/s, p99 {grpc_r.pct(99):.0f} ms",
    )
    overhead = http.pct(50) - grpc_r.pct(50)
    report.add(
        "gateway overhead (p50 latency added; throughput)",
        f"+{overhead:.1f} ms; {http.rate / grpc_r.rate * 100:.0f} % of gRPC's req/s"
        if grpc_r.rate
        else "n/a",
    )
    report.details.append(
        m.render_table(
            [
                "calls",
                "req/s",
                "p50 ms",
                "p99 ms",
                "gateway CPU",
                "recorder CPU",
                "clients CPU",
                "machine busy",
                "errors",
            ],
            rows,
        )
    )
    report.notes.append(
        f"{clients} concurrent clients in 2 processes of `tools/bench_clients.py` (httpx / "
        f"grpc.aio), each sending its next request as soon as the last is answered, for "
        f"{duration:.0f} s; {sessions} sessions recording, so every answer lists {sessions} "
        "sessions. Clients, gateway and recorder share the 2 cores."
    )
    return report
