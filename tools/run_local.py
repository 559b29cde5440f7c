"""Run streamrec locally: ``make run`` (resolver, recorder, gateway) and ``make demo``.

Starts each service as a child process, in order, and waits until it is ready before starting
the next one; a child that fails before everything is up stops everything (a service that
cannot start at all needs a look, not a retry). Once all are up it supervises them: a service
that exits is started again after a backoff (1 s, doubling up to 30 s; back to 1 s once it has
stayed up a minute) and waited for until it is ready, each restart logged as
``launcher.restart``; a service that exits with EXIT_BAD_SETTINGS (a malformed setting, which a
restart cannot mend) stops everything instead. Ctrl-C or SIGTERM stops them in reverse order
(gateway, recorder, resolver, then the demo's fakes) by sending SIGTERM to each child's PID,
also while a restart is pending or a restarted child is starting, and SIGKILLs a child that
outlives its budget. The children run in their own sessions, so a terminal's Ctrl-C reaches
only this launcher, which decides the order. The launcher never loads grpc: it forks every
child (a restart too), and a fork in a process with gRPC in it can hang (grpc/grpc#37259), so
the gRPC services' readiness is asked by ``python -m servicekit.healthcheck`` and the children
get ``GRPC_ENABLE_FORK_SUPPORT=false``.

``--demo`` first starts ``python -m simlab.fakes``: a synthetic live HLS origin and a fake
chaturbate.com whose public room ``demo`` streams from it. The services get
``CHATURBATE_BASE_URL`` and ``CHATURBATE_THUMBNAIL_BASE_URL`` pointing at that fake site, always
(a value already in the environment is replaced, and the launcher says so): the demo must never
reach the real site. The demo recording is then started by username, so it goes through the
whole path: site lookup, CDN playlist, ffmpeg. With Stripchat ports
(``--demo-stripchat-port``, ``--demo-stripchat-cdn-port``, 8092 and 8093 by default; 0: none)
a fake stripchat.com and its CDN run too, the ``STRIPCHAT_*`` settings point at them the
same way, and ``stripchat:demo`` is recorded as well: its playlists are obfuscated (mouflon
v2) and decoded on every reload.
"""

from __future__ import annotations

import os

# First, before anything that could load grpc: its C core reads this once, when it loads, and
# with fork support on it installs fork handlers that can hang a fork for good
# (grpc/grpc#37259; ``make run`` hung in 1 start of 13 while this module imported grpc before
# servicekit could set it). The launcher no longer loads grpc at all (see grpc_ready); this
# keeps any later import from bringing the handlers back.
os.environ["GRPC_ENABLE_FORK_SUPPORT"] = "false"

import argparse
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import httpx

from servicekit.logs import setup_logging
from servicekit.proc import die_with_parent
from servicekit.settings import EXIT_BAD_SETTINGS

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("launcher")


def _act(action: str, **context: object) -> dict[str, object]:
    """The ``extra=`` of a launcher log record: its event.action plus context."""
    return {"event.action": f"launcher.{action}", **context}


@dataclass(frozen=True)
class Child:
    """One service to run: its command, a readiness probe and how long it may take to stop."""

    name: str
    argv: Sequence[str]
    ready: Callable[[], bool]
    stop_budget: float = 10.0


@dataclass(frozen=True)
class RestartPolicy:
    """How the launcher restarts a service that exited on its own."""

    first_delay: float = 1.0
    max_delay: float = 30.0
    #: Up this long (seconds since it was started), a service's next exit is a first one again.
    stable_after: float = 60.0
    #: This many restarts in a row are logged as an error: the service keeps dying.
    crash_loop: int = 5


@dataclass(frozen=True)
class Restart:
    """Start the service again after ``delay`` seconds; ``attempt`` counts restarts in a row."""

    attempt: int
    delay: float


@dataclass(frozen=True)
class GiveUp:
    """Do not restart: stop everything, saying ``reason``."""

    reason: str


def restart_decision(
    returncode: int, uptime: float, attempts: int, policy: RestartPolicy
) -> Restart | GiveUp:
    """What to do about a service that exited with ``returncode`` after ``uptime`` seconds,
    having been restarted ``attempts`` times in a row before."""
    if returncode == EXIT_BAD_SETTINGS:
        return GiveUp("a setting is malformed (its line above names it); fix it and start again")
    attempt = 1 if uptime >= policy.stable_after else attempts + 1
    delay = policy.first_delay * 2 ** min(attempt - 1, 30)
    return Restart(attempt, min(policy.max_delay, delay))


