"""Cases 1 and 2 of ``tools.bench``: what a recording costs against plain ffmpeg, and how many
recordings one machine holds without losing media."""

from __future__ import annotations

import contextlib
import logging
import shutil
import statistics
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from recorder_service.ffmpeg_cmd import RecordJob, build_command
from simlab.media_check import decode
from streamrec.v1 import (
    recorder_service_pb2,
    recorder_service_pb2_grpc,
    recording_service_pb2,
    session_pb2,
)
from tools import bench_measure as m
from tools.bench_common import (
    FAST_START_ENV,
    PROGRESS_S,
    RECORDING,
    BenchStack,
    CaseReport,
    Context,
    WindowResult,
    file_bytes,
    measure_window,
    running_stack,
    stop_processes,
    wait_files,
)

log = logging.getLogger("bench")

MIB = m.MIB
STREAM_BYTES_PER_S = 2_500_000 / 8  # the nominal video bitrate; audio adds ~64 kbit/s


# -- one measured run --------------------------------------------------------------------------


@dataclass
class Run:
    """One variant at one N over one window."""

    label: str
    n: int
    window: WindowResult
    pss: int
    written: int
    ready_s: float
    recorder_mem0: dict[str, int] = field(default_factory=dict)
    recorder_mem: dict[str, int] = field(default_factory=dict)
    recorder_threads: dict[str, float] = field(default_factory=dict)
    media_s: float | None = None
    ffmpeg_count: int = 0

    @property
    def cpu_s(self) -> float:
        return self.window.cpu["measured"]

    @property
    def cpu_per_min(self) -> float:
        """CPU seconds per recorded minute per session."""
        return self.cpu_s / (self.n * self.window.seconds / 60)

    @property
    def pss_per_session(self) -> float:
        return self.pss / self.n

    @property
    def written_ratio(self) -> float:
        """Bytes written per session over the nominal stream bytes of the window."""
        return self.written / (self.n * self.window.seconds * STREAM_BYTES_PER_S)

    def recorder_growth(self, key: str) -> float | None:
        if key not in self.recorder_mem or key not in self.recorder_mem0:
            return None
        return (self.recorder_mem[key] - self.recorder_mem0[key]) / self.n


LABELS = {
    "plain": "ffmpeg -c copy",
    "argv": "ffmpeg, recorder's argv",
    "always": "ffmpeg, recorder's argv with PREVIEW=always",
    "streamrec": "streamrec (recorder + its ffmpegs)",
}


def _ffmpeg_argv(ctx: Context, kind: str, out: Path) -> list[str]:
    url = ctx.origin.media()
    if kind == "plain":
        return [
            ctx.ffmpeg,
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "error",
            "-i",
            url,
            "-c",
            "copy",
            "-f",
            "mpegts",
            str(out),
        ]
    # The recorder's own command line (the file, progress, info logging), unsupervised; with
    # PREVIEW=always it also writes the rolling preview as a second output.
    preview = out.with_suffix("")
    preview.mkdir(parents=True, exist_ok=True)
    job = RecordJob(media_url=url, record_path=out, preview_dir=preview, preview=kind == "always")
    argv = build_command(ctx.ffmpeg, job)
    return [argv[0], "-nostdin", *argv[1:]]


