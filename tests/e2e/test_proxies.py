"""Per-site proxies, through real local proxy servers (pproxy, started by the test): the site's
API calls go through its API proxy (SOCKS5 here) and nowhere else, the CDN's playlist reads and
ffmpeg's requests through its CDN proxy (HTTP, or SOCKS5 through the recorder's loopback
bridge), and no proxy password reaches a log line or ffmpeg's command line."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from simlab.fakes.chaturbate_site import FakeChaturbate
from simlab.fakes.hls_origin import HlsOrigin
from simlab.harness import Stack, site_env, wait_for
from tests.proxy_server import ProxyServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=["http", "socks5"])
def proxies(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ProxyServer, ProxyServer]]:
    logs = tmp_path_factory.mktemp("proxies")
    api = ProxyServer("socks5", logs / "api.log", password="api-pa55word")
    cdn = ProxyServer(request.param, logs / "cdn.log", password="cdn-pa55word")
    with api, cdn:
        yield api, cdn


@pytest.fixture(scope="module")
def site() -> Iterator[FakeChaturbate]:
    with FakeChaturbate() as running:
        yield running


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    site: FakeChaturbate,
    proxies: tuple[ProxyServer, ProxyServer],
) -> Iterator[Stack]:
    api, cdn = proxies
    env = {
        **site_env(site.base_url),
        "CHATURBATE_PROXY": api.url,
        "CHATURBATE_CDN_PROXY": cdn.url,
        "LOG_LEVEL": "DEBUG",
    }
    with Stack(tmp_path_factory.mktemp("proxied"), env_extra=env) as running:
        yield running


def _address(url: str) -> str:
    parts = httpx.URL(url)
    return f"{parts.host}:{parts.port}"


def _tcp_peers(pid: int) -> set[int]:
    """The remote ports of a process's TCP sockets (from /proc: its fds and the TCP tables)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = fd.readlink().as_posix()
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes and fields[3] == "01":  # ESTABLISHED
                ports.add(int(fields[2].rsplit(":", 1)[1], 16))
    return ports


def _listening(pid: int) -> set[int]:
    """The ports a process listens on (its TCP sockets in state LISTEN)."""
    inodes = {
        link[8:-1]
        for fd in Path(f"/proc/{pid}/fd").iterdir()
        if (link := os.readlink(fd)).startswith("socket:[")
    }
    ports = set()
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[9] in inodes and fields[3] == "0A":  # LISTEN
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _ffmpegs(stack: Stack) -> list[int]:
    found = []
    for pid in stack.services["recorder_service"].descendants():
        try:
            if Path(f"/proc/{pid}/comm").read_text().startswith("ffmpeg"):
                found.append(pid)
        except OSError:
            continue
    return found


def test_site_api_and_cdn_each_go_through_their_own_proxy(
    stack: Stack,
    site: FakeChaturbate,
    origin: HlsOrigin,
    proxies: tuple[ProxyServer, ProxyServer],
) -> None:
    api, cdn = proxies
    origin.add_stream("pia", token="t0k", window=6, format="ts")
    site.add_room("pia", hls_url=origin.url("pia"))
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        status = client.get("/api/model/pia/status")
        assert status.status_code == 200 and status.json()["availability"] == "ONLINE"
        started = client.post("/api/start", json={"target": "pia"})
        assert started.status_code == 201, started.text
        sid = started.json()["session_id"]
        wait_for(
            "recording",
            lambda: client.get(f"/api/sessions/{sid}").json()["bytes_written"] > 0,
        )
        # ffmpeg's own connections: every one of them to the CDN proxy (or, for a SOCKS5 one,
        # to the recorder's bridge in front of it), none straight out.
        ffmpegs = wait_for("ffmpeg", lambda: _ffmpegs(stack))
        peers = wait_for("ffmpeg's connections", lambda: _tcp_peers(ffmpegs[0]))
        recorder = stack.services["recorder_service"].proc.pid
        allowed = {cdn.port} if cdn.scheme == "http" else _listening(recorder)
        assert peers and peers <= allowed, (peers, allowed)
        argv = Path(f"/proc/{ffmpegs[0]}/cmdline").read_bytes().decode(errors="replace")
        assert cdn.password not in argv and str(cdn.port) not in argv
        time.sleep(2)
        client.post(f"/api/stop/{sid}")
    site_address, origin_address = _address(site.base_url), _address(origin.url("pia"))
    assert {dest for _, dest in api.relayed()} == {site_address}
    assert {dest for _, dest in cdn.relayed()} == {origin_address}
    # The API proxy carried every request the site saw: one connection per request at least.
    assert site.request_count() >= 2 and len(api.relayed()) >= 1
    # (ffmpeg asks an HTTP proxy without credentials first and sends them on its 407, so the
    # CDN proxy's refusals are part of a normal exchange there.)
    assert api.refused() == 0
    for name in ("resolver_service", "recorder_service", "gateway"):
        text = stack.services[name].log_path.read_text()
        for secret in (api.password, cdn.password):
            assert secret not in text, f"{name} logged a proxy password"


def test_a_wrong_proxy_password_is_a_clear_upstream_error_not_offline(
    tmp_path: Path, site: FakeChaturbate
) -> None:
    with ProxyServer("http", tmp_path / "p.log", password="right") as proxy:
        env = {
            **site_env(site.base_url),
            "CHATURBATE_PROXY": proxy.url.replace(":right@", ":wrong@"),
        }
        site.add_room("quin")
        with (
            Stack(tmp_path / "s", env_extra=env) as stack,
            httpx.Client(base_url=stack.base_url, timeout=30) as client,
        ):
            site.reset_log()
            answer = client.get("/api/model/quin/status")
            assert answer.status_code == 502, answer.text
            assert site.request_count() == 0
            assert proxy.refused() >= 1
            log = stack.services["resolver_service"].log_path.read_text()
            assert "wrong" not in log.replace("wrong password", "")