def describe_exit(returncode: int) -> tuple[str, dict[str, object]]:
    """``returncode`` in words ("was killed by SIGKILL", "exited with code 1") and as log
    fields."""
    if returncode < 0:
        name = signal.Signals(-returncode).name
        return f"was killed by {name}", {"process.exit_code": returncode, "process.signal": name}
    return f"exited with code {returncode}", {"process.exit_code": returncode}


def grpc_ready(addr: str, env: Mapping[str, str]) -> Callable[[], bool]:
    """A probe that is true once the gRPC health service at ``addr`` answers SERVING.

    It asks through ``python -m servicekit.healthcheck`` (about 0.1 s a probe), in a process
    of its own: a gRPC channel in the launcher would leave gRPC's threads running here, and
    every child is started with a real fork (``preexec_fn`` rules out vfork), which is where
    grpc/grpc#37259 hangs. Without grpc the launcher is single-threaded when it forks. The
    check reads ``env``'s GRPC_TLS_* settings, so it speaks TLS when the services do.
    """
    argv = [sys.executable, "-m", "servicekit.healthcheck", "--timeout", "1", "grpc", addr]

    def probe() -> bool:
        try:
            checked = subprocess.run(
                argv, env=dict(env), cwd=ROOT, capture_output=True, timeout=5, check=False
            )
        except subprocess.TimeoutExpired:  # run() has killed it
            return False
        return checked.returncode == 0

    return probe


def http_ready(url: str) -> Callable[[], bool]:
    """A probe that is true once ``GET url`` answers 200."""

    def probe() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    return probe


@dataclass
class _Slot:
    """A started child: its current process and where its supervision stands."""

    child: Child
    proc: subprocess.Popen[bytes]
    started_at: float
    attempts: int = 0  # restarts in a row (RestartPolicy.stable_after resets it)
    restart_at: float | None = None  # a restart is pending: when it starts
    ready_by: float | None = None  # a restarted child is starting: its readiness deadline


