"""Stopping escalates: q on stdin, then SIGINT, then SIGKILL, for a process that ignores them."""

import sys
import time

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
