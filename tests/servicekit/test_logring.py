"""The ring of recent log records: what it keeps, how it is bounded, and its filters."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from servicekit import correlation
from servicekit.logring import LEVELS, LogEntry, LogQuery, LogRing
from servicekit.logs import EcsJsonFormatter, log_ring, setup_logging

log = logging.getLogger("tests.ring")


def close_handlers() -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()


@pytest.fixture
def ring() -> Iterator[tuple[LogRing, io.StringIO]]:
    stream = io.StringIO()
    setup_logging("unit", fmt="json", level="DEBUG", stream=stream, ring_size=5)
    found = log_ring()
    assert found is not None
    yield found, stream
    close_handlers()


def entry(
    created: float,
    level: str = "info",
    message: str = "m",
    service: str = "recorder",
    **fields: object,
) -> LogEntry:
    return LogEntry(
        created,
        LEVELS[level],
        {"message": message, "log.level": level, "service.name": service, **fields},
    )


def test_the_ring_holds_the_json_lines_fields_newest_first(ring):
    handler, stream = ring
    with correlation.bound("req-1"):
        log.info("hello %s", "world", extra={"event.action": "t.hello", "session_id": "s1"})
    log.warning("second")
    newest, older = handler.query(LogQuery())
    assert newest.fields["message"] == "second" and newest.level == logging.WARNING
    json_line = json.loads(stream.getvalue().splitlines()[0])
    assert older.fields == json_line  # the same fields, the same values
    assert older.fields["correlation_id"] == "req-1"


def test_the_ring_keeps_only_its_size(ring):
    handler, _ = ring
    for i in range(12):
        log.info("line %d", i)
    assert len(handler) == 5
    assert [e.fields["message"] for e in handler.query(LogQuery())] == [
        f"line {i}" for i in (11, 10, 9, 8, 7)
    ]


def test_secrets_are_redacted_in_the_ring_as_in_the_json_line(ring):
    handler, _ = ring
    log.info(
        "GET https://cdn.example/a.m3u8?token=SECRET1 with Authorization: Bearer SECRET2",
        extra={"cookie": "sid=SECRET3", "url.original": "https://u:SECRET4@h/p?sig=SECRET5"},
    )
    text = json.dumps(handler.snapshot()[0].fields)
    for secret in ("SECRET1", "SECRET2", "SECRET3", "SECRET4", "SECRET5"):
        assert secret not in text


def test_a_ring_size_of_zero_installs_no_ring():
    setup_logging("unit", fmt="json", stream=io.StringIO(), ring_size=0)
    try:
        assert log_ring() is None
        assert not [h for h in logging.getLogger().handlers if isinstance(h, LogRing)]
    finally:
        close_handlers()


def test_the_ring_size_comes_from_log_ring_size(monkeypatch):
    monkeypatch.setenv("LOG_RING_SIZE", "7")
    setup_logging("unit", fmt="json", stream=io.StringIO())
    try:
        found = log_ring()
        assert found is not None and found.capacity == 7
    finally:
        close_handlers()


@pytest.mark.parametrize("bad", ["-1", "many", "1.5"])
def test_a_bad_log_ring_size_fails_fast(monkeypatch, bad):
    monkeypatch.setenv("LOG_RING_SIZE", bad)
    with pytest.raises(ValueError, match="LOG_RING_SIZE"):
        setup_logging("unit", fmt="json", stream=io.StringIO())


def test_the_formatter_builds_a_records_fields_once_for_every_handler():
    formatter = EcsJsonFormatter("unit")
    record = log.makeRecord(log.name, logging.INFO, "f", 1, "x", (), None)
    assert formatter.record_dict(record) is formatter.record_dict(record)
    # Another service's formatter never reuses them.
    assert EcsJsonFormatter("other").record_dict(record)["service.name"] == "other"


def query_ring(entries: list[LogEntry], **query: object) -> list[str]:
    ring = LogRing(100, lambda r: {})
    ring._entries.extend(entries)  # planted records, in time order
    return [e.fields["message"] for e in ring.query(LogQuery(**query))]  # type: ignore[arg-type]


def test_min_level_keeps_that_level_and_above():
    planted = [entry(1, "debug", "d"), entry(2, "info", "i"), entry(3, "error", "e")]
    assert query_ring(planted, min_level=logging.INFO) == ["e", "i"]
    assert query_ring(planted, min_level=logging.CRITICAL) == []


def test_services_filter_by_service_name():
    planted = [entry(1, message="a", service="resolver"), entry(2, message="b")]
    assert query_ring(planted, services=frozenset({"resolver"})) == ["a"]
    assert query_ring(planted, services=frozenset({"resolver", "recorder"})) == ["b", "a"]


def test_text_is_a_case_insensitive_substring_of_the_message_or_any_field():
    planted = [
        entry(1, message="ffmpeg started for Alice"),
        entry(2, message="other", channel="ALICE"),
        entry(3, message="nothing here"),
    ]
    assert query_ring(planted, text="alice") == ["other", "ffmpeg started for Alice"]


def test_correlation_id_must_match_exactly():
    planted = [
        entry(1, message="a", correlation_id="abc"),
        entry(2, message="b", correlation_id="abcd"),
    ]
    assert query_ring(planted, correlation_id="abc") == ["a"]


def test_since_and_limit():
    planted = [entry(t, message=str(t)) for t in range(10)]
    assert query_ring(planted, since=7) == ["9", "8", "7"]
    assert query_ring(planted, limit=2) == ["9", "8"]
    assert query_ring(planted, since=3, limit=2, text="5") == ["5"]
