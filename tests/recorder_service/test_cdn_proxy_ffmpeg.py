"""Real ffmpeg through a real HTTP proxy (pproxy, started here) to the fake CDN: a session
records through the resolver's CDN proxy, the proxy sees ffmpeg's requests, and a proxy
that refuses it fails the session without its password in any reason or log line."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from recorder_service.manager import StartRequest
from recorder_service.model import SessionState
from recorder_service.ports import QualityWish, ResolvedStream
from servicekit.errors import Unavailable
from simlab.harness import free_port
from tests.recorder_service.conftest import OriginResolver, managed
from tests.recorder_service.runner_harness import eventually

PPROXY = Path(sys.executable).with_name("pproxy")
USER, PASSWORD = "rec", "pw-s3cret-9"
pytestmark = pytest.mark.skipif(not PPROXY.exists(), reason="pproxy is not installed")


class ProxiedResolver(OriginResolver):
    """The fake origin's streams, with the CDN proxy the resolver would name."""

    def __init__(self, origin, proxy: str) -> None:
        super().__init__(origin)
        self.proxy = proxy

    async def resolve(self, target, source_type, quality: QualityWish) -> ResolvedStream:
        return replace(await super().resolve(target, source_type, quality), cdn_proxy=self.proxy)


@pytest.fixture(scope="module")
def proxy(tmp_path_factory) -> Iterator[tuple[int, Path]]:
    """pproxy on loopback asking for USER:PASSWORD, its connection log in a file."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("pproxy") / "pproxy.log"
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            [str(PPROXY), "-l", f"http://127.0.0.1:{port}#{USER}:{PASSWORD}", "-v", "--auth", "0"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 10
            while b"Serving on" not in log_path.read_bytes():
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("pproxy did not start")
                time.sleep(0.05)
            yield port, log_path
        finally:
            process.terminate()
            process.wait(timeout=5)


async def wait_state(manager, sid: str, state: SessionState, within: float = 15.0) -> None:
    await eventually(lambda: manager.get(sid).state is state, within)


async def test_a_session_records_through_the_cdn_proxy(origin, tmp_path, proxy) -> None:
    port, proxy_log = proxy
    origin.add_stream("px1", segment_duration=1.0)
    async with managed(origin, tmp_path) as manager:
        manager._resolver = ProxiedResolver(origin, f"http://{USER}:{PASSWORD}@127.0.0.1:{port}")
        session = await manager.start(StartRequest(target="px1"))
        await wait_state(manager, session.session_id, SessionState.RECORDING)
        await asyncio.sleep(1.5)
        stopped = await manager.stop(session.session_id)
    assert stopped.bytes_written > 0
    # The proxy carried ffmpeg's requests to the origin (pproxy -v logs each one).
    origin_port = origin.media_url("px1").split("/")[2].split(":")[1]
    assert f"-> 127.0.0.1:{origin_port}" in proxy_log.read_text()


async def test_a_refusing_proxy_fails_the_session_without_showing_its_password(
    origin, tmp_path, proxy, caplog: pytest.LogCaptureFixture
) -> None:
    port, _ = proxy
    origin.add_stream("px2", segment_duration=1.0)
    caplog.set_level(logging.DEBUG)
    async with managed(origin, tmp_path, restart_limit=1, restart_backoff_max=0.1) as manager:
        bad = f"http://{USER}:wrong-{PASSWORD}@127.0.0.1:{port}"
        manager._resolver = ProxiedResolver(origin, bad)
        session = await manager.start(StartRequest(target="px2"))
        await wait_state(manager, session.session_id, SessionState.FAILED, within=30)
        failed = manager.get(session.session_id)
    assert failed.end_reason.startswith("gave up after 1 restarts without media")
    # The proxy refused ffmpeg (so it did not go direct), and the runner's playlist read too.
    said = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("ffmpeg: ") and "407 Proxy Authentication" in m for m in said)
    assert any(m.startswith("could not read the playlist") and "407" in m for m in said)
    shown = [failed.end_reason, *(r.getMessage() for r in caplog.records)]
    shown += [str(v) for r in caplog.records for v in r.__dict__.values()]
    for text in shown:
        assert PASSWORD not in text and f"127.0.0.1:{port}" not in text, text


class SilentAfterFirst(ProxiedResolver):
    """Answers the start, then cannot be reached (the resolver is down)."""

    async def resolve(self, target, source_type, quality: QualityWish) -> ResolvedStream:
        if self.calls:
            self.calls += 1
            raise Unavailable("the resolver is down", reason="RESOLVER_UNAVAILABLE")
        return await super().resolve(target, source_type, quality)


def proxy_of(pid: int) -> str:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    found = [v.split(b"=", 1)[1].decode() for v in environ if v.startswith(b"http_proxy=")]
    return found[0] if found else ""


async def test_a_restart_the_resolver_cannot_answer_keeps_the_cdn_proxy(
    origin, tmp_path, proxy
) -> None:
    port, _ = proxy
    origin.add_stream("px3", segment_duration=1.0)
    through = f"http://{USER}:{PASSWORD}@127.0.0.1:{port}"
    async with managed(origin, tmp_path, restart_backoff_max=0.1) as manager:
        resolver = manager._resolver = SilentAfterFirst(origin, through)
        session = await manager.start(StartRequest(target="px3"))
        sid = session.session_id
        await wait_state(manager, sid, SessionState.RECORDING)
        runner = manager._runners[sid]
        first = runner.process.pid
        assert first is not None and proxy_of(first) == through
        os.kill(first, signal.SIGKILL)

        def restarted() -> bool:
            pid = runner.process.pid
            return pid is not None and pid != first and resolver.calls > 1

        await eventually(restarted, 20)
        second = runner.process.pid
        assert second is not None
        assert proxy_of(second) == through  # as last resolved: still through the proxy
        await manager.stop(sid)
