"""Run the fake HLS origin for the demo: ``python -m simlab.fakes --stream demo``.

Logs each stream's master URL, then serves until SIGINT/SIGTERM and exits 0. Faults can be
injected from another process with ``POST /_control/{name}`` (see ``hls_origin.py``).

With ``--site-port`` a fake chaturbate.com runs too, on the same host: one public room per
stream, named after it, whose HLS URL is that stream's master URL on the origin. Point the
resolver at it with ``CHATURBATE_BASE_URL=<site>`` and ``CHATURBATE_THUMBNAIL_BASE_URL=<site>/ri``;
rooms and faults change live through ``<site>/_control`` (see ``chaturbate_site.py``).

With ``--stripchat-port`` and ``--stripchat-cdn-port`` a fake stripchat.com and its fake CDN
run too: one public model per stream, named after it, whose stream is served by the CDN
obfuscated the way Stripchat does it (mouflon ``v2``, the key hidden in the player script).
The settings the resolver needs are logged (``STRIPCHAT_BASE_URL``, ...).
"""

from __future__ import annotations

import argparse
import logging
import re
import signal
import threading
from contextlib import ExitStack
from types import FrameType

from simlab.fakes.chaturbate_site import FakeChaturbate
from simlab.fakes.hls_origin import HlsOrigin
from simlab.fakes.media import DEFAULT_VARIANTS, LADDER_VARIANTS
from simlab.fakes.playlists import FORMATS
from simlab.fakes.stripchat_cdn import StripchatCdn
from simlab.fakes.stripchat_site import FakeStripchat

log = logging.getLogger("simlab.fakes")

DEMO_VIEWERS = 3
#: The demo's Stripchat models get ids from here on, one per stream.
STRIPCHAT_FIRST_ID = 4242


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, serve the streams until a termination signal; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m simlab.fakes", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument(
        "--site-port",
        type=int,
        default=None,
        help="also run a fake chaturbate.com on this port, one public room per stream "
        "(default: no site)",
    )
    parser.add_argument(
        "--stripchat-port",
        type=int,
        default=None,
        help="also run a fake stripchat.com on this port (needs --stripchat-cdn-port)",
    )
    parser.add_argument(
        "--stripchat-cdn-port",
        type=int,
        default=None,
        help="the fake Stripchat CDN's port (mouflon v2 playlists)",
    )
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
    names = args.streams or ["demo"]
    if (args.stripchat_port is None) != (args.stripchat_cdn_port is None):
        parser.error("--stripchat-port and --stripchat-cdn-port go together")
    if args.site_port is not None or args.stripchat_port is not None:
        bad = [name for name in names if not re.fullmatch(r"[A-Za-z0-9_]+", name)]
        if bad:
            parser.error(f"--site-port: room names are [A-Za-z0-9_] only, not {bad}")
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("received signal %d, shutting down", signum)
        done.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    with ExitStack() as running:
        origin = running.enter_context(HlsOrigin(args.host, args.port))
        for name in names:
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
        if args.site_port is not None:
            # Entered last, so it stops first: no room points at a stream that is gone.
            site = running.enter_context(FakeChaturbate(args.host, args.site_port))
            log.info("fake chaturbate.com: %s", site.base_url)
            for name in names:
                room = site.add_room(
                    name,
                    hls_url=origin.url(name),
                    viewers=DEMO_VIEWERS,
                    title=f"{name}: synthetic test stream",
                )
                log.info(
                    "room %s: %s/%s/ (public, HLS %s)",
                    room.username,
                    site.base_url,
                    room.username,
                    room.hls_url,
                )
            log.info("site control: %s/_control (rooms, faults, options)", site.base_url)
        if args.stripchat_port is not None:
            run_stripchat(running, args.host, args.stripchat_port, args.stripchat_cdn_port, names)
        while not done.wait(1.0):
            pass
    return 0


def run_stripchat(
    running: ExitStack, host: str, site_port: int, cdn_port: int, names: list[str]
) -> None:
    """A fake stripchat.com and its CDN: one public model per stream name, mouflon v2."""
    site = running.enter_context(FakeStripchat(host, site_port))
    cdn = running.enter_context(StripchatCdn(host, cdn_port, site=site.base_url))
    for offset, name in enumerate(names):
        model = site.add_room(name, id=STRIPCHAT_FIRST_ID + offset, viewers=DEMO_VIEWERS)
        cdn.add_room(model.id, psch="v2")
        log.info("stripchat model %s: id %d, %s", name, model.id, cdn.master_url(model.id))
    log.info(
        "fake stripchat.com: %s (STRIPCHAT_BASE_URL and STRIPCHAT_IDS_BASE_URL), CDN template "
        "%s (STRIPCHAT_MASTER_URL_TEMPLATE), player %s",
        site.base_url,
        cdn.master_template,
        cdn.player_url,
    )


if __name__ == "__main__":
    raise SystemExit(main())
