"""What the benchmark cases share: the run context, results, a running stack with gRPC stubs,
and CPU sampling windows over groups of processes."""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from simlab.harness import Stack
from streamrec.v1 import (
    channel_service_pb2_grpc,
    recorder_service_pb2,
    recorder_service_pb2_grpc,
    recording_service_pb2_grpc,
    session_pb2,
)
from tools import bench_measure as m
from tools.bench_origin import OriginProcess

log = logging.getLogger("bench")

#: Every stack runs with the recorder's defaults (the test harness sets a 1 s progress interval).
BASE_ENV: dict[str, str] = {"PROGRESS_INTERVAL": "5"}
PROGRESS_S = float(BASE_ENV["PROGRESS_INTERVAL"])
#: For cases that start many sessions at once from one loopback host: the default request
#: budgets (the CDN's 20 requests/s per host) would take 13 s to start 128 sessions. They play
#: no part once sessions record (the start-latency, burst and watch-list cases keep the
#: defaults).
FAST_START_ENV = {
    **BASE_ENV,
    "SITE_RATE": "500",
    "SITE_BURST": "100",
    "SITE_CONCURRENCY": "16",
    "SITE_JITTER": "0",
    "CDN_RATE": "500",
    "CDN_BURST": "300",
    "CDN_CONCURRENCY": "32",
}
RECORDING = session_pb2.SESSION_STATE_RECORDING


@dataclass
class Context:
    """One bench run."""

    quick: bool
    ffmpeg: str
    origin: OriginProcess
    tmp: Path

    def workdir(self, name: str) -> Path:
        path = self.tmp / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path


@dataclass
class Metric:
    """One line of the summary table."""

    case: str
    name: str
    value: str
    target: str = ""
    met: bool | None = None

    @property
    def status(self) -> str:
        return {None: "", True: "met", False: "MISSED"}[self.met]


@dataclass
class CaseReport:
    """What a case measured: its summary lines, detail tables and notes for the document."""

    key: str
    title: str
    metrics: list[Metric] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""

    def add(
        self, name: str, value: str, target: str = "", met: bool | None = None, case: str = ""
    ) -> None:
        self.metrics.append(Metric(case or self.key, name, value, target, met))


# -- CPU windows -------------------------------------------------------------------------------

Group = Callable[[], Sequence[int]]


@dataclass
class WindowResult:
    """CPU seconds per group over a measured window, and the machine's share of busy time."""

    seconds: float
    cpu: dict[str, float]
    system: m.CpuShare
    disk_bytes: int

    def cores(self, group: str) -> float:
        """Average cores the group kept busy (1.0 = one core all the time)."""
        return self.cpu[group] / self.seconds if self.seconds > 0 else 0.0


def measure_window(
    groups: Mapping[str, Group], seconds: float, during: Callable[[], None] | None = None
) -> WindowResult:
    """Sample the CPU of each group's processes, wait ``seconds`` (calling ``during`` once at
    the middle, e.g. to sample memory), sample again."""
    pids = {name: list(group()) for name, group in groups.items()}
    before = {name: m.cpu_times(p) for name, p in pids.items()}
    sys0, disk0, t0 = m.system_cpu(), m.disk_written(), time.monotonic()
    if during is not None:
        time.sleep(seconds / 2)
        during()
        time.sleep(max(0.0, seconds - (time.monotonic() - t0)))
    else:
        time.sleep(seconds)
    after = {name: m.cpu_times(set(p) | set(groups[name]())) for name, p in pids.items()}
    elapsed = time.monotonic() - t0
    return WindowResult(
        seconds=elapsed,
        cpu={name: m.cpu_delta_seconds(before[name], after[name]) for name in groups},
        system=m.cpu_share(sys0, m.system_cpu()),
        disk_bytes=m.disk_written() - disk0,
    )


# -- a stack -----------------------------------------------------------------------------------