class Launcher:
    """Starts children in order, restarts one that exits, and stops them in reverse order."""

    def __init__(
        self,
        children: Sequence[Child],
        *,
        env: Mapping[str, str] | None = None,
        ready_timeout: float = 30.0,
        on_ready: Callable[[], bool] | None = None,
        poll_interval: float = 0.1,
        restart_policy: RestartPolicy | None = None,
    ) -> None:
        self.children = list(children)
        self.env = dict(os.environ if env is None else env)
        self.ready_timeout = ready_timeout
        self.on_ready = on_ready
        self.poll_interval = poll_interval
        self.restart_policy = restart_policy or RestartPolicy()
        self.started: list[_Slot] = []
        self.signalled: int | None = None

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Only set a flag: logging or waiting inside a signal handler can deadlock.
        self.signalled = signum

    def run(self) -> int:
        """Run until a signal (exit code 0) or a failure (non-zero); always stops every child."""
        handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in handled}
        try:
            code = self._start_and_watch()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        log.info("stopped", extra=_act("stopped", exit_code=code))
        return code

    def _start_and_watch(self) -> int:
        for child in self.children:
            if self.signalled is not None:
                return 0
            self.started.append(_Slot(child, self._spawn(child), time.monotonic()))
            if not self._wait_ready(child):
                return 0 if self.signalled is not None else 1
        if self.on_ready is not None and not self.on_ready():
            return 1
        while self.signalled is None:
            for slot in self.started:
                if not self._supervise(slot):
                    return 1
            time.sleep(self.poll_interval)
        log.info("received signal %d, stopping", self.signalled, extra=_act("stopping"))
        return 0

    def _spawn(self, child: Child) -> subprocess.Popen[bytes]:
        # Own session: a Ctrl-C reaches only the launcher, which stops children in order.
        # die_with_parent: a SIGKILLed launcher still takes its children down with it.
        proc = subprocess.Popen(
            child.argv,
            env=self.env,
            cwd=ROOT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        log.info("started %s (pid %d)", child.name, proc.pid, extra=_act("child_start"))
        return proc

    def _supervise(self, slot: _Slot) -> bool:
        """One look at a child once everything was up: restart it when it is due, follow its
        readiness, schedule a restart when it exited. False: give up (stop everything)."""
        now = time.monotonic()
        if slot.restart_at is not None:
            if now >= slot.restart_at:
                slot.restart_at = None
                slot.proc, slot.started_at = self._spawn(slot.child), now
                slot.ready_by = now + self.ready_timeout
            return True
        returncode = slot.proc.poll()
        if returncode is not None:
            return self._plan_restart(slot, returncode, now)
        if slot.ready_by is not None:
            name = slot.child.name
            if slot.child.ready():
                slot.ready_by = None
                log.info("%s is ready again", name, extra=_act("child_ready", child=name))
            elif time.monotonic() >= slot.ready_by:
                slot.ready_by = None
                msg = "%s did not come up within %.0f s; restarting it"
                log.error(msg, name, self.ready_timeout, extra=_act("ready_timeout", child=name))
                self._stop(slot)  # its exit is seen at the next look, and restarted from there
        return True

    def _plan_restart(self, slot: _Slot, returncode: int, now: float) -> bool:
        name, uptime = slot.child.name, now - slot.started_at
        how, fields = describe_exit(returncode)
        decision = restart_decision(returncode, uptime, slot.attempts, self.restart_policy)
        if isinstance(decision, GiveUp):
            msg = "%s %s: %s; stopping everything"
            log.error(msg, name, how, decision.reason, extra=_act("give_up", child=name, **fields))
            return False
        slot.attempts, slot.restart_at, slot.ready_by = decision.attempt, now + decision.delay, None
        looping = decision.attempt >= self.restart_policy.crash_loop
        log.log(
            logging.ERROR if looping else logging.WARNING,
            "%s %s after %.1f s up; restarting it in %.0f s (restart %d in a row%s)",
            name,
            how,
            uptime,
            decision.delay,
            decision.attempt,
            ": it keeps dying" if looping else "",
            extra=_act(
                "restart",
                child=name,
                attempt=decision.attempt,
                delay_seconds=decision.delay,
                uptime_seconds=round(uptime, 3),
                **fields,
            ),
        )
        return True

    def _any_exited(self) -> bool:
        """Whether a started child has exited on its own (logged as an error)."""
        for slot in self.started:
            if (returncode := slot.proc.poll()) is not None:
                how, fields = describe_exit(returncode)
                if returncode == EXIT_BAD_SETTINGS:
                    how += " (a malformed setting: its line above names it)"
                msg = "%s exited unexpectedly: it %s; stopping the others"
                log.error(msg, slot.child.name, how, extra=_act("child_exit", **fields))
                return True
        return False

    def _wait_ready(self, child: Child) -> bool:
        """True once ``child`` is ready; False on a signal, an early exit or the timeout."""
        deadline = time.monotonic() + self.ready_timeout
        while self.signalled is None:
            if self._any_exited():
                return False
            if child.ready():
                log.info("%s is ready", child.name, extra=_act("child_ready"))
                return True
            if time.monotonic() >= deadline:
                msg = "%s did not come up within %.0f s; stopping everything"
                log.error(msg, child.name, self.ready_timeout, extra=_act("ready_timeout"))
                return False
            time.sleep(self.poll_interval)
        return False

    def _stop_all(self) -> None:
        # A child whose restart is pending has no process to stop (its last one exited).
        for slot in reversed(self.started):
            self._stop(slot)

    def _stop(self, slot: _Slot) -> None:
        child, proc = slot.child, slot.proc
        if proc.poll() is not None:
            return
        log.info("stopping %s (pid %d)", child.name, proc.pid)
        proc.send_signal(signal.SIGTERM)  # by PID, never by name
        try:
            proc.wait(timeout=child.stop_budget)
        except subprocess.TimeoutExpired:
            msg = "%s did not stop within %.0f s; killing it"
            log.warning(msg, child.name, child.stop_budget, extra=_act("child_kill"))
            proc.kill()
            proc.wait()


def local_env(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` plus the local defaults for every setting it leaves unset."""
    env = dict(base)
    env.setdefault("RESOLVER_PORT", "50051")
    env.setdefault("RECORDER_PORT", "50052")
    env.setdefault("RESOLVER_ADDR", f"127.0.0.1:{env['RESOLVER_PORT']}")
    env.setdefault("RECORDER_ADDR", f"127.0.0.1:{env['RECORDER_PORT']}")
    env.setdefault("GATEWAY_HOST", "127.0.0.1")
    env.setdefault("GATEWAY_PORT", "8080")
    env.setdefault("OUTPUT_DIR", str(ROOT / "data"))
    # Always off for the children, even over a value of the caller's: they fork only to exec
    # (ffmpeg, with a preexec_fn), which gRPC's fork handlers can hang (grpc/grpc#37259).
    env["GRPC_ENABLE_FORK_SUPPORT"] = "false"
    return env


def gateway_url(env: Mapping[str, str]) -> str:
    """The base URL the gateway answers on, from this machine."""
    host = env["GATEWAY_HOST"]
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{env['GATEWAY_PORT']}"


@dataclass(frozen=True)
class Demo:
    """The demo's fakes: the HLS origin's port and the fake chaturbate.com's port."""

    origin_port: int
    site_port: int
    username: str = "demo"
    #: The fake stripchat.com's and its CDN's ports (None: no Stripchat in the demo).
    stripchat_port: int | None = None
    stripchat_cdn_port: int | None = None

    @property
    def origin_url(self) -> str:
        """The master playlist of the demo stream on the origin."""
        return f"http://127.0.0.1:{self.origin_port}/live/{self.username}/master.m3u8"

    @property
    def site_url(self) -> str:
        """The base URL of the fake chaturbate.com."""
        return f"http://127.0.0.1:{self.site_port}"

    @property
    def stripchat_url(self) -> str | None:
        """The base URL of the fake stripchat.com (None without one)."""
        return None if self.stripchat_port is None else f"http://127.0.0.1:{self.stripchat_port}"

    @property
    def stripchat_cdn_url(self) -> str | None:
        """The base URL of the fake Stripchat CDN (None without one)."""
        port = self.stripchat_cdn_port
        return None if port is None else f"http://127.0.0.1:{port}"

    def argv(self) -> list[str]:
        """The command that runs the fakes."""
        ports = ["--port", str(self.origin_port), "--site-port", str(self.site_port)]
        if self.stripchat_port is not None and self.stripchat_cdn_port is not None:
            ports += ["--stripchat-port", str(self.stripchat_port)]
            ports += ["--stripchat-cdn-port", str(self.stripchat_cdn_port)]
        return [sys.executable, "-m", "simlab.fakes", *ports, "--stream", self.username]

    def ready(self) -> Callable[[], bool]:
        """True once the origin serves the stream and the sites know the room."""
        probes = [
            http_ready(self.origin_url),
            http_ready(f"{self.site_url}/api/chatvideocontext/{self.username}/"),
        ]
        if self.stripchat_url is not None:
            cam = f"/api/front/v2/models/username/{self.username}/cam"
            probes.append(http_ready(f"{self.stripchat_url}{cam}"))
        return lambda: all(probe() for probe in probes)


def demo_env(env: Mapping[str, str], demo: Demo) -> dict[str, str]:
    """``env`` with the resolver pointed at the demo's fake site (replacing any other site)."""
    wanted = {
        "CHATURBATE_BASE_URL": demo.site_url,
        "CHATURBATE_THUMBNAIL_BASE_URL": f"{demo.site_url}/ri",
    }
    if demo.stripchat_url is not None and demo.stripchat_cdn_url is not None:
        cdn = demo.stripchat_cdn_url
        wanted |= {
            "STRIPCHAT_BASE_URL": demo.stripchat_url,
            "STRIPCHAT_IDS_BASE_URL": demo.stripchat_url,
            "STRIPCHAT_IMAGE_BASE_URL": demo.stripchat_url,
            "STRIPCHAT_MASTER_URL_TEMPLATE": (
                f"{cdn}/edge-hls.doppiocdn.{{tld}}/hls/{{id}}/master/{{id}}_auto.m3u8"
            ),
            "STRIPCHAT_PLAYER_URL": f"{cdn}/player/mmp/v7/main.js",
        }
    for name, value in wanted.items():
        if env.get(name, value) != value:
            log.warning(
                "demo: %s=%s replaced by the fake site's %s",
                name,
                env[name],
                value,
                extra=_act("demo_env"),
            )
    # The fake site knows no cookie or affiliate code: the demo runs without them.
    site_secrets = ("CHATURBATE_COOKIE", "CHATURBATE_AFFILIATE_CODE", "STRIPCHAT_COOKIE")
    secrets = [name for name in site_secrets if env.get(name)]
    for name in secrets:
        log.warning("demo: %s is ignored (the fake site needs none)", name, extra=_act("demo_env"))
    return {**env, **wanted, **dict.fromkeys(secrets, "")}


def service_children(env: Mapping[str, str], demo: Demo | None = None) -> list[Child]:
    """The children to start, in order: the demo's fakes (if any), resolver, recorder, gateway."""
    py = sys.executable
    grace = float(env.get("SHUTDOWN_GRACE", "25")) + 5
    children: list[Child] = []
    if demo is not None:
        children.append(Child("demo origin and site", demo.argv(), demo.ready()))
    resolver_addr = f"127.0.0.1:{env['RESOLVER_PORT']}"
    recorder_addr = f"127.0.0.1:{env['RECORDER_PORT']}"
    return [
        *children,
        Child("resolver", [py, "-m", "resolver_service"], grpc_ready(resolver_addr, env)),
        Child("recorder", [py, "-m", "recorder_service"], grpc_ready(recorder_addr, env), grace),
        Child("gateway", [py, "-m", "gateway"], http_ready(f"{gateway_url(env)}/readyz")),
    ]


def announce(env: Mapping[str, str], demo: Demo | None) -> Callable[[], bool]:
    """What to do once everything is up: log the URL and, for the demo, start a recording of
    the fake site's room by username (site lookup, then the CDN, then ffmpeg)."""

    def ready() -> bool:
        base = gateway_url(env)
        log.info("streamrec is up: %s (docs at /docs)", base, extra=_act("ready"))
        if demo is None:
            return True
        ok = start(base, demo.username, "Demo stream", demo.site_url, demo.origin_url)
        if ok:
            log.info(
                "also try: curl %s/api/model/%s/status (the room's status from the fake site)",
                base.removeprefix("http://"),
                demo.username,
                extra=_act("demo_hint"),
            )
        if demo.stripchat_url is not None:
            target = f"stripchat:{demo.username}"
            cdn = demo.stripchat_cdn_url or ""
            ok = start(base, target, "Demo stream (Stripchat)", demo.stripchat_url, cdn) and ok
        return ok

    def start(base: str, target: str, name: str, site: str, origin: str) -> bool:
        try:
            reply = httpx.post(
                f"{base}/api/start", json={"target": target, "name": name}, timeout=40
            )
            reply.raise_for_status()
            data = reply.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.error(
                "could not start the demo recording of %s: %s",
                target,
                exc,
                extra=_act("demo_failed"),
            )
            return False
        session_id = data.get("session_id", "?")
        folder = str(data.get("record_path") or "").rsplit("/", 1)[0] or f"records/{target}"
        log.info(
            "demo recording %s of %s started (fake site %s, origin %s); live preview: "
            "%s/streams/sessions/%s/stream.m3u8; the recording grows under %s",
            session_id,
            target,
            site,
            origin,
            base,
            session_id,
            Path(env["OUTPUT_DIR"]) / folder,
            extra=_act("demo_started", session_id=session_id, target=target),
        )
        return True

    return ready


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, run the services until Ctrl-C or SIGTERM; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m tools.run_local", description=__doc__)
    parser.add_argument("--demo", action="store_true", help="also record a local synthetic stream")
    parser.add_argument(
        "--demo-port",
        type=int,
        default=int(os.environ.get("DEMO_ORIGIN_PORT", "8090")),
        help="port of the demo's fake HLS origin (DEMO_ORIGIN_PORT, default 8090)",
    )
    parser.add_argument(
        "--demo-site-port",
        type=int,
        default=int(os.environ.get("DEMO_SITE_PORT", "8091")),
        help="port of the demo's fake chaturbate.com (DEMO_SITE_PORT, default 8091)",
    )
    parser.add_argument(
        "--demo-stripchat-port",
        type=int,
        default=int(os.environ.get("DEMO_STRIPCHAT_PORT", "8092")),
        help="port of the demo's fake stripchat.com (DEMO_STRIPCHAT_PORT, default 8092; 0: "
        "no Stripchat in the demo)",
    )
    parser.add_argument(
        "--demo-stripchat-cdn-port",
        type=int,
        default=int(os.environ.get("DEMO_STRIPCHAT_CDN_PORT", "8093")),
        help="port of the demo's fake Stripchat CDN (DEMO_STRIPCHAT_CDN_PORT, default 8093)",
    )
    args = parser.parse_args(argv)
    with_stripchat = bool(args.demo_stripchat_port and args.demo_stripchat_cdn_port)
    setup_logging("launcher")
    env = local_env(os.environ)
    demo = (
        Demo(
            args.demo_port,
            args.demo_site_port,
            stripchat_port=args.demo_stripchat_port if with_stripchat else None,
            stripchat_cdn_port=args.demo_stripchat_cdn_port if with_stripchat else None,
        )
        if args.demo
        else None
    )
    if demo is not None:
        env = demo_env(env, demo)
    children = service_children(env, demo)
    return Launcher(children, env=env, on_ready=announce(env, demo)).run()


if __name__ == "__main__":
    raise SystemExit(main())
