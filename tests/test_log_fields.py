"""What the code logs, checked from its source: the ``event.action`` catalogue of
docs/OBSERVABILITY.md lists exactly the actions the code emits, and no field of a JSON line is
both a value and an object (Elasticsearch's default mapping rejects such documents).

tests/e2e/test_logs.py applies the same checks to the lines a running stack really writes."""

from __future__ import annotations

from tests.log_fields import (
    catalogue_actions,
    code_actions,
    code_fields,
    value_and_object,
)


def test_every_event_action_is_a_literal_the_catalogue_test_can_read():
    _, dynamic = code_actions()
    assert not dynamic, f"event.action built at run time (write it as a literal): {dynamic}"


def test_the_catalogue_lists_every_action_the_code_emits():
    emitted, _ = code_actions()
    missing = sorted(emitted - catalogue_actions())
    assert not missing, f"add to docs/OBSERVABILITY.md's event.action catalogue: {missing}"


def test_the_catalogue_lists_nothing_the_code_does_not_emit():
    emitted, _ = code_actions()
    stale = sorted(catalogue_actions() - emitted)
    assert not stale, f"docs/OBSERVABILITY.md lists actions no code emits: {stale}"


def test_no_log_field_is_both_a_value_and_an_object():
    clashes = value_and_object(code_fields())
    assert not clashes, f"rename one of each pair (Elasticsearch cannot map both): {clashes}"


def test_the_clash_check_finds_what_elasticsearch_rejects():
    assert value_and_object(["channel", "channel.availability", "service.name", "service"]) == [
        ("channel", "channel.availability"),
        ("service", "service.name"),
    ]
    assert value_and_object(["a.b", "a.c", "ab.c", "a_b"]) == []


def test_the_readers_see_the_fields_of_every_kind_of_log_call():
    fields = code_fields()
    # extra= dicts, dicts they are built from, as_log_extra(), and the helpers' keywords.
    assert {"rpc.method", "hls.media_url", "retention.files_deleted", "exit_code"} <= fields
    assert {"autorecord.reason", "autorecord.retry_at", "lookup.availability"} <= fields


def test_the_catalogue_reader_skips_notes_in_parentheses():
    text = (
        "### `event.action` catalogue\n\n| area | actions |\n|---|---|\n"
        "| x | `a.b` (with `c.d` counts), `e.f` |\n\n### next\n| y | `g.h` |\n"
    )
    assert catalogue_actions(text) == {"a.b", "e.f"}
