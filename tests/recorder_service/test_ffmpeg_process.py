"""Stopping escalates: q on stdin, then SIGINT, then SIGKILL, for a process that ignores them."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recorder_service.ffmpeg_process import FfmpegProcess
from recorder_service.progress import Progress

IGNORES_EVERYTHING = (
    "import signal, time\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('progress=continue', flush=True)\n"
    "time.sleep(60)\n"
)
QUITS_ON_Q = (
    "import sys\n"
    "print('out_time_us=1000000', flush=True)\n"
    "print('progress=continue', flush=True)\n"
    "sys.stdin.read(1)\n"
    "print('progress=end', flush=True)\n"
)


async def test_a_process_that_ignores_quit_is_killed():
    proc = FfmpegProcess([sys.executable, "-c", IGNORES_EVERYTHING], on_progress=lambda p: None)
    await proc.start()
    started = time.monotonic()
    code = await proc.stop(0.3)
    assert code == -9
    assert time.monotonic() - started < 3


async def test_a_kill_that_reaches_ffmpeg_before_its_wrapper_is_still_a_kill(monkeypatch):
    """Under load the wrapper may reap the killed ffmpeg before its own SIGKILL lands; it then
    exits with the signal's number (9), which is still reported as killed (-9)."""
    proc = FfmpegProcess([sys.executable, "-c", IGNORES_EVERYTHING], on_progress=lambda p: None)
    await proc.start()
    wrapper = proc._proc
    assert wrapper is not None
    if proc.pid == wrapper.pid:
        pytest.skip("no setsid/setpriv wrapper on this machine")
    monkeypatch.setattr(wrapper, "send_signal", lambda sig: None)  # only ffmpeg is killed
    assert await proc.stop(0.3) == -9


async def test_q_on_stdin_is_enough_for_a_cooperative_process():
    seen: list[Progress] = []
    proc = FfmpegProcess([sys.executable, "-c", QUITS_ON_Q], on_progress=seen.append)
    await proc.start()
    assert await proc.stop(5) == 0
    assert [p.ended for p in seen] == [False, True]
    assert seen[0].out_time_s == 1.0


async def test_stderr_lines_are_kept_for_error_messages():
    lines: list[str] = []
    script = "import sys\nfor i in range(30): print(f'line {i}', file=sys.stderr)\nsys.exit(3)"
    proc = FfmpegProcess(
        [sys.executable, "-c", script], on_progress=lambda p: None, on_stderr=lines.append
    )
    await proc.start()
    assert await proc.wait() == 3
    assert len(lines) == 30 and list(proc.stderr_tail)[-1] == "line 29"
    assert len(proc.stderr_tail) == 20


async def test_a_process_that_ignores_quit_is_killed_behind_its_wrapper_too():
    proc = FfmpegProcess([sys.executable, "-c", IGNORES_EVERYTHING], on_progress=lambda p: None)
    await proc.start()
    pid = proc.pid
    assert pid is not None
    await proc.stop(0.3)
    # SIGKILL is delivered asynchronously: the wrapper may be reaped a moment before it.
    for _ in range(40):
        if not _running(pid):
            break
        await asyncio.sleep(0.05)
    assert not _running(pid)


COUNTS_SIGTERMS = (
    "import signal, sys, time\n"
    "count = 0\n"
    "def on_term(*_):\n"
    "    global count\n"
    "    count += 1\n"
    "signal.signal(signal.SIGTERM, on_term)\n"
    "print('progress=continue', flush=True)\n"
    "while count == 0:\n"
    "    time.sleep(0.01)\n"
    "time.sleep(1.0)\n"
    "open(sys.argv[1], 'w').write(str(count))\n"
)

PARENT_WITH_THREADS = (
    "import asyncio, sys, threading, time\n"
    "from recorder_service.ffmpeg_process import FfmpegProcess\n"
    "for _ in range(16):\n"
    "    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
    "async def main():\n"
    "    child = FfmpegProcess([sys.executable, '-c', sys.argv[1], sys.argv[2]],\n"
    "                          on_progress=lambda p: None)\n"
    "    await child.start()\n"
    "    print(child.pid, flush=True)\n"
    "    await asyncio.sleep(60)\n"
    "asyncio.run(main())\n"
)


def test_a_killed_multithreaded_parent_sends_its_child_exactly_one_sigterm(tmp_path):
    """The parent-death signal repeats for every exiting thread of the parent; ffmpeg takes a
    second SIGTERM as "abort", tearing its file. Behind the wrapper it gets exactly one."""
    out = tmp_path / "count"
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT_WITH_THREADS, COUNTS_SIGTERMS, str(out)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        time.sleep(0.3)
        parent.kill()
        parent.wait(5)
        deadline = time.monotonic() + 10
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert out.read_text() == "1"
    finally:
        parent.kill()
        parent.wait(5)
        if _running(child):
            os.kill(child, signal.SIGKILL)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


BATCHED = (
    "import sys, time\n"
    "for i in range(3): sys.stderr.write(f'early {i}\\n'); sys.stderr.flush()\n"
    "print('progress=continue', flush=True)\n"
    "time.sleep(0.3)\n"
    # far more than a default 64 KiB pipe holds, in one go and without a progress block
    "for i in range(5000): sys.stderr.write(f'bulk {i:05d} ' + 'x' * 40 + '\\n')\n"
    "sys.stderr.write('last, without a newline')\n"
    "sys.stderr.flush()\n"
    "sys.exit(2)\n"
)


async def test_batched_stderr_keeps_every_line_in_order_and_before_the_progress_after_it():
    seen: list[str] = []

    def on_progress(progress: Progress) -> None:
        seen.append(f"progress ended={progress.ended}")

    proc = FfmpegProcess(
        [sys.executable, "-c", BATCHED],
        on_progress=on_progress,
        on_stderr=seen.append,
        stderr_batch_s=0.1,
    )
    await proc.start()
    assert await proc.wait() == 2
    # The lines written before the progress block are handled before it.
    assert seen[:4] == ["early 0", "early 1", "early 2", "progress ended=False"]
    bulk = [line for line in seen if line.startswith("bulk")]
    assert bulk == [f"bulk {i:05d} " + "x" * 40 for i in range(5000)]
    assert seen[-1] == "last, without a newline" and proc.stderr_tail[-1] == seen[-1]
    assert proc._stderr_fd is None  # closed at the exit


async def test_batched_stderr_wakes_only_on_its_timer_not_per_line():
    """Lines written one by one are picked up together by the next drain."""
    calls: list[list[str]] = []
    batch: list[str] = []
    script = (
        "import sys, time\n"
        "for i in range(20): sys.stderr.write(f'l{i}\\n'); sys.stderr.flush(); time.sleep(0.01)\n"
        "time.sleep(0.6)\n"
    )
    proc = FfmpegProcess(
        [sys.executable, "-c", script],
        on_progress=lambda p: None,
        on_stderr=batch.append,
        stderr_batch_s=0.5,
    )
    await proc.start()
    await asyncio.sleep(0.1)
    assert batch == []  # written, not yet read
    while proc.returncode is None:
        await asyncio.sleep(0.05)
        if batch:
            calls.append(list(batch))
            batch.clear()
    await proc.wait()
    assert [line for call in calls for line in call] + batch == [f"l{i}" for i in range(20)]
    assert calls and len(calls[0]) == 20  # one drain brought them all
