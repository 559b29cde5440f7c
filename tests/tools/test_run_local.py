"""The local launcher's orchestration, with tiny stand-in children instead of the services,
and ``make demo`` itself (the real services, the fake origin and site) at the end.

Each test runs the launcher as a subprocess (through ``DRIVER``, which injects the children and
file-based readiness probes) and stops it by its PID.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from servicekit.settings import EXIT_BAD_SETTINGS
from simlab.harness import free_port
from tools.run_local import (
    ROOT,
    Demo,
    GiveUp,
    Restart,
    RestartPolicy,
    announce,
    demo_env,
    describe_exit,
    grpc_ready,
    local_env,
    restart_decision,
    service_children,
)

# A stand-in service: argv is name, events file, seconds until ready, mode. It appends
# "<name> start <pid>", "<name> ready" and "<name> term" (on SIGTERM) to the events file, and
# creates "<events>.<name>.ready" once ready. Modes: "ok", "ignore" (ignores SIGTERM),
# "die-early" (exits 3 before ready), "die-late" (exits 3 shortly after ready), "bad-settings"
# (exits with EXIT_BAD_SETTINGS shortly after ready).
CHILD = """
import os, signal, sys, time
name, events, delay, mode = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
def note(text):
    with open(events, "a") as f:
        f.write(name + " " + text + "\\n")
def on_term(signum, frame):
    note("term")
    sys.exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN if mode == "ignore" else on_term)
note("start " + str(os.getpid()))
time.sleep(delay)
if mode == "die-early":
    sys.exit(3)
note("ready")
open(events + "." + name + ".ready", "w").close()
if mode in ("die-late", "bad-settings"):
    time.sleep(0.2)
    sys.exit(3 if mode == "die-late" else 78)
while True:
    time.sleep(0.05)
"""

DRIVER = """
import json, sys
from pathlib import Path
from servicekit.logs import setup_logging
from tools.run_local import Child, Launcher, RestartPolicy
spec = json.loads(sys.argv[1])
events = spec["events"]
setup_logging("launcher", fmt="json")
def on_ready():
    with open(events, "a") as f:
        f.write("launcher ready\\n")
    return True