def run_ffmpegs(ctx: Context, n: int, kind: str, window_s: float, warmup_s: float) -> Run:
    """N ffmpegs started by the bench itself, measured over the window: ``plain`` (``-c copy``
    to MPEG-TS), ``argv`` (the recorder's command line: the file, progress and info logging,
    with stdout and stderr to /dev/null instead of the recorder's pipes) or ``always`` (that
    command with the second, preview output PREVIEW=always adds)."""
    workdir = ctx.workdir(f"{kind}-{n}")
    paths = [workdir / f"rec_{i:03d}.ts" for i in range(n)]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        began = time.monotonic()
        for path in paths:
            procs.append(
                subprocess.Popen(
                    _ffmpeg_argv(ctx, kind, path),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        wait_files(paths, timeout=60 + n)
        ready = time.monotonic() - began
        time.sleep(warmup_s)
        pids = [p.pid for p in procs]
        size0 = file_bytes(paths)
        mem: dict[str, int] = {}

        def during() -> None:
            mem["pss"] = m.pss_sum(pids)

        window = measure_window(
            {"measured": lambda: pids, "origin": lambda: [ctx.origin.pid]}, window_s, during
        )
        written = file_bytes(paths) - size0
        dead = [p.pid for p in procs if p.poll() is not None]
        if dead:
            raise RuntimeError(f"{len(dead)} ffmpeg(s) exited during the window")
        return Run(LABELS[kind], n, window, mem["pss"], written, ready, ffmpeg_count=n)
    finally:
        stop_processes(procs)
        shutil.rmtree(workdir, ignore_errors=True)


def _media_seconds(st: BenchStack) -> dict[str, float]:
    return {s.session_id: s.media_duration.ToNanoseconds() / 1e9 for s in st.sessions()}


def run_streamrec(ctx: Context, n: int, window_s: float, warmup_s: float) -> Run:
    """N sessions of a real stack started over gRPC, measured over the window: the recorder
    and every process below it (setsid/setpriv wrappers, ffmpegs)."""
    workdir = ctx.workdir(f"streamrec-{n}")
    with running_stack(workdir, FAST_START_ENV) as st:
        rec = st.recorder_pid
        time.sleep(0.5 if ctx.quick else 2.0)
        mem0 = m.memory(rec)
        began = time.monotonic()
        persons = [f"cost{n}_{i:03d}" for i in range(n)]
        sessions = st.start_sessions(ctx.origin.master(), persons, spread_s=2.0)
        st.wait_all_recording([s.session_id for s in sessions], timeout=60 + n)
        ready = time.monotonic() - began
        time.sleep(warmup_s)
        paths = [st.stack.output_dir / rel for s in sessions for rel in s.record_paths]
        media0, size0, threads0 = _media_seconds(st), file_bytes(paths), m.thread_cpu(rec)
        mem: dict[str, int] = {}
        mem_rec: dict[str, int] = {}
        ffmpegs: list[int] = []

        def during() -> None:
            mem["pss"] = m.pss_sum(st.recorder_tree())
            mem_rec.update(m.memory(rec))
            ffmpegs.extend(st.ffmpeg_pids())

        window = measure_window(
            {
                "measured": st.recorder_tree,
                "recorder": lambda: [rec],
                "gateway": lambda: [st.pid("gateway")],
                "resolver": lambda: [st.pid("resolver_service")],
                "origin": lambda: [ctx.origin.pid],
            },
            window_s,
            during,
        )
        threads1 = m.thread_cpu(rec)
        media1, written = _media_seconds(st), file_bytes(paths) - size0
        advanced = [media1[i] - media0[i] for i in media0 if i in media1]
        return Run(
            LABELS["streamrec"],
            n,
            window,
            mem["pss"],
            written,
            ready,
            recorder_mem0=mem0,
            recorder_mem=mem_rec,
            recorder_threads={
                name: secs - threads0.get(name, 0.0) for name, secs in threads1.items()
            },
            media_s=statistics.mean(advanced) if advanced else None,
            ffmpeg_count=len(ffmpegs),
        )


# -- case 1 ------------------------------------------------------------------------------------


def cost_case(ctx: Context) -> CaseReport:
    report = CaseReport("cost", "Cost per session against plain ffmpeg")
    ns: tuple[int, ...] = (2,) if ctx.quick else (1, 32, 128)
    window_s = 2.0 if ctx.quick else 60.0
    warmup_s = 1.0 if ctx.quick else 6.0
    need = max(ns) * STREAM_BYTES_PER_S * (window_s + warmup_s + 30) * 2.2
    free = shutil.disk_usage(ctx.tmp).free
    if need > free * 0.8:
        scale = free * 0.8 / need
        ns = tuple(max(1, int(n * scale)) for n in ns)
        report.notes.append(f"N scaled down to {ns}: {free / 2**30:.1f} GiB free in {ctx.tmp}")
    rows = []
    for n in ns:
        runs: dict[str, Run] = {}
        for kind in LABELS:
            if ctx.quick and kind in ("argv", "always"):
                continue  # the smoke run checks the machinery, not the split
            log.info("cost: %s at N=%d for %.0fs", kind, n, window_s)
            if kind == "streamrec":
                runs[kind] = run_streamrec(ctx, n, window_s, warmup_s)
            else:
                runs[kind] = run_ffmpegs(ctx, n, kind, window_s, warmup_s)
        plain, sr = runs["plain"], runs["streamrec"]
        ratio = sr.cpu_per_min / plain.cpu_per_min if plain.cpu_per_min else float("nan")
        rec_core = sr.window.cores("recorder") * 100
        growth_pss = sr.recorder_growth("Pss")
        growth_rss = sr.recorder_growth("Rss")
        for run in runs.values():
            rows.append(
                [
                    str(n),
                    run.label,
                    m.fmt(run.cpu_per_min, 3),
                    m.fmt(run.cpu_per_min / plain.cpu_per_min, 2, "x"),
                    m.fmt(run.pss_per_session / MIB, 1),
                    m.fmt(run.written_ratio * 100, 0, " %"),
                    m.fmt(run.window.cores("origin") * 100, 1, " %"),
                    m.fmt(run.window.system.busy * 100, 0, " %"),
                    m.fmt(run.ready_s, 1, " s"),
                ]
            )
        target = n >= 32
        report.add(
            f"N={n}: CPU s per recorded min per session, plain / streamrec",
            f"{plain.cpu_per_min:.3f} / {sr.cpu_per_min:.3f} (x{ratio:.2f})",
            "<= 1.10x" if target else "",
            ratio <= 1.10 if target else None,
        )
        if "argv" in runs and "always" in runs:
            supervision = sr.cpu_per_min - runs["argv"].cpu_per_min
            report.add(
                f"N={n}: streamrec over the bare recorder argv (supervision); "
                "PREVIEW=always would add",
                f"+{supervision:.3f}; +{runs['always'].cpu_per_min - runs['argv'].cpu_per_min:.3f}"
                " CPU s per min",
            )
        report.add(
            f"N={n}: PSS per session, plain / streamrec",
            f"{plain.pss_per_session / MIB:.1f} / {sr.pss_per_session / MIB:.1f} MiB",
        )
        report.add(
            f"N={n}: recorder's own CPU",
            f"{rec_core:.2f} % of a core",
            "< 2 %" if n == 32 else "",
            rec_core < 2.0 if n == 32 else None,
        )
        report.add(
            f"N={n}: recorder memory growth per session (PSS / RSS)",
            f"{m.fmt((growth_pss or 0) / MIB, 2)} / {m.fmt((growth_rss or 0) / MIB, 2)} MiB",
            "< 1 MiB" if target else "",
            (growth_pss is not None and growth_pss < MIB) if target else None,
        )
        threads = ", ".join(
            f"{name} {secs / sr.window.seconds * 100:.2f} %"
            for name, secs in sorted(sr.recorder_threads.items(), key=lambda kv: -kv[1])
            if secs >= 0.005
        )
        report.notes.append(
            f"N={n}: recorder {rec_core:.2f} % of a core (by thread: {threads or 'none'}); "
            f"gateway {sr.window.cores('gateway') * 100:.2f} %, resolver "
            f"{sr.window.cores('resolver') * 100:.2f} %; recorder PSS "
            f"{sr.recorder_mem0.get('Pss', 0) / MIB:.1f} MiB idle -> "
            f"{sr.recorder_mem.get('Pss', 0) / MIB:.1f} MiB, RSS "
            f"{sr.recorder_mem0.get('Rss', 0) / MIB:.1f} -> "
            f"{sr.recorder_mem.get('Rss', 0) / MIB:.1f} MiB; {sr.ffmpeg_count} ffmpegs; "
            f"media advanced {m.fmt(sr.media_s, 1)} s per session in "
            f"{sr.window.seconds:.1f} s."
        )
    report.details.append(
        m.render_table(
            [
                "N",
                "what",
                "CPU s / rec. min / session",
                "vs plain",
                "PSS MiB / session",
                "bytes written / nominal",
                "origin CPU",
                "machine busy",
                "all recording after",
            ],
            rows,
        )
    )
    report.notes.append(
        f"Window {window_s:.0f} s after all sessions reached RECORDING (+{warmup_s:.0f} s "
        "settling), the variants one after another on the same origin stream. CPU is "
        "utime+stime of the processes over the window from /proc (each thread's schedstat, "
        "in ns); PSS from smaps_rollup at the middle of the window. streamrec runs with its "
        "defaults, so live previews are on demand (PREVIEW=on_demand) and nobody watches one "
        "here; the recorder's own ffmpeg command line is also run bare (no supervising "
        "recorder) and with the second output PREVIEW=always adds, to split the cost."
    )
    return report


# -- case 2 ------------------------------------------------------------------------------------


class EventWatcher:
    """Follows WatchSessions in a thread: counts events by type and session."""

    def __init__(self, addr: str) -> None:
        self._channel = grpc.insecure_channel(addr)
        stub = recorder_service_pb2_grpc.RecorderServiceStub(self._channel)
        self._call = stub.WatchSessions(recorder_service_pb2.WatchSessionsRequest())
        self.counts: Counter[str] = Counter()
        self.finalized: set[str] = set()
        self.bad: list[str] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="bench-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with contextlib.suppress(grpc.RpcError):
            for message in self._call:
                if message.WhichOneof("payload") != "event":
                    continue
                event = message.event
                kind = session_pb2.SessionEventType.Name(event.type).removeprefix(
                    "SESSION_EVENT_TYPE_"
                )
                with self._lock:
                    self.counts[kind] += 1
                    if kind == "FINALIZED":
                        self.finalized.add(event.session.session_id)
                    if kind in ("GAP", "STALLED", "RECONNECTING", "FAILED"):
                        self.bad.append(f"{kind} {event.session.person}: {event.message}")

    def wait_finalized(self, ids: set[str], timeout: float) -> set[str]:
        """The ids not FINALIZED within ``timeout``."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                missing = ids - self.finalized
            if not missing:
                return set()
            time.sleep(0.5)
        with self._lock:
            return ids - self.finalized

    def close(self) -> None:
        self._call.cancel()
        self._thread.join(5)
        self._channel.close()


@dataclass
class Trial:
    n: int
    ok: bool = False
    problems: list[str] = field(default_factory=list)
    window: WindowResult | None = None
    decoded: list[str] = field(default_factory=list)
    media_min: float = 0.0
    media_max: float = 0.0

    def limits(self) -> str:
        w = self.window
        if w is None:
            return ""
        return (
            f"machine {w.system.busy * 100:.0f} % busy (iowait {w.system.iowait * 100:.1f} %), "
            f"ffmpegs {w.cores('ffmpeg') * 100:.0f} %, recorder {w.cores('recorder') * 100:.1f} %,"
            f" origin {w.cores('origin') * 100:.0f} % of a core; disk "
            f"{w.disk_bytes / w.seconds / 1e6:.1f} MB/s written"
        )


def _check_recordings(st: BenchStack, sessions: list[session_pb2.Session], trial: Trial) -> None:
    bad = 0
    for s in sessions:
        rows = st.recordings.ListRecordings(
            recording_service_pb2.ListRecordingsRequest(person=s.person, page_size=100),
            timeout=30,
        ).recordings
        states = [recording_service_pb2.RecordingState.Name(r.state) for r in rows]
        gaps = sum(len(r.gaps) for r in rows)
        if states != ["RECORDING_STATE_COMPLETE"] or gaps:
            bad += 1
            if bad <= 3:
                trial.problems.append(f"{s.person}: recordings {states}, gaps {gaps}")
    if bad:
        trial.problems.append(f"{bad} session(s) without exactly one COMPLETE, gap-free file")


def ceiling_trial(ctx: Context, n: int, record_s: float, samples: int) -> Trial:
    trial = Trial(n)
    workdir = ctx.workdir(f"ceiling-{n}")
    with running_stack(workdir, FAST_START_ENV) as st:
        watcher = EventWatcher(st.recorder_addr)
        try:
            sessions = st.start_sessions(
                ctx.origin.master(), [f"ceil{n}_{i:03d}" for i in range(n)]
            )
            ids = [s.session_id for s in sessions]
            st.wait_all_recording(ids, timeout=60 + n)
            # Every session has reported its media time at least once since it caught up
            # with the live window (the first segments come in a burst).
            time.sleep(2 * PROGRESS_S + 1.0)
            media0 = _media_seconds(st)
            rec = st.recorder_pid

            trial.window = measure_window(
                {
                    "recorder": lambda: [rec],
                    "ffmpeg": lambda: m.descendants(rec),
                    "origin": lambda: [ctx.origin.pid],
                },
                record_s,
            )
            live = {s.session_id: s for s in st.sessions()}
            media1 = {i: s.media_duration.ToNanoseconds() / 1e9 for i, s in live.items()}
            advanced = [media1.get(i, 0.0) - media0.get(i, 0.0) for i in ids]
            trial.media_min, trial.media_max = min(advanced), max(advanced)
            window = trial.window.seconds
            # Media time is reported every progress interval: each reading lags by up to one.
            slack = PROGRESS_S + 2.0
            # Less media than wall time is a loss. More is not: a session whose first reading
            # predates its catch-up with the live window (a burst of segments) shows it.
            short = [a for a in advanced if a < window - slack]
            if short:
                trial.problems.append(
                    f"{len(short)} session(s) recorded over {slack:g} s less media than the "
                    f"{window:.0f} s window ({min(advanced):.1f} to {max(advanced):.1f} s)"
                )
            restarted = [s.person for s in live.values() if s.restarts or s.completeness < 1]
            if restarted:
                trial.problems.append(f"{len(restarted)} session(s) restarted or with gaps")
            not_recording = [i for i in ids if i not in live or live[i].state != RECORDING]
            if not_recording:
                trial.problems.append(f"{len(not_recording)} session(s) no longer RECORDING")
            with ThreadPoolExecutor(16) as pool:
                list(
                    pool.map(
                        lambda i: st.recorder.StopRecording(
                            recorder_service_pb2.StopRecordingRequest(session_id=i), timeout=120
                        ),
                        ids,
                    )
                )
            missing = watcher.wait_finalized(set(ids), timeout=60 + n)
            if missing:
                trial.problems.append(f"{len(missing)} session(s) not FINALIZED within the wait")
            if watcher.bad:
                trial.problems.append(
                    f"{len(watcher.bad)} GAP/STALLED/RECONNECTING/FAILED event(s), first: "
                    + watcher.bad[0]
                )
            _check_recordings(st, sessions, trial)
            picks = sorted({0, n // 2, n - 1})[:samples]
            for index in picks:
                s = sessions[index]
                rows = st.recordings.ListRecordings(
                    recording_service_pb2.ListRecordingsRequest(person=s.person), timeout=30
                ).recordings
                if not rows:
                    continue
                path = st.stack.output_dir / rows[0].path
                duration = rows[0].media_duration.ToNanoseconds() / 1e9
                result = decode(path)
                trial.decoded.append(
                    f"{path.name}: {'ok' if result.ok else 'ERRORS'}, decoded "
                    f"{result.seconds:.1f} s of {duration:.1f} s"
                )
                if not result.ok or result.seconds < duration - 1.0:
                    trial.problems.append(f"{path.name} does not decode to its end")
        finally:
            watcher.close()
    trial.ok = not trial.problems
    return trial


def ceiling_case(ctx: Context) -> CaseReport:
    report = CaseReport("ceiling", "Ceiling: sessions recording for 2 minutes without a gap")
    if ctx.quick:
        report.notes.append("Skipped in --quick (each trial records for 2 minutes).")
        return report
    record_s = 120.0
    free = shutil.disk_usage(ctx.tmp).free
    per_session = STREAM_BYTES_PER_S * (record_s + 60) * 1.2
    limit = int(free * 0.8 / per_session)
    order = [128, 192, 256]
    trials: list[Trial] = []
    tried: set[int] = set()

    def attempt(n: int) -> Trial:
        log.info("ceiling: N=%d for %.0fs", n, record_s)
        t = ceiling_trial(ctx, n, record_s, samples=3)
        trials.append(t)
        tried.add(n)
        log.info("ceiling: N=%d %s %s", n, "ok" if t.ok else "FAILED", "; ".join(t.problems))
        return t

    for n in order:
        if n > limit:
            report.notes.append(f"N={n} not tried: {free / 2**30:.0f} GiB free")
            break
        if not attempt(n).ok:
            break
    if trials and not trials[0].ok:
        for n in (64, 32):
            if attempt(n).ok:
                break
    passed = [t.n for t in trials if t.ok]
    best = max(passed) if passed else 0
    failed_above = sorted(t.n for t in trials if not t.ok and t.n > best)
    value = f"{best}" + (f" (fails at {failed_above[0]})" if failed_above else " (largest tried)")
    report.add("largest N recording 2 min with no gap, every file complete", value)
    rows = []
    for t in sorted(trials, key=lambda t: t.n):
        w = t.window
        rows.append(
            [
                str(t.n),
                "pass" if t.ok else "FAIL",
                m.fmt(w.system.busy * 100 if w else None, 0, " %"),
                m.fmt(w.system.iowait * 100 if w else None, 1, " %"),
                m.fmt(w.cores("ffmpeg") * 100 if w else None, 0, " %"),
                m.fmt(w.cores("recorder") * 100 if w else None, 1, " %"),
                m.fmt(w.cores("origin") * 100 if w else None, 0, " %"),
                m.fmt(w.disk_bytes / w.seconds / 1e6 if w else None, 1),
                f"{t.media_min:.1f} to {t.media_max:.1f} s",
                "; ".join(t.problems) or "-",
            ]
        )
        if t.decoded:
            report.notes.append(f"N={t.n} decode sample: " + "; ".join(t.decoded))
    report.details.append(
        m.render_table(
            [
                "N",
                "result",
                "machine busy",
                "iowait",
                "ffmpegs (% core)",
                "recorder (% core)",
                "origin (% core)",
                "disk MB/s",
                "media per session in window",
                "problems",
            ],
            rows,
        )
    )
    report.notes.append(
        f"Each trial records {record_s:.0f} s after every session reached RECORDING; pass = no "
        "GAP/STALLED/RECONNECTING/FAILED event, no restart, completeness 1, each session's "
        f"media short of the wall-clock window by less than {PROGRESS_S + 2:g} s (media time "
        "is reported every progress interval; more than the window is the catch-up burst of "
        "a session's first segments), every session FINALIZED into one COMPLETE "
        "gap-free file, and a sample of files decoding to their end (simlab.media_check.decode)."
    )
    return report
