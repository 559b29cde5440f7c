"""The level at which each ffmpeg stderr line is logged."""

from __future__ import annotations

import logging

import pytest

from recorder_service.ffmpeg_output import is_info, line_level


@pytest.mark.parametrize(
    "line",
    [
        "[q] command received. Exiting.",  # q on stdin: the normal stop (no level tag)
        "[info] Exiting normally, received signal 2.",
        "[https @ 0x55d1] [error] Immediate exit requested",  # a read cut short by SIGINT
    ],
)
def test_the_chatter_of_a_normal_stop_is_info(line):
    assert line_level(line) == logging.INFO


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ("[hls @ 0x5] [warning] skipping 3 segments ahead, expired from playlists", 30),
        ("[hls @ 0x5] [error] Failed to open segment 7 of playlist 0", 40),
        ("[fatal] Conversion failed!", 40),
        ("something ffmpeg said without a level", 30),
    ],
)
def test_warnings_and_errors_keep_their_level(line, level):
    assert line_level(line) == level


def test_info_lines_are_told_apart():
    assert is_info("[hls @ 0x5] [info] Opening 'https://cdn/seg1.ts' for reading")
    assert not is_info("[q] command received. Exiting.")
