"""Image magic numbers and a JPEG's frame size, from bytes alone."""

from __future__ import annotations

import struct

import pytest

from servicekit.images import IMAGE_TYPES, jpeg_size, sniff_image
from simlab.fakes.chaturbate_pages import THUMBNAIL


def jpeg_header(width: int, height: int, sof: int = 0xC0, app: bytes = b"JFIF\0") -> bytes:
    """SOI, an APP0 segment, a comment, then a frame header (SOFn) with the given size."""
    app0 = b"\xff\xe0" + struct.pack(">H", 2 + len(app)) + app
    com = b"\xff\xfe" + struct.pack(">H", 2 + 5) + b"hello"
    frame = b"\xff" + bytes([sof]) + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x11\0\0"
    return b"\xff\xd8" + app0 + com + frame + b"\xff\xda\0\x08" + bytes(6)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (THUMBNAIL, "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n" + bytes(20), "image/png"),
        (b"GIF89a" + bytes(10), "image/gif"),
        (b"GIF87a" + bytes(10), "image/gif"),
        (b"RIFF\x10\0\0\0WEBPVP8 ", "image/webp"),
        (b"<!DOCTYPE html><title>Just a moment...</title>", None),
        (b'{"image": "\xff\xd8\xff"}', None),
        (b"RIFF\x10\0\0\0WAVEfmt ", None),  # RIFF, but audio
        (b"\xff\xd8", None),  # too short to be a JPEG
        (b"", None),
    ],
)
def test_an_image_is_told_by_its_magic_number(data: bytes, expected: str | None) -> None:
    assert sniff_image(data) == expected


def test_every_recognised_type_has_a_file_extension() -> None:
    assert set(IMAGE_TYPES) == {"image/jpeg", "image/png", "image/gif", "image/webp"}


def test_the_size_of_a_real_jpeg() -> None:
    assert jpeg_size(THUMBNAIL) == (8, 8)


@pytest.mark.parametrize("sof", [0xC0, 0xC1, 0xC2])
def test_the_size_is_read_from_baseline_and_progressive_frame_headers(sof: int) -> None:
    assert jpeg_size(jpeg_header(1280, 720, sof)) == (1280, 720)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x89PNG\r\n\x1a\n" + bytes(30),
        jpeg_header(320, 180)[:27],  # cut inside the frame header
        b"\xff\xd8\xff\xda\0\x08" + bytes(6),  # a scan before any frame header
        b"\xff\xd8\x00\x00\x00\x00",  # not a marker where one must be
        b"\xff\xd8\xff\xe0\x00\x01",  # a length shorter than its own field
        jpeg_header(0, 180),  # a zero dimension
    ],
)
def test_no_size_for_what_is_not_a_whole_jpeg_header(data: bytes) -> None:
    assert jpeg_size(data) is None
