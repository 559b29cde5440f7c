"""ffmpeg reads the CDN through the resolver's CDN proxy, and the proxy (its URL, address and
credentials) never shows: not in a log line, an event, a session's reason or an error."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest

from recorder_service.ffmpeg_cmd import (
    PROTOCOL_WHITELIST,
    PROXY_PLACEHOLDER,
    RecordJob,
    build_command,
    check_proxy_url,
    ffmpeg_env,
    hide_proxy,
)
from recorder_service.model import EventType, SessionState
from recorder_service.runner import Watchdog
from servicekit.errors import InvalidArgument
from tests.recorder_service.runner_harness import Harness

PROXY = "http://rec%40home:s3cr%3At-pw@127.0.0.1:3128"
SECRETS = ("s3cr%3At-pw", "s3cr:t-pw", "rec%40home", "rec@home", "127.0.0.1:3128")


def job(**kw: object) -> RecordJob:
    base = RecordJob(
        media_url="https://cdn.example/live/a/v0/index.m3u8?token=t",
        audio_url="https://cdn.example/live/a/a0/index.m3u8?token=t",
        record_path=Path("/data/records/a/a_1.ts"),
        preview_dir=Path("/data/sessions/s1"),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def options_before_each_input(cmd: list[str]) -> list[list[str]]:
    inputs = [i for i, a in enumerate(cmd) if a == "-i"]
    starts = [0, *inputs[:-1]]
    return [cmd[s:i] for s, i in zip(starts, inputs, strict=True)]


def test_every_input_goes_through_the_cdn_proxy_given_in_the_environment_not_argv(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://elsewhere:1")
    monkeypatch.setenv("no_proxy", "cdn.example")
    proxied = job(http_proxy=PROXY, direct_hosts=("relay.internal",))
    cmd = build_command("ffmpeg", proxied)
    # On the command line, ps would show the password to every user of the machine.
    assert not any(secret in " ".join(cmd) for secret in SECRETS)
    env = ffmpeg_env(proxied)
    assert env is not None and env["http_proxy"] == PROXY
    # The resolver's relay is read directly; the recorder's own proxy variables are not
    # passed on (they would send ffmpeg elsewhere, or around the CDN proxy).
    assert env["no_proxy"] == "relay.internal" and "HTTPS_PROXY" not in env
    assert ffmpeg_env(job()) is None
    for options in options_before_each_input(cmd):
        # https through an HTTP proxy is tunnelled by ffmpeg's httpproxy protocol.
        whitelist = options[options.index("-protocol_whitelist") + 1].split(",")
        assert "httpproxy" in whitelist and "file" not in whitelist


def test_without_a_proxy_ffmpeg_goes_direct_and_whitelists_no_proxy_protocol() -> None:
    cmd = build_command("ffmpeg", job())
    assert "-http_proxy" not in cmd
    assert cmd[cmd.index("-protocol_whitelist") + 1] == PROTOCOL_WHITELIST


def test_the_job_repr_does_not_show_the_proxy() -> None:
    assert "s3cr" not in repr(job(http_proxy=PROXY))


@pytest.mark.parametrize(
    "proxy",
    [
        "socks5://127.0.0.1:1080",  # ffmpeg speaks HTTP proxies only
        "https://127.0.0.1:3128",
        "http://127.0.0.1",  # no port
        "http://:3128",
        "http://127.0.0.1:3128/path",
        "http://127.0.0.1:3128?x=1",
        "http://user:pa ss@127.0.0.1:3128",
        "http://127.0.0.1:3128\n-i file:/etc/passwd",
        "http://[::1:3128",
    ],
)
def test_a_proxy_ffmpeg_cannot_use_is_refused_without_repeating_it(proxy: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        build_command("ffmpeg", job(http_proxy=proxy))
    assert info.value.reason == "UNSUPPORTED_CDN_PROXY"
    assert "127.0.0.1" not in str(info.value) and "pa ss" not in str(info.value)


def test_a_good_proxy_passes() -> None:
    assert check_proxy_url("http://u:p@proxy.lan:3128") == "http://u:p@proxy.lan:3128"
    assert check_proxy_url("http://[::1]:3128/") == "http://[::1]:3128/"


@pytest.mark.parametrize(
    "line",
    [
        f"[http @ 0x1] [error] Connection to {PROXY} failed",
        "[tcp @ 0x1] [error] Connection to tcp://127.0.0.1:3128 failed: Connection refused",
        "[http @ 0x1] [warning] proxy auth rec@home:s3cr:t-pw refused",
        "[http @ 0x1] [warning] proxy http://rec%40home:s3cr%3At-pw@127.0.0.1:3128/ said 407",
    ],
)
def test_every_trace_of_the_proxy_is_hidden(line: str) -> None:
    hidden = hide_proxy(line, PROXY)
    assert PROXY_PLACEHOLDER in hidden
    assert not any(secret in hidden for secret in SECRETS)


def test_text_without_a_proxy_is_left_alone() -> None:
    line = "[hls @ 0x1] [info] Opening 'http://127.0.0.1:9/x.ts' for reading"
    assert hide_proxy(line, "") == line
    assert hide_proxy(line, PROXY) == line


async def test_ffmpeg_gets_the_proxy_and_its_words_about_it_are_hidden(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A stand-in ffmpeg that names its proxy in its errors, and fails: its environment has the
    proxy (its argv does not); the logs, the events and the session's end reason do not."""
    argv_file = tmp_path / "argv"
    words = [
        "[tcp @ 0x1] [error] Connection to tcp://127.0.0.1:3128 failed: Connection refused",
        f"[http @ 0x1] [error] proxy {PROXY} answered 407 for rec@home:s3cr:t-pw",
    ]
    body = "#!/bin/sh\n" + f'printf "%s\\n" "$@" > {argv_file}\n'
    body += f'printf "%s" "$http_proxy" > {argv_file}.env\n'
    body += "".join(f'echo "{line}" >&2\n' for line in words) + "exit 1\n"
    fake = tmp_path / "fake-ffmpeg"
    fake.write_text(body)
    fake.chmod(0o755)
    caplog.set_level(logging.DEBUG)

    h = Harness(
        tmp_path,
        str(fake),
        Watchdog(max_restarts=1, backoff_initial=0.01, backoff_max=0.01),
        proxy=PROXY,
    )
    await h.runner.start()
    await h.ended.wait()

    argv = argv_file.read_text().splitlines()
    assert "-http_proxy" not in argv and not any("s3cr" in a for a in argv)
    assert (tmp_path / "argv.env").read_text() == PROXY
    assert h.session.state is SessionState.FAILED
    shown = [h.session.end_reason, *(r.getMessage() for r in caplog.records)]
    shown += [str(v) for r in caplog.records for v in r.__dict__.values()]
    shown += [e.message for kind in EventType for e in h.events(kind)]
    assert any(PROXY_PLACEHOLDER in text for text in shown)
    for text in shown:
        assert not any(secret in text for secret in SECRETS), text
