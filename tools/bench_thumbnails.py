"""The ``thumbnails`` case: what pictures cost.

- a live thumbnail's CPU, on a recording of the bench stream (720p, 2.5 Mbit/s): with an ffmpeg
  of its own (``pictures.live_command``, the fallback) and in a batch (the recorder's way:
  keyframes taken out of the files by ``ts_keyframe``, decoded by one ffmpeg), the Python part
  included;
- a finished recording's poster and 4x4 contact sheet, for a recording of a few minutes and
  for a 30-minute one made from it (the cost should not grow with the length);
- what thumbnails add at N = 128 recording (8 in ``--quick``) when a dashboard asks for every
  channel's picture once a minute (``THUMBNAIL_REFRESH``) through the gateway, 6 requests at
  a time like a browser: the recorder's own CPU, its picture ffmpegs (the CPU of the children
  it reaped, ``cutime + cstime``: the recording ffmpegs are its grandchildren and none ends in
  the window) and the gateway's, over a minute with one round of asks against a minute with
  none. The target is under 2 % of a core.
"""

from __future__ import annotations

import asyncio
import resource
import shutil
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from recorder_service.pictures import (
    CANVAS,
    SheetLayout,
    keyframes_command,
    label_font,
    live_command,
    live_window,
    poster_command,
    run_picture,
    sheet_command,
    sheet_times,
    split_jpegs,
    tile_size,
)
from recorder_service.ts_keyframe import keyframe_of
from servicekit.images import jpeg_size
from tools import bench_measure as m
from tools.bench_common import FAST_START_ENV, BenchStack, CaseReport, Context, running_stack

#: The bench stream's byte rate (2.5 Mbit/s video + 64 kbit/s audio), for the live window.
_RATE = (2_500_000 + 64_000) / 8
_BROWSER_CONNECTIONS = 6


def children_cpu(pid: int) -> float:
    """CPU seconds of the children ``pid`` has reaped (``cutime + cstime`` of /proc/pid/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / m.CLK_TCK


def _children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _snapshot(source: Path, into: Path) -> Path:
    """A copy of a growing recording as it is now, cut to whole TS packets."""
    data = source.read_bytes()
    into.write_bytes(data[: len(data) // 188 * 188])
    return into


async def _live_costs(ffmpeg: str, files: list[Path], rounds: int) -> tuple[float, float, int]:
    """CPU seconds per frame with an ffmpeg each, and per frame in one batch of ``files``
    (taking the keyframes out included), and the batch's frame count."""
    source = files[0]
    offset = max(0, source.stat().st_size - live_window(_RATE)) // 188 * 188
    before = _children_seconds()
    for _ in range(rounds):
        await run_picture(live_command(ffmpeg, source, offset, CANVAS["landscape"]), 30)
    alone = (_children_seconds() - before) / rounds
    batched, frames = 0.0, 0
    for _ in range(rounds):
        began_py, before = time.process_time(), _children_seconds()
        units = [u for f in files if (u := keyframe_of(f, live_window(_RATE))) is not None]
        taken = time.process_time() - began_py
        data = await run_picture(keyframes_command(ffmpeg), 60, stdin=b"".join(units))
        frames = len(split_jpegs(data))
        batched += (taken + _children_seconds() - before) / max(1, frames)
    return alone, batched / rounds, frames


async def _sheet_cost(ffmpeg: str, source: Path, duration: float) -> tuple[float, tuple[int, int]]:
    """CPU seconds for the poster and the 4x4 sheet of ``source``, and the sheet's size."""
    before = _children_seconds()
    poster = await run_picture(poster_command(ffmpeg, source, duration / 3), 60)
    w, h = jpeg_size(poster) or (0, 0)
    layout = SheetLayout(4, 4, *tile_size(w, h))
    font = await label_font(ffmpeg)
    argv = sheet_command(
        ffmpeg, source, sheet_times(duration, 16), layout, duration_s=duration, font=font
    )
    sheet = await run_picture(argv, 120)
    return _children_seconds() - before, jpeg_size(sheet) or (0, 0)


def _concat(ffmpeg: str, source: Path, times: int, into: Path) -> Path:
    listing = into.with_suffix(".txt")
    listing.write_text("".join(f"file '{source}'\n" for _ in range(times)))
    subprocess.run(
        [
            *(ffmpeg, "-v", "error", "-f", "concat", "-safe", "0", "-i", str(listing)),
            *("-c", "copy", "-f", "mpegts", "-y", str(into)),
        ],
        check=True,
        timeout=600,
    )
    return into


def _ask_all(base_url: str, persons: list[str]) -> tuple[int, float]:
    """One round of thumbnail requests for every person over 6 kept-alive connections, like a
    browser; (how many were a picture, seconds)."""
    began = time.monotonic()

    def connection(share: list[str]) -> list[int]:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            return [client.get(f"/api/models/{p}/thumbnail").status_code for p in share]

    shares = [persons[i::_BROWSER_CONNECTIONS] for i in range(_BROWSER_CONNECTIONS)]
    with ThreadPoolExecutor(_BROWSER_CONNECTIONS) as pool:
        codes = [c for done in pool.map(connection, shares) for c in done]
    return sum(1 for c in codes if c == 200), time.monotonic() - began


