from datetime import UTC, datetime
from pathlib import Path

import pytest

from recorder_service.paths import (
    inferred_person,
    inside,
    output_dir_of,
    person_dir,
    record_file,
    record_file_name,
    record_rel,
    records_root,
    slugify,
    split_record_rel,
    stored_rel,
    thumbs_dir,
    validate_person,
)
from servicekit.errors import InvalidArgument


@pytest.mark.parametrize(
    ("raw", "slug"),
    [
        ("Alice", "alice"),
        ("Zoë Café", "zoe-cafe"),
        ("a__b", "a__b"),
        ("***", "stream"),
        ("x" * 99, "x" * 64),
    ],
)
def test_slugify(raw, slug):
    assert slugify(raw) == slug


@pytest.mark.parametrize(
    "bad",
    [
        *("", "   ", ".", "..", "../etc", "x..y", "a/b", "a\\b", "/abs", "nul\0"),
        *(".hidden", "tab\tname", "new\nline", "x" * 201),
    ],
)
def test_explicit_person_names_that_could_escape_are_refused(bad):
    with pytest.raises(InvalidArgument) as err:
        validate_person(bad)
    assert err.value.reason == "INVALID_PERSON"


def test_explicit_person_is_slugified():
    assert validate_person("Test User") == "test-user"


def test_record_file_name_follows_the_architecture():
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    name = record_file_name("alice", started, "abc123")
    local = started.astimezone().strftime("%Y%m%d_%H%M%S")
    assert name == f"alice_{local}_abc123.ts"
    assert record_file_name("alice", started, "abc123", part=2).endswith("_abc123_p2.ts")


def test_inside_refuses_escapes(tmp_path: Path):
    assert inside(tmp_path, "records/a.ts") == tmp_path.resolve() / "records" / "a.ts"
    for bad in ("../x", "/etc/passwd", "records/../../x"):
        with pytest.raises(InvalidArgument):
            inside(tmp_path, bad)


@pytest.mark.parametrize("name", ["anna_", "_anna", "anna", "a__b", "___", "Anna_X"])
def test_a_name_that_is_already_a_folder_name_is_kept_as_is(name):
    """A watch-list username is its recording folder: 'anna_' and 'anna' must not merge."""
    assert validate_person(name) == name.lower()


# -- the layout: OUTPUT_DIR/records/{person}/{file} -------------------------------------------

_BAD_NAMES = ["", ".", "..", "x..y", "a/b", "a\\b", "/abs", "nul\0", ".hidden", "new\nline"]


def test_records_root_and_person_dir(tmp_path):
    assert records_root(tmp_path) == tmp_path / "records"
    assert person_dir(tmp_path, "alice") == tmp_path / "records" / "alice"


@pytest.mark.parametrize(
    ("person", "file_name", "rel"),
    [
        (
            "alice",
            "alice_20250601_120000_0123456789ab.ts",
            "records/alice/alice_20250601_120000_0123456789ab.ts",
        ),
        ("stripchat-alice", "a.mp4", "records/stripchat-alice/a.mp4"),
        # ffmpeg's name patterns are names too
        (
            "bob",
            "bob_%Y%m%d_%H%M%S_0123456789ab.ts",
            "records/bob/bob_%Y%m%d_%H%M%S_0123456789ab.ts",
        ),
        ("Old Stuff", "clip.ts", "records/Old Stuff/clip.ts"),  # a folder made by hand
    ],
)
def test_record_rel_round_trips(person, file_name, rel):
    assert record_rel(person, file_name) == rel
    assert split_record_rel(rel) == (person, file_name)
    assert stored_rel(person, file_name) == rel


@pytest.mark.parametrize("bad", _BAD_NAMES)
def test_bad_person_is_refused(tmp_path, bad):
    for build in (lambda: record_rel(bad, "a.ts"), lambda: person_dir(tmp_path, bad)):
        with pytest.raises(InvalidArgument) as err:
            build()
        assert err.value.reason == "INVALID_PERSON"


@pytest.mark.parametrize("bad", _BAD_NAMES)
def test_bad_file_name_is_refused(bad):
    with pytest.raises(InvalidArgument) as err:
        record_rel("alice", bad)
    assert err.value.reason == "INVALID_FILE_NAME"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "records",
        "records/",
        "records/alice",
        "records/alice/",
        "records//a.ts",
        "records/alice/sub/a.ts",
        "records/../a.ts",
        "records/alice/../a.ts",
        "records/../../etc/passwd",
        "/records/alice/a.ts",
        "/etc/passwd",
        "sessions/0123456789ab/stream.m3u8",
        "thumbs/alice.jpg",
        "records\\alice\\a.ts",
        "records/alice/a\0.ts",
        "records/.hidden/a.ts",
    ],
)
def test_split_record_rel_refuses_anything_else(bad):
    with pytest.raises(InvalidArgument) as err:
        split_record_rel(bad)
    assert err.value.reason == "INVALID_PATH"


def test_record_file_stays_inside_records(tmp_path):
    outside = tmp_path / "victim.ts"
    outside.write_bytes(b"v")
    (tmp_path / "records" / "eve").mkdir(parents=True)
    (tmp_path / "records" / "eve" / "link.ts").symlink_to(outside)
    assert record_file(tmp_path, "eve", "a.ts") == tmp_path / "records" / "eve" / "a.ts"
    with pytest.raises(InvalidArgument) as err:
        record_file(tmp_path, "eve", "link.ts")
    assert err.value.reason == "INVALID_PATH"
    for person, name in [("..", "victim.ts"), ("eve", "../../victim.ts"), ("eve", "/abs.ts")]:
        with pytest.raises(InvalidArgument):
            record_file(tmp_path, person, name)


def test_output_dir_of(tmp_path):
    rel = record_rel("alice", "a.ts")
    assert output_dir_of(tmp_path / rel) == tmp_path
    for bad in (tmp_path / "sessions" / "alice" / "a.ts", Path("a.ts"), Path("records/a.ts")):
        with pytest.raises(ValueError):
            output_dir_of(bad)


def test_thumbs_dir(tmp_path):
    assert thumbs_dir(tmp_path) == tmp_path / "thumbs"


@pytest.mark.parametrize(
    ("hint", "target", "folder"),
    [
        ("anna", "anna", "anna"),
        ("con_", "con", "con_"),  # the resolver's device-name guard survives
        ("stripchat-con_", "stripchat:con", "stripchat-con_"),
        ("Anna Maria", "x", "anna-maria"),
        ("", "https://cdn.example/live/Show.m3u8", "https-cdn-example-live-show-m3u8"),
        ("", "", "stream"),
        ("../etc", "t", "etc"),
    ],
)
def test_a_session_without_a_person_is_filed_under_the_resolvers_name(
    hint: str, target: str, folder: str
) -> None:
    assert inferred_person(hint, target) == folder
