"""The loopback HTTP -> SOCKS5 bridge that lets ffmpeg use a SOCKS5 CDN proxy: against a real
SOCKS5 server (pproxy) with a password, a real fake CDN, httpx and real ffmpeg."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from recorder_service.socks_bridge import SocksBridge, SocksBridges, _target, is_socks
from servicekit.ffmpeg import find_ffmpeg
from simlab.fakes.hls_origin import HlsOrigin
from simlab.media_check import decode
from tests.proxy_server import ProxyServer


@pytest.fixture(scope="module")
def socks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyServer]:
    with ProxyServer("socks5", tmp_path_factory.mktemp("socks") / "p.log") as server:
        yield server


@pytest.fixture(scope="module")
def cdn() -> Iterator[HlsOrigin]:
    with HlsOrigin() as origin:
        origin.add_stream("br", token="tk", window=6, format="ts")
        yield origin


@pytest.mark.parametrize(
    ("method", "target", "expected"),
    [
        (b"CONNECT", b"cdn.example:443", ("cdn.example", 443, None)),
        (b"CONNECT", b"[::1]:8443", ("::1", 8443, None)),
        (b"GET", b"http://cdn.example/a/b.m3u8?t=1", ("cdn.example", 80, b"/a/b.m3u8?t=1")),
        (b"GET", b"http://127.0.0.1:9000", ("127.0.0.1", 9000, b"/")),
    ],
)
def test_proxy_request_targets(method: bytes, target: bytes, expected: object) -> None:
    assert _target(method, target) == expected


@pytest.mark.parametrize(
    ("method", "target"),
    [(b"GET", b"/relative"), (b"GET", b"ftp://x/y"), (b"CONNECT", b"nohost"), (b"GET", b"http://")],
)
def test_requests_a_proxy_must_refuse(method: bytes, target: bytes) -> None:
    with pytest.raises(ValueError):
        _target(method, target)


def test_which_proxies_need_a_bridge() -> None:
    assert is_socks("socks5://u:p@h:1") and is_socks("SOCKS5H://h:1")
    assert not is_socks("http://h:1") and not is_socks(None) and not is_socks("")


async def test_http_clients_reach_the_cdn_through_the_socks_proxy(
    socks: ProxyServer, cdn: HlsOrigin
) -> None:
    bridges = SocksBridges()
    try:
        assert await bridges.http_proxy_for("http://h:3128") == "http://h:3128"
        url = await bridges.http_proxy_for(socks.url)
        assert url is not None and url == await bridges.http_proxy_for(socks.url)  # one bridge
        async with httpx.AsyncClient(proxy=url, timeout=10) as client:
            answer = await client.get(cdn.url("br"))
        assert answer.status_code == 200 and answer.text.startswith("#EXTM3U")
        origin = f"127.0.0.1:{httpx.URL(cdn.url('br')).port}"
        assert origin in {dest for _, dest in socks.relayed()}
        # The bridge is no open proxy: without its own credential, a 407 and no tunnel.
        port = httpx.URL(url).port
        async with httpx.AsyncClient(proxy=f"http://127.0.0.1:{port}", timeout=10) as client:
            refused = await client.get(cdn.url("br"))
        assert refused.status_code == 407
    finally:
        await bridges.close()


async def test_ffmpeg_records_through_the_bridge(
    socks: ProxyServer, cdn: HlsOrigin, tmp_path: Path
) -> None:
    bridge = await SocksBridge(socks.url).start()
    before = len(socks.relayed())
    out = tmp_path / "out.ts"
    try:
        env = {**os.environ, "http_proxy": bridge.url}
        cmd = [find_ffmpeg(), "-nostdin", "-loglevel", "error", "-y", "-i", cdn.url("br")]
        proc = await asyncio.create_subprocess_exec(
            *cmd, "-t", "3", "-c", "copy", str(out), env=env, stderr=subprocess.PIPE
        )
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err
    finally:
        await bridge.close()
    result = decode(out)
    assert result.ok and result.seconds >= 2, result.errors
    assert len(socks.relayed()) - before >= 2  # the playlist and its segments, all tunnelled


async def test_a_refused_socks_login_is_a_502_and_logs_no_secret(
    socks: ProxyServer, cdn: HlsOrigin, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = socks.url.replace(socks.password, "not-the-password")
    bridge = await SocksBridge(wrong).start()
    try:
        with caplog.at_level(logging.DEBUG):
            async with httpx.AsyncClient(proxy=bridge.url, timeout=10) as client:
                answer = await client.get(cdn.url("br"))
        assert answer.status_code == 502
    finally:
        await bridge.close()
    assert "not-the-password" not in caplog.text and socks.password not in caplog.text
