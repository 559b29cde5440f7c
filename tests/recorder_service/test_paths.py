from datetime import UTC, datetime
from pathlib import Path

import pytest

from recorder_service.paths import inside, record_file_name, slugify, validate_person
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
