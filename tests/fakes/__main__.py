"""Run the fake HLS origin for the demo: ``python -m tests.fakes --stream demo``.

Logs each stream's master URL, then serves until SIGINT/SIGTERM and exits 0. Faults can be
injected from another process with ``POST /_control/{name}`` (see ``hls_origin.py``).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType

from tests.fakes.hls_origin import HlsOrigin
from tests.fakes.media import DEFAULT_VARIANTS, LADDER_VARIANTS
from tests.fakes.playlists import FORMATS

log = logging.getLogger("tests.fakes")


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, serve the streams until a termination signal; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakes", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--stream", action="append", dest="streams", metavar="NAME")
    parser.add_argument("--token", default=None, help="require ?token=... on every stream")
    parser.add_argument("--window", type=int, default=6)
    parser.add_argument("--segment-duration", type=float, default=2.0)
    parser.add_argument("--ladder", action="store_true", help="720p/360p/180p instead of 2 SD")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="ts",
        help="ts (MPEG-TS), cmaf (fMP4 + separate audio) or llhls (LL-HLS); default: ts",
    )
    parser.add_argument(
        "--loop-discontinuity",
        action="store_true",
        help="make every wrap of the 60 s media loop a discontinuity (default: seamless)",
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("received signal %d, shutting down", signum)
        done.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    with HlsOrigin(args.host, args.port) as origin:
        for name in args.streams or ["demo"]:
            origin.add_stream(
                name,
                variants=LADDER_VARIANTS if args.ladder else DEFAULT_VARIANTS,
                segment_duration=args.segment_duration,
                window=args.window,
                token=args.token,
                seamless_loop=not args.loop_discontinuity,
                format=args.format,
            )
            log.info("stream %s: %s", name, origin.url(name))
        log.info(
            "control: %s/_control/<name> (GET state, POST a fault or an action)", origin.base_url
        )
        while not done.wait(1.0):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
