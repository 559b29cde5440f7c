"""Shared by the fuzz modules: a stack that cannot reach the internet, and the after-run checks
(no ffmpeg, every service alive and ready, nothing written outside records/ and sessions/)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from simlab.harness import Stack, free_port

#: Error statuses that mean "a dependency is down" or "the disk is full", not a server bug.
DEPENDENCY_STATUSES = frozenset({503, 504, 507})
ERROR_KEYS = frozenset({"detail", "code", "correlation_id"})
SECRET = b"SECRET-not-a-recording"


def offline_env(closed_port: int | None = None) -> dict[str, str]:
    """Settings for a stack whose every outbound HTTP request fails at once, locally.

    The fake site and any http(s) URL point at a port nothing listens on; the proxy variables
    send whatever else the resolver (httpx) or ffmpeg would fetch to that port too (gRPC
    between the services is loopback and listed in ``no_proxy``)."""
    port = closed_port or free_port()
    dead = f"http://127.0.0.1:{port}"
    env = {
        "CHATURBATE_BASE_URL": dead,
        "CHATURBATE_THUMBNAIL_BASE_URL": f"{dead}/ri",
        "CHATURBATE_LOOKUP_TIMEOUT": "3",
        "RESOLVER_HTTP_TIMEOUT": "2",
        "SITE_RETRIES": "0",
        "SITE_RATE": "1000",
        "SITE_BURST": "1000",
        "SITE_JITTER": "0",
        "AUTORECORD_INTERVAL": "3600",
        "AUTORECORD_JITTER": "0",
        "RETENTION_INTERVAL": "3600",
        "MIN_FREE_BYTES": "0",
        "LOG_LEVEL": "WARNING",
    }
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        env[name] = env[name.upper()] = dead
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"
    return env


def ffmpegs(stack: Stack) -> list[int]:
    """PIDs of every process below the recorder (its ffmpegs)."""
    return stack.services["recorder_service"].descendants()


def wait_no_ffmpeg(stack: Stack, within: float = 10.0) -> list[int]:
    """The recorder's descendants once none are left, or what is still there after ``within``."""
    end = time.monotonic() + within
    left = ffmpegs(stack)
    while left and time.monotonic() < end:
        time.sleep(0.1)
        left = ffmpegs(stack)
    return left


def assert_stack_healthy(stack: Stack) -> None:
    """Every service process alive, the gateway ready, no ffmpeg left running."""
    dead = {n: s.proc.returncode for n, s in stack.services.items() if s.proc.poll() is not None}
    assert not dead, f"services exited: {dead}"
    ready = httpx.get(f"{stack.base_url}/readyz", timeout=5)
    assert ready.status_code == 200, ready.text
    assert wait_no_ffmpeg(stack) == [], "stray ffmpeg under the recorder"


def tree(root: Path) -> set[str]:
    """Every path below ``root``, relative to it."""
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


def created_outside_media(before: set[str], after: set[str]) -> set[str]:
    """Paths that appeared under OUTPUT_DIR other than in records/ or sessions/ (the database's
    journal files come and go with SQLite and are not counted)."""
    new = after - before
    return {
        p
        for p in new
        if not p.startswith(("records/", "sessions/"))
        and p not in ("records", "sessions")
        and not p.startswith("streamrec.db")
    }


def is_error_body(body: Any) -> bool:
    """``{"detail", "code", "correlation_id"}`` with a non-empty detail, code and id."""
    return (
        isinstance(body, dict)
        and ERROR_KEYS <= set(body)
        and all(isinstance(body[k], str) and body[k] for k in ERROR_KEYS)
    )


def secrets(workdir: Path) -> list[Path]:
    """Where a traversal would look: next to OUTPUT_DIR, in it, in records/ and sessions/."""
    output_dir = workdir / "data"
    return [
        workdir / "secret.ts",
        output_dir / "secret.ts",
        output_dir / "records" / "secret.ts",
        output_dir / "sessions" / "secret.ts",
    ]


def plant(workdir: Path, person: str, recording: str) -> None:
    """The secrets, and one recording file (records/{person}/{recording}) so that names which
    pass the checks find one. Before the stack starts: the recorder indexes files at start."""
    for path in secrets(workdir):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(SECRET)
    file = workdir / "data" / "records" / person / recording
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(b"\x47" + bytes(187))