children = [
    Child(
        c["name"],
        [sys.executable, "-c", spec["child"], c["name"], events, str(c["delay"]), c["mode"]],
        (lambda p=Path(events + "." + c["name"] + ".ready"): p.exists()),
        c["budget"],
    )
    for c in spec["children"]
]
policy = RestartPolicy(first_delay=spec["first_delay"])
launcher = Launcher(
    children,
    ready_timeout=spec["timeout"],
    on_ready=on_ready,
    poll_interval=0.02,
    restart_policy=policy,
)
raise SystemExit(launcher.run())
"""


@dataclass
class Launched:
    """A launcher subprocess and the files its stand-in children write."""

    proc: subprocess.Popen[bytes]
    events_path: Path
    log_path: Path

    def events(self) -> list[str]:
        if not self.events_path.exists():
            return []
        return self.events_path.read_text().splitlines()

    def pids(self) -> dict[str, int]:
        return {e.split()[0]: int(e.split()[2]) for e in self.events() if " start " in e}

    def wait_event(self, event: str, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while event not in self.events():
            assert time.monotonic() < deadline, f"no {event!r} in {self.events()}"
            assert self.proc.poll() is None, self.log_path.read_text()
            time.sleep(0.01)

    def wait_exit(self, timeout: float = 5.0) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> int:
        os.kill(self.proc.pid, signal.SIGTERM)
        return self.wait_exit()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _is_stand_in(pid: int) -> bool:
    try:
        return CHILD.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


Launch = Callable[..., Launched]


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    """Start a launcher with stand-in children ``(name, delay, mode[, budget])``."""
    started: list[Launched] = []

    def start(
        *children: tuple[object, ...], timeout: float = 5.0, first_delay: float = 1.0
    ) -> Launched:
        events = tmp_path / f"events{len(started)}"
        log_path = tmp_path / f"launcher{len(started)}.log"
        spec = {
            "events": str(events),
            "child": CHILD,
            "timeout": timeout,
            "first_delay": first_delay,
            "children": [
                {"name": c[0], "delay": c[1], "mode": c[2], "budget": c[3] if len(c) > 3 else 5}
                for c in children
            ],
        }
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-c", DRIVER, json.dumps(spec)],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        launched = Launched(proc, events, log_path)
        started.append(launched)
        return launched

    yield start
    for launched in started:
        if launched.proc.poll() is None:
            launched.proc.kill()
            launched.proc.wait()
        for pid in launched.pids().values():
            if _is_stand_in(pid):
                os.kill(pid, signal.SIGKILL)


def test_children_start_in_order_each_after_the_previous_is_ready(launch: Launch) -> None:
    run = launch(("a", 0.15, "ok"), ("b", 0.15, "ok"), ("c", 0.15, "ok"))
    run.wait_event("launcher ready")
    steps = [" ".join(e.split()[:2]) for e in run.events()]
    assert steps == [
        "a start",
        "a ready",
        "b start",
        "b ready",
        "c start",
        "c ready",
        "launcher ready",
    ]
    assert run.stop() == 0


def test_sigterm_stops_children_in_reverse_order_and_leaves_nothing_running(
    launch: Launch,
) -> None:
    run = launch(("resolver", 0, "ok"), ("recorder", 0, "ok"), ("gateway", 0, "ok"))
    run.wait_event("launcher ready")
    pids = run.pids()
    assert run.stop() == 0
    terms = [e for e in run.events() if e.endswith(" term")]
    assert terms == ["gateway term", "recorder term", "resolver term"]
    assert len(pids) == 3
    for pid in pids.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_sigint_stops_everything_and_exits_zero(launch: Launch) -> None:
    run = launch(("a", 0, "ok"), ("b", 0, "ok"))
    run.wait_event("launcher ready")
    os.kill(run.proc.pid, signal.SIGINT)
    assert run.wait_exit() == 0
    assert [e for e in run.events() if e.endswith(" term")] == ["b term", "a term"]
    assert not any(_alive(pid) for pid in run.pids().values())


@pytest.mark.parametrize(
    ("children", "never_started"),
    [
        ((("a", 0, "ok"), ("b", 0, "die-early"), ("c", 0, "ok")), "c"),
        ((("a", 0, "ok"), ("b", 0, "die-late"), ("c", 1.0, "ok")), None),
    ],
    ids=["before-ready", "while-next-starts"],
)
def test_a_child_that_dies_before_everything_is_up_stops_the_others_and_exits_non_zero(
    launch: Launch, children: tuple[tuple[object, ...], ...], never_started: str | None
) -> None:
    run = launch(*children)
    assert run.wait_exit() != 0
    pids = run.pids()
    assert "a term" in run.events()
    if never_started:
        assert never_started not in pids
    assert not any(_alive(pid) for pid in pids.values())
    assert "exited unexpectedly" in run.log_path.read_text()


def _restarts(log_path: Path) -> list[dict[str, Any]]:
    return [r for r in _records(log_path) if r.get("event.action") == "launcher.restart"]


def test_a_child_that_dies_once_everything_is_up_is_restarted_with_doubling_delays(
    launch: Launch,
) -> None:
    run = launch(("a", 0, "ok"), ("b", 0, "ok"), ("c", 0, "die-late"), first_delay=0.05)
    deadline = time.monotonic() + 10
    while len(_restarts(run.log_path)) < 3:
        assert time.monotonic() < deadline and run.proc.poll() is None, run.log_path.read_text()
        time.sleep(0.02)
    restarts = _restarts(run.log_path)[:3]
    assert [(r["child"], r["attempt"]) for r in restarts] == [("c", 1), ("c", 2), ("c", 3)]
    assert [r["delay_seconds"] for r in restarts] == [0.05, 0.1, 0.2]
    assert all(r["process.exit_code"] == 3 for r in restarts)
    assert "c exited with code 3 after" in restarts[0]["message"]
    assert any(r["message"] == "c is ready again" for r in _records(run.log_path))
    events = run.events()
    assert events.count("a start " + str(run.pids()["a"])) == 1 and "a term" not in events
    assert run.stop() == 0
    starts = [int(e.split()[2]) for e in run.events() if e.startswith("c start ")]
    assert len(starts) >= 3
    assert not any(_alive(pid) for pid in [*starts, *run.pids().values()])


def test_sigterm_while_a_restart_is_pending_stops_everything_at_once_and_exits_zero(
    launch: Launch,
) -> None:
    run = launch(("a", 0, "ok"), ("b", 0, "ok"), ("c", 0, "die-late"), first_delay=30)
    deadline = time.monotonic() + 5
    while not _restarts(run.log_path):
        assert time.monotonic() < deadline and run.proc.poll() is None, run.log_path.read_text()
        time.sleep(0.02)
    assert _restarts(run.log_path)[0]["delay_seconds"] == 30
    began = time.monotonic()
    assert run.stop() == 0
    assert time.monotonic() - began < 3
    assert [e for e in run.events() if e.endswith(" term")] == ["b term", "a term"]
    assert [e for e in run.events() if e.startswith("c start")] == [f"c start {run.pids()['c']}"]
    assert not any(_alive(pid) for pid in run.pids().values())


def test_sigterm_while_a_restarted_child_is_starting_stops_it_first(launch: Launch) -> None:
    run = launch(("a", 0, "ok"), ("c", 0.5, "die-late"), first_delay=0.05)
    deadline = time.monotonic() + 5
    while len([e for e in run.events() if e.startswith("c start")]) < 2:
        assert time.monotonic() < deadline and run.proc.poll() is None, run.log_path.read_text()
        time.sleep(0.01)
    restarted = run.pids()["c"]
    assert run.stop() == 0
    assert [e for e in run.events() if e.endswith(" term")] == ["c term", "a term"]
    assert "c ready" not in run.events()[-3:]
    assert not _alive(restarted) and not _alive(run.pids()["a"])


def test_a_child_with_a_malformed_setting_is_not_restarted_and_everything_stops(
    launch: Launch,
) -> None:
    run = launch(("a", 0, "ok"), ("b", 0, "bad-settings"), first_delay=0.05)
    assert run.wait_exit() == 1
    assert [e for e in run.events() if e.startswith("b start")] == [f"b start {run.pids()['b']}"]
    assert "a term" in run.events()
    given_up = [r for r in _records(run.log_path) if r.get("event.action") == "launcher.give_up"]
    assert len(given_up) == 1 and given_up[0]["process.exit_code"] == 78
    assert "a setting is malformed" in given_up[0]["message"]
    assert not _restarts(run.log_path)
    assert not any(_alive(pid) for pid in run.pids().values())


def test_a_malformed_setting_at_first_start_is_named_as_such(launch: Launch) -> None:
    run = launch(("a", 0, "ok"), ("b", 0, "bad-settings"), ("c", 1.0, "ok"))
    assert run.wait_exit() == 1
    assert "(a malformed setting: its line above names it)" in run.log_path.read_text()


POLICY = RestartPolicy(first_delay=1, max_delay=30, stable_after=60)


def test_restart_delay_doubles_from_one_second_up_to_the_cap() -> None:
    attempts, delays = 0, []
    for _ in range(8):
        decision = restart_decision(1, 2.0, attempts, POLICY)
        assert isinstance(decision, Restart)
        attempts = decision.attempt
        delays.append(decision.delay)
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]
    assert attempts == 8
    assert restart_decision(-signal.SIGKILL, 0.1, 10_000, POLICY) == Restart(10_001, 30)


def test_restart_delay_is_back_to_the_first_after_a_service_stayed_up() -> None:
    assert restart_decision(-signal.SIGKILL, 60.0, 7, POLICY) == Restart(1, 1)
    assert restart_decision(0, 59.9, 7, POLICY) == Restart(8, 30)


def test_a_malformed_setting_exit_is_never_restarted() -> None:
    decision = restart_decision(EXIT_BAD_SETTINGS, 3600.0, 0, POLICY)
    assert isinstance(decision, GiveUp) and "malformed" in decision.reason


def test_an_exit_is_described_by_its_code_or_its_signal() -> None:
    assert describe_exit(3) == ("exited with code 3", {"process.exit_code": 3})
    assert describe_exit(-9) == (
        "was killed by SIGKILL",
        {"process.exit_code": -9, "process.signal": "SIGKILL"},
    )


def test_a_child_that_does_not_come_up_in_time_is_named_and_everything_stops(
    launch: Launch,
) -> None:
    run = launch(("a", 0, "ok"), ("slow", 30, "ok"), timeout=0.3)
    assert run.wait_exit() != 0
    assert "slow did not come up within" in run.log_path.read_text()
    assert "a term" in run.events()
    assert not any(_alive(pid) for pid in run.pids().values())


def test_a_child_that_ignores_sigterm_is_killed_after_its_budget(launch: Launch) -> None:
    run = launch(("a", 0, "ok"), ("stubborn", 0, "ignore", 0.3))
    run.wait_event("launcher ready")
    pids = run.pids()
    began = time.monotonic()
    assert run.stop() == 0
    assert time.monotonic() - began >= 0.3
    assert "stubborn term" not in run.events()
    assert "a term" in run.events()
    assert "stubborn did not stop within" in run.log_path.read_text()
    with pytest.raises(ProcessLookupError):
        os.kill(pids["stubborn"], 0)


def test_local_env_sets_defaults_only_where_unset() -> None:
    env = local_env({"GATEWAY_PORT": "9000", "RESOLVER_PORT": "6000", "LOG_FORMAT": "json"})
    assert env["GATEWAY_PORT"] == "9000"
    assert env["RESOLVER_ADDR"] == "127.0.0.1:6000"
    assert env["RECORDER_ADDR"] == "127.0.0.1:50052"
    assert env["GATEWAY_HOST"] == "127.0.0.1"
    assert env["OUTPUT_DIR"] == str(ROOT / "data")
    assert env["LOG_FORMAT"] == "json"


def test_local_env_turns_grpc_fork_support_off_for_the_children_even_over_a_set_value() -> None:
    assert local_env({})["GRPC_ENABLE_FORK_SUPPORT"] == "false"
    assert local_env({"GRPC_ENABLE_FORK_SUPPORT": "1"})["GRPC_ENABLE_FORK_SUPPORT"] == "false"


def test_grpc_readiness_is_asked_by_a_probe_process_and_is_false_while_nothing_serves() -> None:
    # The launcher itself must never load grpc (its forks would meet gRPC's fork handlers);
    # servicekit.healthcheck does the asking.
    probe = grpc_ready(f"127.0.0.1:{free_port()}", local_env({}))
    assert probe() is False
    code = "import sys, tools.run_local; sys.exit('grpc' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False).returncode == 0


def test_service_children_are_resolver_recorder_gateway_with_the_demo_origin_first() -> None:
    env = local_env({"SHUTDOWN_GRACE": "10"})
    plain = service_children(env)
    assert [c.name for c in plain] == ["resolver", "recorder", "gateway"]
    assert [c.argv[1:] for c in plain] == [
        ["-m", "resolver_service"],
        ["-m", "recorder_service"],
        ["-m", "gateway"],
    ]
    assert all(c.argv[0] == sys.executable for c in plain)
    assert plain[1].stop_budget == 15
    demo = service_children(env, Demo(8123, 8124))
    assert demo[0].argv[1:] == [
        "-m",
        "simlab.fakes",
        "--port",
        "8123",
        "--site-port",
        "8124",
        "--stream",
        "demo",
    ]
    assert [c.name for c in demo[1:]] == ["resolver", "recorder", "gateway"]


def test_the_demo_runs_the_stripchat_fakes_when_it_has_their_ports() -> None:
    demo = Demo(8123, 8124, stripchat_port=8125, stripchat_cdn_port=8126)
    assert demo.argv()[3:] == [
        "--port", "8123", "--site-port", "8124",
        "--stripchat-port", "8125", "--stripchat-cdn-port", "8126",
        "--stream", "demo",
    ]  # fmt: skip
    env = demo_env(local_env({"STRIPCHAT_BASE_URL": "https://stripchat.com"}), demo)
    assert env["STRIPCHAT_BASE_URL"] == "http://127.0.0.1:8125"
    assert env["STRIPCHAT_IDS_BASE_URL"] == "http://127.0.0.1:8125"
    assert env["STRIPCHAT_MASTER_URL_TEMPLATE"].startswith("http://127.0.0.1:8126/")
    assert "{tld}" in env["STRIPCHAT_MASTER_URL_TEMPLATE"]
    assert env["STRIPCHAT_PLAYER_URL"].startswith("http://127.0.0.1:8126/player/")
    assert "STRIPCHAT_BASE_URL" not in demo_env(local_env({}), Demo(8123, 8124))


def test_recorder_budget_defaults_to_thirty_seconds() -> None:
    assert service_children(local_env({}))[1].stop_budget == 30


def test_demo_env_points_the_resolver_at_the_fake_site_even_over_a_set_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    plain = local_env({"CHATURBATE_BASE_URL": "https://mirror.example"})
    assert plain["CHATURBATE_BASE_URL"] == "https://mirror.example"
    assert "CHATURBATE_THUMBNAIL_BASE_URL" not in local_env({})
    with caplog.at_level(logging.WARNING, logger="launcher"):
        env = demo_env(plain, Demo(8123, 8124))
    assert env["CHATURBATE_BASE_URL"] == "http://127.0.0.1:8124"
    assert env["CHATURBATE_THUMBNAIL_BASE_URL"] == "http://127.0.0.1:8124/ri"
    assert env["GATEWAY_PORT"] == plain["GATEWAY_PORT"]
    assert [r.getMessage() for r in caplog.records] == [
        "demo: CHATURBATE_BASE_URL=https://mirror.example replaced by the fake site's "
        "http://127.0.0.1:8124"
    ]


def test_demo_env_drops_the_site_secrets_without_logging_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    plain = local_env(
        {"CHATURBATE_COOKIE": "cf_clearance=s3cr3t", "CHATURBATE_AFFILIATE_CODE": "w"}
    )
    with caplog.at_level(logging.WARNING, logger="launcher"):
        env = demo_env(plain, Demo(8123, 8124))
    assert env["CHATURBATE_COOKIE"] == "" and env["CHATURBATE_AFFILIATE_CODE"] == ""
    assert len(caplog.records) == 2
    assert not any("s3cr3t" in r.getMessage() for r in caplog.records)


class _GatewayStandIn(BaseHTTPRequestHandler):
    """Answers ``POST /api/start`` with ``server.status`` and keeps the JSON bodies."""

    server: Any

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append((self.path, json.loads(body)))
        reply = json.dumps({"session_id": "s1"}).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.mark.parametrize(("status", "ok"), [(201, True), (409, False)])
def test_demo_announce_starts_the_recording_by_username(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, status: int, ok: bool
) -> None:
    server: Any = ThreadingHTTPServer(("127.0.0.1", 0), _GatewayStandIn)
    server.requests, server.status = [], status
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        env = local_env({"GATEWAY_PORT": str(port), "OUTPUT_DIR": str(tmp_path)})
        with caplog.at_level(logging.INFO, logger="launcher"):
            assert announce(env, Demo(8123, 8124))() is ok
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert server.requests == [("/api/start", {"target": "demo", "name": "Demo stream"})]
    hint = f"curl 127.0.0.1:{port}/api/model/demo/status"
    assert any(hint in r.getMessage() for r in caplog.records) is ok


def test_demo_announce_starts_the_stripchat_recording_too(tmp_path: Path) -> None:
    server: Any = ThreadingHTTPServer(("127.0.0.1", 0), _GatewayStandIn)
    server.requests, server.status = [], 201
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        env = local_env({"GATEWAY_PORT": str(port), "OUTPUT_DIR": str(tmp_path)})
        demo = Demo(8123, 8124, stripchat_port=8125, stripchat_cdn_port=8126)
        assert announce(env, demo)() is True
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert server.requests == [
        ("/api/start", {"target": "demo", "name": "Demo stream"}),
        ("/api/start", {"target": "stripchat:demo", "name": "Demo stream (Stripchat)"}),
    ]


def _records(path: Path) -> list[dict[str, Any]]:
    """The JSON log records in ``path`` (launcher and children share it; skip anything else)."""
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _launcher_env(ports: dict[str, int], output_dir: Path) -> dict[str, str]:
    """The environment of a real ``python -m tools.run_local`` on the given free ports, writing
    under ``output_dir`` and logging JSON (so its records can be read back)."""
    env = {
        **os.environ,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "RESOLVER_PORT": str(ports["resolver"]),
        "RECORDER_PORT": str(ports["recorder"]),
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(ports["gateway"]),
        "OUTPUT_DIR": str(output_dir),
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("RESOLVER_ADDR", "RECORDER_ADDR", "LOG_FILE"):
        env.pop(name, None)
    return env


def _child_pids(log_path: Path) -> dict[str, int]:
    """The launcher's children by name, from its ``launcher.child_start`` records."""
    started = [
        r["message"] for r in _records(log_path) if r.get("event.action") == "launcher.child_start"
    ]
    return {
        m.removeprefix("started ").split(" (pid")[0]: int(m.rsplit("pid ", 1)[1].rstrip(")"))
        for m in started
    }


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.decode().partition("=")[::2] for item in raw.split(b"\0") if item)


