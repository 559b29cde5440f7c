"""Pictures, the pure parts: names beside a recording, when to take a picture again, tile and
window arithmetic, the ffmpeg commands, and the settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from recorder_service.paths import (
    is_picture_file,
    picture_name,
    picture_names,
    picture_stem,
    room_image_name,
    thumbs_dir,
)
from recorder_service.picture_settings import PictureSettings, contact_sheet
from recorder_service.pictures import (
    SheetLayout,
    live_command,
    live_window,
    poster_command,
    sheet_command,
    sheet_times,
    tile_size,
)
from recorder_service.thumbnails import is_due
from servicekit.errors import InvalidArgument
from servicekit.settings import Env, SettingsError

NAME = "alice_20250601_120000_0123456789ab"

# -- names ------------------------------------------------------------------------------------


def test_pictures_are_named_after_the_recordings_stem() -> None:
    assert picture_name(f"{NAME}.ts", "poster") == f"{NAME}.poster.jpg"
    assert picture_name(f"{NAME}_p3.mp4", "sheet") == f"{NAME}_p3.sheet.jpg"
    assert picture_name(f"{NAME}.mp4", "sheet_index") == f"{NAME}.sheet.json"
    # The TS a remux keeps and its MP4 share their pictures.
    assert picture_names(f"{NAME}.ts") == picture_names(f"{NAME}.mp4")
    with pytest.raises(KeyError):
        picture_name(f"{NAME}.ts", "thumbnail")


@pytest.mark.parametrize(
    ("name", "picture", "stem"),
    [
        (f"{NAME}.poster.jpg", True, NAME),
        (f"{NAME}.sheet.jpg.part", True, NAME),
        (f"{NAME}.sheet.json", True, NAME),
        (f"{NAME}.ts", False, NAME),
        (f"{NAME}.mp4.part", False, NAME),
        ("notes.jpg", False, "notes"),
    ],
)
def test_picture_files_are_told_from_recordings(name: str, picture: bool, stem: str) -> None:
    assert is_picture_file(name) is picture
    assert picture_stem(name) == stem


def test_room_images_live_under_thumbs_and_only_for_plain_channel_names(tmp_path: Path) -> None:
    assert thumbs_dir(tmp_path) == tmp_path / "thumbs"
    assert room_image_name("anna_", "jpg") == "anna_.jpg"
    for channel, ext in [("../etc", "jpg"), ("Anna", "jpg"), ("anna", "svg"), ("", "jpg")]:
        with pytest.raises(InvalidArgument):
            room_image_name(channel, ext)


# -- when to take a picture again ----------------------------------------------------------


@pytest.mark.parametrize(
    ("taken", "tried", "keep", "due"),
    [
        (None, None, False, True),  # nothing yet
        (None, None, True, True),  # nothing yet, even offline
        (None, 95.0, False, False),  # the last try (failed) was 5 s ago
        (None, 80.0, False, True),  # ... 20 s ago: try again
        (50.0, 50.0, False, False),  # fresh: 50 s old
        (40.0, 40.0, False, True),  # 60 s old: stale
        (40.0, 40.0, True, False),  # stale but the channel is offline: the last good one stays
        (10.0, 95.0, False, False),  # stale, but a try is under way or just failed
    ],
)
def test_a_picture_is_taken_again_only_when_stale_and_not_just_tried(
    taken: float | None, tried: float | None, keep: bool, due: bool
) -> None:
    assert is_due(100.0, taken, tried, refresh_s=60.0, retry_s=15.0, keep=keep) is due


# -- arithmetic -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "tile"),
    [
        ((1280, 720), (320, 180)),
        ((640, 480), (320, 240)),
        ((720, 1280), (180, 320)),  # a phone held upright
        ((641, 361), (320, 180)),  # odd sizes: even tiles
        ((0, 0), (320, 180)),
    ],
)
def test_a_tile_keeps_the_videos_shape_within_320_pixels(
    size: tuple[int, int], tile: tuple[int, int]
) -> None:
    assert tile_size(*size) == tile


def test_tiles_are_asked_for_at_the_start_of_equal_slices() -> None:
    assert sheet_times(160.0, 4) == [0.0, 40.0, 80.0, 120.0]
    layout = SheetLayout(4, 3, 320, 180)
    assert (layout.tiles, layout.size) == (12, (1280, 540))


def test_the_live_window_is_six_seconds_of_bytes_within_bounds() -> None:
    assert live_window(312_500) == 1_875_000  # 2.5 Mbit/s
    assert live_window(1_000) == 256 * 1024
    assert live_window(10_000_000) == 8 * 1024 * 1024
    assert live_window(0) == 6_000_000  # unknown rate: 1 MB/s is assumed


# -- commands ---------------------------------------------------------------------------------


def _inputs(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == "-i"]


def test_a_live_frame_is_read_from_a_byte_offset_of_the_file_only() -> None:
    argv = live_command("ffmpeg", Path("/data/records/a/x.ts"), 1_000_000)
    assert _inputs(argv) == ["file:/data/records/a/x.ts"]
    i = argv.index("-i")
    options = argv[:i]
    assert options[options.index("-protocol_whitelist") + 1] == "file"
    assert options[options.index("-format_whitelist") + 1] == "mpegts"
    assert options[options.index("-skip_initial_bytes") + 1] == "1000000"
    assert options[options.index("-skip_frame") + 1] == "nokey"
    assert argv[-1] == "pipe:1" and argv[argv.index("-frames:v") + 1] == "1"


def test_a_poster_seeks_to_a_keyframe_and_reads_ts_or_mp4() -> None:
    argv = poster_command("ffmpeg", Path("/d/x.mp4"), 12.3456)
    assert argv[argv.index("-ss") + 1] == "12.346"
    assert "-noaccurate_seek" in argv
    assert argv[argv.index("-format_whitelist") + 1] == "mpegts,mov"


def test_a_sheet_has_one_seek_per_tile_and_labels_only_with_a_font() -> None:
    layout = SheetLayout(2, 2, 320, 180)
    times = sheet_times(100.0, 4)
    argv = sheet_command("ffmpeg", Path("/d/x.ts"), times, layout, duration_s=100.0, font=None)
    assert len(_inputs(argv)) == 4
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-ss"] == [
        "0.000",
        "25.000",
        "50.000",
        "75.000",
    ]
    graph = argv[argv.index("-filter_complex") + 1]
    assert "drawtext" not in graph and "tile=2x2" in graph
    font = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    labelled = sheet_command("ffmpeg", Path("/d/x.ts"), times, layout, duration_s=100.0, font=font)
    graph = labelled[labelled.index("-filter_complex") + 1]
    assert graph.count(f"drawtext=fontfile={font}:") == 4
    assert "pts\\:gmtime\\:50.000" in graph
    with pytest.raises(ValueError):
        sheet_command("ffmpeg", Path("/d/x.ts"), times[:3], layout, duration_s=100.0, font=None)


# -- settings ---------------------------------------------------------------------------------


def test_picture_settings_defaults_and_switches() -> None:
    assert PictureSettings.from_env(Env({})) == PictureSettings()
    off = PictureSettings.from_env(Env({"THUMBNAILS": "off", "CONTACT_SHEET": "off"}))
    assert (off.enabled, off.sheet) == (False, None)
    assert contact_sheet("3X5") == (3, 5)
    for bad in ("4", "0x4", "11x2", "4x4x4", "big"):
        with pytest.raises(SettingsError):
            contact_sheet(bad)
