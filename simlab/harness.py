"""Runs the three streamrec services as real processes on loopback, for end-to-end tests.

Each service logs JSON to its own file; every process started here is stopped here, by PID.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from servicekit.settings import Env
from servicekit.tls import TlsConfig

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_grpc_serving(
    addr: str, deadline_s: float = 20.0, credentials: grpc.ChannelCredentials | None = None
) -> None:
    """Block until the gRPC health service at ``addr`` says SERVING."""
    end = time.monotonic() + deadline_s
    opened = grpc.secure_channel(addr, credentials) if credentials else grpc.insecure_channel(addr)
    with opened as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < end:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise TimeoutError(f"gRPC server at {addr} never became SERVING")


@dataclass
class Service:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log_records(self) -> list[dict[str, Any]]:
        """Every JSON log line the service wrote so far (a non-JSON line fails the test)."""
        records = []
        for line in self.log_path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                records.append(json.loads(line))
        return records

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def kill(self) -> int:
        """SIGKILL, as a crash would: no handler runs, nothing is flushed or finalized."""
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait(10)

    def descendants(self) -> list[int]:
        """PIDs of every process below this service (ffmpegs behind their wrapper too)."""
        found, todo = [], self.children()
        while todo:
            pid = todo.pop()
            found.append(pid)
            path = Path(f"/proc/{pid}/task/{pid}/children")
            try:
                todo += [int(p) for p in path.read_text().split()]
            except (FileNotFoundError, ProcessLookupError):
                pass
        return found

    def children(self) -> list[int]:
        """PIDs of this service's child processes (its ffmpegs), from /proc."""
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return [int(p) for p in path.read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            return []


@dataclass
class Stack:
    """resolver + recorder + gateway, started in that order."""

    workdir: Path
    env_extra: dict[str, str] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.resolver_port = free_port()
        self.recorder_port = free_port()
        self.gateway_port = free_port()
        self.resolver_metrics_port = free_port()
        self.recorder_metrics_port = free_port()
        self.output_dir = self.workdir / "data"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
            "RESOLVER_HOST": "127.0.0.1",
            "RESOLVER_PORT": str(self.resolver_port),
            "RECORDER_HOST": "127.0.0.1",
            "RECORDER_PORT": str(self.recorder_port),
            "RESOLVER_ADDR": f"127.0.0.1:{self.resolver_port}",
            "RECORDER_ADDR": f"127.0.0.1:{self.recorder_port}",
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(self.gateway_port),
            "RESOLVER_METRICS_PORT": str(self.resolver_metrics_port),
            "RECORDER_METRICS_PORT": str(self.recorder_metrics_port),
            "OUTPUT_DIR": str(self.output_dir),
            "PROGRESS_INTERVAL": "1",
            "PYTHONUNBUFFERED": "1",
        }
        env.update(self.env_extra)
        return env

    def start_service(self, name: str) -> Service:
        log_path = self.workdir / f"{name}.log"
        with log_path.open("ab") as log_file:
            proc = subprocess.Popen(
                [sys.executable, "-m", name],
                cwd=ROOT,
                env=self.env(),
                stdout=log_file,
                stderr=log_file,
            )
        service = Service(name, proc, log_path)
        self.services[name] = service
        return service

    def credentials(self) -> grpc.ChannelCredentials | None:
        """TLS credentials for the services when the stack runs with GRPC_TLS_* settings."""
        return TlsConfig.from_env(Env(self.env())).channel_credentials()

    def start(self) -> Stack:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.start_service("resolver_service")
        wait_grpc_serving(f"127.0.0.1:{self.resolver_port}", credentials=self.credentials())
        self.start_service("recorder_service")
        wait_grpc_serving(f"127.0.0.1:{self.recorder_port}", credentials=self.credentials())
        self.start_service("gateway")
        self.wait_http_ready()
        return self

    def restart_recorder(self) -> Service:
        """Start the recorder again (after a kill or a stop) and wait until it serves."""
        service = self.start_service("recorder_service")
        wait_grpc_serving(f"127.0.0.1:{self.recorder_port}", credentials=self.credentials())
        return service

    def wait_http_ready(self, deadline_s: float = 20.0) -> None:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError("gateway never became ready")

    def stop(self) -> None:
        for name in ("gateway", "recorder_service", "resolver_service"):
            if name in self.services:
                self.services[name].stop()

    def __enter__(self) -> Stack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def sse_events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """Parse a streaming text/event-stream response into {id, event, data} dicts."""
    frame: dict[str, Any] = {}
    for line in response.iter_lines():
        if not line:
            if "event" in frame:
                yield frame
            frame = {}
        elif line.startswith(":"):
            continue
        else:
            key, _, value = line.partition(":")
            value = value.removeprefix(" ")
            frame[key] = json.loads(value) if key == "data" else value


def site_env(site_url: str, *, autorecord_interval: float | None = None) -> dict[str, str]:
    """The services' settings for a fake site at ``site_url``: its URLs, no status cache, a
    budget that does not pace a test and no jitter; with ``autorecord_interval``, auto-record
    every that many seconds, without jitter."""
    env = {
        "CHATURBATE_BASE_URL": site_url,
        "CHATURBATE_THUMBNAIL_BASE_URL": f"{site_url}/ri",
        "STATUS_CACHE_TTL": "0",
        "SITE_RATE": "50",
        "SITE_BURST": "20",
        "SITE_JITTER": "0",
    }
    if autorecord_interval is not None:
        env["AUTORECORD_INTERVAL"] = str(autorecord_interval)
        env["AUTORECORD_JITTER"] = "0"
    return env


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 30.0, step: float = 0.1) -> Any:
    """The first true value ``probe()`` returns within ``timeout`` seconds; fails the test,
    naming ``what``, when none comes."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = probe()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")