STARTS = 10
START_TIMEOUT = 30.0  # a start that hangs fails here instead of hanging the suite


@pytest.mark.e2e
def test_the_real_launcher_starts_and_stops_cleanly_again_and_again_without_grpc_in_it(
    tmp_path: Path,
) -> None:
    """``make run`` hung in 1 start of 13, the launcher deadlocked forking a child inside
    gRPC's fork handlers (grpc/grpc#37259). Ten starts of ``python -m tools.run_local``, each
    until the gateway is ready, then SIGTERM and exit 0 with every child gone; and in each the
    launcher holds no gRPC (not mapped, one thread) and hands its children fork support off,
    even when the caller's environment turns it on. The last two fail at once on a launcher
    that loads grpc; the loop shows nothing is left that hangs."""
    for start in range(STARTS):
        ports = {name: free_port() for name in ("resolver", "recorder", "gateway")}
        env = {
            **_launcher_env(ports, tmp_path / f"data{start}"),
            "RESOLVER_METRICS_PORT": "0",
            "RECORDER_METRICS_PORT": "0",
            "GRPC_ENABLE_FORK_SUPPORT": "true",  # the launcher must not let it through
        }
        log_path = tmp_path / f"launcher{start}.log"
        with log_path.open("wb") as out:
            launcher = subprocess.Popen(
                [sys.executable, "-m", "tools.run_local"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        pids: dict[str, int] = {}
        try:
            deadline = time.monotonic() + START_TIMEOUT
            with httpx.Client(base_url=f"http://127.0.0.1:{ports['gateway']}", timeout=1) as http:
                while True:
                    assert launcher.poll() is None, log_path.read_text()
                    assert time.monotonic() < deadline, f"start {start} hung:\n" + (
                        log_path.read_text()
                    )
                    try:
                        if http.get("/readyz").status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.1)
            pids = _child_pids(log_path)
            assert list(pids) == ["resolver", "recorder", "gateway"]
            grpc_loaded = "cygrpc" in Path(f"/proc/{launcher.pid}/maps").read_text()
            assert not grpc_loaded
            assert len(list(Path(f"/proc/{launcher.pid}/task").iterdir())) == 1
            for pid in pids.values():
                assert _environ(pid)["GRPC_ENABLE_FORK_SUPPORT"] == "false"
            launcher.send_signal(signal.SIGTERM)
            assert launcher.wait(timeout=START_TIMEOUT) == 0, log_path.read_text()
            assert not any(_alive(pid) for pid in pids.values())
        finally:
            if launcher.poll() is None:
                launcher.kill()
                launcher.wait()
            for pid in pids.values():
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)


