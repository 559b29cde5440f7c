"""The benchmark's live origin, in a process of its own: ``python -m tools.bench_origin``.

It serves ``simlab.fakes.hls_origin`` streams of one 720p variant (``HD_VARIANT``, 2.5 Mbit/s)
in 2 s segments, and prints one JSON line ``{"base_url", "streams": {name: {"master",
"media"}}}`` once it listens; it serves until SIGTERM or SIGINT.

A process of its own so that the bench can measure what the origin costs apart from the
recorder and the clients, and so that the clients' event loops never wait for the origin's
threads. Segment bytes are cached per (segment, loop pass): the fake origin otherwise rewrites
the timestamps of a segment for every request once the 60 s loop has wrapped, which would make
the origin, not the recorders, the cost that grows with N.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from simlab.fakes import media
from simlab.fakes.hls_origin import HlsOrigin

ROOT = Path(__file__).resolve().parent.parent

_uncached = media.VariantMedia.segment_bytes


@functools.lru_cache(maxsize=96)
def _cached_segment_bytes(self: media.VariantMedia, index: int, loop: int = 0) -> bytes:
    return _uncached(self, index, loop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_origin", description=__doc__)
    parser.add_argument("--stream", action="append", dest="streams", metavar="NAME")
    parser.add_argument("--window", type=int, default=6)
    parser.add_argument("--segment-duration", type=float, default=2.0)
    args = parser.parse_args(argv)
    media.VariantMedia.segment_bytes = _cached_segment_bytes  # type: ignore[method-assign]
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with HlsOrigin(request_log_size=100) as origin:
        streams = {}
        for name in args.streams or ["hd"]:
            origin.add_stream(
                name,
                variants=(media.HD_VARIANT,),
                segment_duration=args.segment_duration,
                window=args.window,
            )
            streams[name] = {"master": origin.url(name), "media": origin.media_url(name, 0)}
        sys.stdout.write(json.dumps({"base_url": origin.base_url, "streams": streams}) + "\n")
        sys.stdout.flush()
        while not done.wait(1.0):
            pass
    return 0


@dataclass
class OriginProcess:
    """A running ``tools.bench_origin``: its process and its stream URLs."""

    proc: subprocess.Popen[str]
    base_url: str
    streams: dict[str, dict[str, str]]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def master(self, name: str = "hd") -> str:
        return self.streams[name]["master"]

    def media(self, name: str = "hd") -> str:
        return self.streams[name]["media"]

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s: by this process's PID only."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@contextlib.contextmanager
def origin_process(
    streams: tuple[str, ...] = ("hd",), log_path: Path | None = None
) -> Iterator[OriginProcess]:
    """Start the origin process (media generated on first use, then cached), yield it, stop it."""
    argv = [sys.executable, "-m", "tools.bench_origin"]
    for name in streams:
        argv += ["--stream", name]
    stderr: Any = log_path.open("ab") if log_path is not None else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(
            argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True, bufsize=1
        )
    finally:
        if log_path is not None:
            stderr.close()
    running: OriginProcess | None = None
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks while the media is generated (once)
        if not line:
            raise RuntimeError(f"the bench origin exited with {proc.wait(10)} before listening")
        info = json.loads(line)
        running = OriginProcess(proc, info["base_url"], info["streams"])
        yield running
    finally:
        if running is not None:
            running.stop()
        elif proc.poll() is None:
            proc.kill()
            proc.wait(5)


if __name__ == "__main__":
    raise SystemExit(main())