class BenchStack:
    """A running ``simlab.harness.Stack`` with sync gRPC stubs on the recorder."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.channel = grpc.insecure_channel(f"127.0.0.1:{stack.recorder_port}")
        self.recorder = recorder_service_pb2_grpc.RecorderServiceStub(self.channel)
        self.channels = channel_service_pb2_grpc.ChannelServiceStub(self.channel)
        self.recordings = recording_service_pb2_grpc.RecordingServiceStub(self.channel)

    @property
    def recorder_addr(self) -> str:
        return f"127.0.0.1:{self.stack.recorder_port}"

    def pid(self, service: str) -> int:
        return self.stack.services[service].proc.pid

    @property
    def recorder_pid(self) -> int:
        return self.pid("recorder_service")

    def recorder_tree(self) -> list[int]:
        return m.tree(self.recorder_pid)

    def ffmpeg_pids(self) -> list[int]:
        return [p for p in m.descendants(self.recorder_pid) if m.comm(p).startswith("ffmpeg")]

    def start_sessions(
        self, target: str, persons: Sequence[str], parallel: int = 8, spread_s: float = 0.0
    ) -> list[session_pb2.Session]:
        """Start a session per person over gRPC. ``spread_s`` paces the starts evenly over
        that many seconds (sessions started at random times do not report progress in step;
        a burst of starts would make every session's events arrive together)."""
        began = time.monotonic()
        step = spread_s / len(persons) if persons else 0.0

        def one(index: int) -> session_pb2.Session:
            time.sleep(max(0.0, began + index * step - time.monotonic()))
            request = recorder_service_pb2.StartRecordingRequest(
                target=target, person=persons[index], request_id=uuid.uuid4().hex
            )
            session: session_pb2.Session = self.recorder.StartRecording(
                request, timeout=120
            ).session
            return session

        with ThreadPoolExecutor(parallel) as pool:
            return list(pool.map(one, range(len(persons))))

    def sessions(self, include_ended: bool = False) -> list[session_pb2.Session]:
        found: list[session_pb2.Session] = []
        token = ""
        while True:
            reply = self.recorder.ListSessions(
                recorder_service_pb2.ListSessionsRequest(
                    page_size=1000, page_token=token, include_ended=include_ended
                ),
                timeout=30,
            )
            found += list(reply.sessions)
            token = reply.next_page_token
            if not token:
                return found

    def wait_all_recording(self, ids: Sequence[str], timeout: float) -> float:
        """Seconds until every session in ``ids`` is RECORDING (TimeoutError past ``timeout``)."""
        began = time.monotonic()
        wanted = set(ids)
        while True:
            states = {s.session_id: s.state for s in self.sessions()}
            waiting = [i for i in wanted if states.get(i) != RECORDING]
            if not waiting:
                return time.monotonic() - began
            if time.monotonic() - began > timeout:
                raise TimeoutError(f"{len(waiting)} of {len(wanted)} sessions not RECORDING")
            time.sleep(0.5)

    def close(self) -> None:
        self.channel.close()


@contextlib.contextmanager
def running_stack(workdir: Path, env: dict[str, str]) -> Iterator[BenchStack]:
    """A stack (every process stopped by PID on the way out), then its work dir deleted."""
    try:
        with Stack(workdir, env_extra=env) as stack:
            bench = BenchStack(stack)
            try:
                yield bench
            finally:
                bench.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def stop_processes(procs: Sequence[subprocess.Popen[bytes]], timeout: float = 10.0) -> None:
    """SIGTERM each (ffmpeg finishes its file), wait, SIGKILL what is left: by PID only."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def wait_files(paths: Sequence[Path], timeout: float) -> float:
    """Seconds until every file exists with at least one byte."""
    began = time.monotonic()
    while True:
        waiting = [p for p in paths if not (p.exists() and p.stat().st_size > 0)]
        if not waiting:
            return time.monotonic() - began
        if time.monotonic() - began > timeout:
            raise TimeoutError(f"{len(waiting)} of {len(paths)} files still empty")
        time.sleep(0.2)


def file_bytes(paths: Sequence[Path]) -> int:
    total = 0
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            total += path.stat().st_size
    return total