@pytest.mark.e2e
def test_make_demo_records_the_fake_sites_room_by_username_then_stops_cleanly(
    tmp_path: Path,
) -> None:
    """``python -m tools.run_local --demo``: fake origin and site, the three services, and a
    recording started by username; SIGTERM stops every process it started and exits 0."""
    names = ("resolver", "recorder", "gateway", "origin", "site", "stripchat", "stripchat_cdn")
    ports = {name: free_port() for name in names}
    env = {
        **_launcher_env(ports, tmp_path / "data"),
        "DEMO_ORIGIN_PORT": str(ports["origin"]),
        "CHATURBATE_BASE_URL": "http://127.0.0.1:9",  # the demo must replace it
    }
    env.pop("DEMO_SITE_PORT", None)
    site = f"http://127.0.0.1:{ports['site']}"
    gateway = f"http://127.0.0.1:{ports['gateway']}"
    log_path = tmp_path / "launcher.log"
    argv = [sys.executable, "-m", "tools.run_local", "--demo"]
    with log_path.open("wb") as out:
        launcher = subprocess.Popen(
            [
                *argv,
                *("--demo-site-port", str(ports["site"])),
                *("--demo-stripchat-port", str(ports["stripchat"])),
                *("--demo-stripchat-cdn-port", str(ports["stripchat_cdn"])),
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    pids: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while sum(r.get("event.action") == "launcher.demo_started" for r in _records(log_path)) < 2:
            assert launcher.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        records = _records(log_path)
        started = [r["message"] for r in records if r.get("event.action") == "launcher.child_start"]
        pids = {int(m.rsplit("pid ", 1)[1].rstrip(")")) for m in started}
        assert [m.split(" (pid")[0] for m in started] == [
            "started demo origin and site",
            "started resolver",
            "started recorder",
            "started gateway",
        ]
        session_id = next(
            r["session_id"] for r in records if r.get("event.action") == "launcher.demo_started"
        )
        assert any(
            f"127.0.0.1:{ports['gateway']}/api/model/demo/status" in r["message"] for r in records
        )
        with httpx.Client(base_url=gateway, timeout=10) as http:
            session = http.get(f"/api/sessions/{session_id}").json()
            assert session["target"] == "demo" and session["source_type"] == "chaturbate"
            assert session["person"] == "demo" and session["name"] == "Demo stream"
            while session["bytes_written"] == 0:
                assert session["state"] in ("STARTING", "RECORDING"), session
                assert time.monotonic() < deadline, session
                time.sleep(0.2)
                session = http.get(f"/api/sessions/{session_id}").json()
            status = http.get("/api/model/demo/status").json()
            assert status["isOnline"] is True and status["thumbnail"] == f"{site}/ri/demo.jpg"
            state = http.get(f"{site}/_control").json()
            assert [room["username"] for room in state["rooms"]] == ["demo"]
            assert state["request_count"] >= 2  # the start's lookup and the status above
            # Stripchat too: the fake stripchat.com's model, its CDN's mouflon v2 stream.
            stripchat_id = next(
                r["session_id"]
                for r in _records(log_path)
                if r.get("event.action") == "launcher.demo_started"
                and r.get("target") == "stripchat:demo"
            )
            session = http.get(f"/api/sessions/{stripchat_id}").json()
            assert session["person"] == "stripchat-demo", session
            while session["bytes_written"] == 0:
                assert session["state"] in ("STARTING", "RECORDING"), session
                assert time.monotonic() < deadline, session
                time.sleep(0.2)
                session = http.get(f"/api/sessions/{stripchat_id}").json()
            stripchat = http.get("/api/model/stripchat:demo/status").json()
            assert stripchat["availability"] == "ONLINE", stripchat
        for pid in list(pids):  # the recorder's ffmpeg, to check it is gone too
            children = Path(f"/proc/{pid}/task/{pid}/children")
            if children.exists():
                pids.update(int(c) for c in children.read_text().split())
        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(timeout=60) == 0, log_path.read_text()
        assert not any(_alive(pid) for pid in pids)
        assert (tmp_path / "data" / "records" / "demo").is_dir()
        assert (tmp_path / "data" / "records" / "stripchat-demo").is_dir()
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.e2e
def test_the_real_launcher_restarts_a_sigkilled_recorder_until_the_gateway_is_ready_again(
    tmp_path: Path,
) -> None:
    """``make run`` as a supervisor: the recorder SIGKILLed by its PID is started again (after
    a 1 s backoff, said in the log with the signal), the others untouched, and the gateway's
    /readyz is 200 again; SIGTERM then stops everything, exit 0."""
    ports = {name: free_port() for name in ("resolver", "recorder", "gateway")}
    env = {
        **_launcher_env(ports, tmp_path / "data"),
        "RESOLVER_METRICS_PORT": "0",
        "RECORDER_METRICS_PORT": "0",
    }
    log_path = tmp_path / "launcher.log"
    with log_path.open("wb") as out:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "tools.run_local"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    pids: set[int] = set()

    def wait_ready(http: httpx.Client) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert launcher.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            try:
                # Up for the launcher too: it supervises only once it has seen everything ready
                # (before that, a death stops everything), and it may see that after we do.
                up = '"launcher.ready"' in log_path.read_text()
                if up and http.get("/readyz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)

    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{ports['gateway']}", timeout=1) as http:
            wait_ready(http)
            first = _child_pids(log_path)
            pids.update(first.values())
            os.kill(first["recorder"], signal.SIGKILL)
            deadline = time.monotonic() + START_TIMEOUT
            while _child_pids(log_path)["recorder"] == first["recorder"]:
                assert launcher.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.1)
            again = _child_pids(log_path)
            pids.update(again.values())
            assert again["resolver"] == first["resolver"] and again["gateway"] == first["gateway"]
            while not any(r["message"] == "recorder is ready again" for r in _records(log_path)):
                assert launcher.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.1)
            wait_ready(http)
        (restart,) = [r for r in _records(log_path) if r.get("event.action") == "launcher.restart"]
        assert restart["child"] == "recorder" and restart["process.signal"] == "SIGKILL"
        assert restart["attempt"] == 1 and restart["delay_seconds"] == 1
        assert "recorder was killed by SIGKILL" in restart["message"]
        assert _alive(again["recorder"]) and not _alive(first["recorder"])
        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(timeout=60) == 0, log_path.read_text()
        assert not any(_alive(pid) for pid in pids)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
