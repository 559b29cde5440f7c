"""How loud each line ffmpeg writes on stderr is in our logs.

ffmpeg runs at ``-loglevel repeat+level+info`` so that every line carries its level (the
watchdog reads the info lines). A few lines carry none, or an alarming one, although they only
say that the stop we asked for is happening: they are logged at INFO and are not among the
warnings a failed session's reason quotes.
"""

from __future__ import annotations

import logging

# Said while ffmpeg obeys our q, SIGINT or SIGTERM ("Immediate exit requested" is an HTTP read
# cut short by the signal).
_SHUTDOWN_CHATTER = (
    "[q] command received",
    "Exiting normally, received signal",
    "Immediate exit requested",
)


def is_info(line: str) -> bool:
    """True for ffmpeg's own info, verbose and debug lines (read by the watchdog, not logged)."""
    return "[info]" in line or "[verbose]" in line or "[debug]" in line


def line_level(line: str) -> int:
    """The logging level of a line that is not :func:`is_info`: ERROR for ffmpeg's errors,
    INFO for the chatter of a normal stop, WARNING for everything else."""
    if any(marker in line for marker in _SHUTDOWN_CHATTER):
        return logging.INFO
    if "[error]" in line or "[fatal]" in line:
        return logging.ERROR
    return logging.WARNING