def _window(
    st: BenchStack, seconds: float, during: Callable[[], object] | None = None
) -> dict[str, float]:
    """CPU seconds over ``seconds`` of the recorder itself, its reaped children (pictures)
    and the gateway; ``during`` (a callable) runs at the start of the window."""
    rec, gw = st.recorder_pid, st.pid("gateway")
    cpu0, kids0, t0 = m.cpu_times([rec, gw]), children_cpu(rec), time.monotonic()
    if during is not None:
        during()
    time.sleep(max(0.0, seconds - (time.monotonic() - t0)))
    cpu1, kids1 = m.cpu_times([rec, gw]), children_cpu(rec)
    elapsed = time.monotonic() - t0
    return {
        "seconds": elapsed,
        "recorder": m.cpu_delta_seconds({rec: cpu0[rec]}, {rec: cpu1[rec]}),
        "pictures": kids1 - kids0,
        "gateway": m.cpu_delta_seconds({gw: cpu0[gw]}, {gw: cpu1[gw]}),
    }


def thumbnails_case(ctx: Context) -> CaseReport:
    report = CaseReport("thumbnails", "Pictures: live thumbnails and contact sheets")
    n = 8 if ctx.quick else 128
    refresh = 5.0 if ctx.quick else 60.0
    warmup = 8.0 if ctx.quick else 20.0
    workdir = ctx.workdir("thumbnails")
    env = {**FAST_START_ENV, "THUMBNAIL_REFRESH": str(refresh)}
    persons = [f"thumb{i:03d}" for i in range(n)]
    with running_stack(workdir, env) as st:
        sessions = st.start_sessions(ctx.origin.master(), persons, spread_s=2.0)
        st.wait_all_recording([s.session_id for s in sessions], timeout=60 + n)
        time.sleep(warmup)
        base = st.stack.base_url
        # One round so that every channel has a frame: later rounds refresh behind the answer.
        primed, primed_s = _ask_all(base, persons)
        time.sleep(refresh + 1.0)
        quiet = _window(st, refresh)
        answered: list[tuple[int, float]] = []
        busy = _window(st, refresh, lambda: answered.append(_ask_all(base, persons)))
        ok, round_s = answered[0]
        files = [st.stack.output_dir / rel for s in st.sessions() for rel in s.record_paths[-1:]]
        samples = ctx.workdir("thumbnail-files")
        snaps = [_snapshot(f, samples / f"{i}.ts") for i, f in enumerate(files[:32])]
    added = {k: busy[k] - quiet[k] for k in ("recorder", "pictures", "gateway")}
    total = sum(added.values())
    share = total / busy["seconds"]
    alone, batched, frames = asyncio.run(_live_costs(ctx.ffmpeg, snaps, 3 if ctx.quick else 10))
    duration = snaps[0].stat().st_size / _RATE
    short_cpu, short_size = asyncio.run(_sheet_cost(ctx.ffmpeg, snaps[0], duration))
    copies = 2 if ctx.quick else 12
    long_file = _concat(ctx.ffmpeg, snaps[0], copies, samples / "long.ts")
    long_cpu, _ = asyncio.run(_sheet_cost(ctx.ffmpeg, long_file, duration * copies))
    shutil.rmtree(samples, ignore_errors=True)

    report.add(
        "live thumbnail: CPU per frame, an ffmpeg each / in a batch",
        f"{alone * 1000:.0f} / {batched * 1000:.1f} ms ({frames} frames a batch)",
    )
    minutes = f"{duration / 60:.1f} / {duration * copies / 60:.0f} min"
    report.add(
        f"contact sheet (poster + 4x4): {minutes} file",
        f"{short_cpu:.2f} / {long_cpu:.2f} CPU s",
    )
    report.add(
        f"N={n}: thumbnails added, one per channel per {refresh:.0f} s",
        f"{share * 100:.2f} % of a core",
        "< 2 %",
        share < 0.02,
    )
    rows = [
        [part, f"{quiet[part]:.2f}", f"{busy[part]:.2f}", f"{added[part]:+.2f}"]
        for part in ("recorder", "pictures", "gateway")
    ]
    rows.append(["all", "", "", f"{total:+.2f} ({share * 100:.2f} % of a core)"])
    report.details.append(
        f"CPU seconds over {busy['seconds']:.0f} s with {n} sessions recording, without and "
        f"with one round of {n} thumbnail requests through the gateway ({_BROWSER_CONNECTIONS} "
        "at a time, like a browser):\n\n"
        + m.render_table(["process", "no asks", "one round", "added"], rows)
    )
    report.notes += [
        f"the round: {ok} of {n} answered with a picture in {round_s:.1f} s (the first round, "
        f"before the measured minute, {primed} in {primed_s:.1f} s: the first picture of a "
        "channel is waited for, later ones are refreshed behind the answer)",
        f"a contact sheet is {short_size[0]}x{short_size[1]}; its cost is one seek and one "
        "keyframe decode per tile, whatever the length",
        "per-frame figures are from files recorded by this stack (snapshots of the growing "
        "files); 'in a batch' includes the Python that takes the keyframes out of the files",
    ]
    return report
