import io
import json
import logging

import pytest

from servicekit import correlation
from servicekit.logs import setup_logging


@pytest.fixture
def json_stream():
    stream = io.StringIO()
    setup_logging("unit", fmt="json", level="DEBUG", stream=stream)
    yield stream
    close_handlers()


def close_handlers():
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()


def lines(stream):
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_line_has_the_architecture_fields(json_stream):
    with correlation.bound("req-123"):
        logging.getLogger("recorder.x").info(
            "ffmpeg started", extra={"event.action": "ffmpeg.start", "session_id": "abc"}
        )
    (rec,) = lines(json_stream)
    assert rec["message"] == "ffmpeg started"
    assert rec["log.level"] == "info"
    assert rec["log.logger"] == "recorder.x"
    assert rec["service.name"] == "unit"
    assert rec["ecs.version"]
    assert rec["correlation_id"] == "req-123"
    assert rec["event.action"] == "ffmpeg.start"
    assert rec["session_id"] == "abc"
    assert rec["@timestamp"].endswith("Z") and len(rec["@timestamp"]) == 24


def test_stack_trace_stays_on_one_line_with_error_fields(json_stream):
    try:
        raise ValueError("bad thing")
    except ValueError:
        logging.getLogger("x").exception("it failed")
    raw = json_stream.getvalue().splitlines()
    assert len(raw) == 1
    rec = json.loads(raw[0])
    assert rec["error.type"] == "ValueError"
    assert rec["error.message"] == "bad thing"
    assert "Traceback" in rec["error.stack_trace"]


def test_library_loggers_get_the_correlation_id(json_stream):
    with correlation.bound("lib-1"):
        logging.getLogger("httpx").warning("from a library")
    assert lines(json_stream)[0]["correlation_id"] == "lib-1"


def test_secrets_are_redacted_in_message_and_context(json_stream):
    logging.getLogger("x").info(
        "fetching https://cdn.example/live/a.m3u8?token=SECRET123&e=99"
        " with Authorization: Bearer abc",
        extra={"cookie": "sessionid=xyz", "url": "https://u:pw@h/p?sig=S"},
    )
    text = json_stream.getvalue()
    for secret in ("SECRET123", "sessionid=xyz", "pw@", "sig=S", "Bearer abc"):
        assert secret not in text
    assert "token=[REDACTED]" in text


def test_console_format_looks_like_the_seed():
    stream = io.StringIO()
    setup_logging("unit", fmt="console", stream=stream)
    try:
        logging.getLogger("main").info("Session created", extra={"session_id": "abc123"})
    finally:
        close_handlers()
    out = stream.getvalue()
    first, *rest = out.splitlines()
    assert "[INFO    ]" in first and "main" in first and "│ Session created" in first
    assert first[:23].count(":") == 2 and first[19] == "."  # 2025-10-08 15:30:45.123
    assert rest[0].startswith("  └─ {")
    assert '"session_id": "abc123"' in out


def test_bad_log_settings_fail_fast():
    with pytest.raises(ValueError):
        setup_logging("unit", fmt="xml", stream=io.StringIO())
    with pytest.raises(ValueError):
        setup_logging("unit", level="LOUD", stream=io.StringIO())


def test_log_file_rotates_by_size(tmp_path):
    path = tmp_path / "svc.log"
    setup_logging(
        "unit", fmt="json", log_file=str(path), max_bytes=2000, backups=2, stream=io.StringIO()
    )
    try:
        for i in range(100):
            logging.getLogger("x").info("line %d %s", i, "x" * 50)
    finally:
        close_handlers()
    assert path.exists() and (tmp_path / "svc.log.1").exists()
    assert not (tmp_path / "svc.log.3").exists()
    assert all(json.loads(line) for line in path.read_text().splitlines())


def test_uvicorns_color_message_never_reaches_a_json_line(json_stream):
    logging.getLogger("uvicorn.error").info(
        "Started server process [%d]", 1, extra={"color_message": "Started \x1b[36m%d\x1b[0m"}
    )
    (rec,) = lines(json_stream)
    assert "color_message" not in rec and "\x1b" not in json_stream.getvalue()


def console_lines(*records: tuple[str, dict[str, object]]) -> str:
    stream = io.StringIO()
    setup_logging("recorder", fmt="console", stream=stream, ring_size=0)
    try:
        for message, extra in records:
            logging.getLogger("recorder_service.runner").info(message, extra=extra)
    finally:
        close_handlers()
    return stream.getvalue()


def test_console_shows_a_banner_when_a_service_or_a_session_starts_or_stops():
    session = {"channel": "alice", "session_id": "s1"}
    out = console_lines(
        ("recorder listening on port 1", {"event.action": "server.start"}),
        ("ffmpeg started for alice", {"event.action": "ffmpeg.start", **session, "restarts": 0}),
        ("ffmpeg started for alice", {"event.action": "ffmpeg.start", **session, "restarts": 1}),
        ("session stopped: by request", {"event.action": "ffmpeg.stop", **session}),
        ("GET / -> 200", {"event.action": "http.request"}),
    )
    assert out.count("=" * 80) == 6  # three full banners: start, session start, session end
    assert "🚀 RECORDER │ recorder listening on port 1" in out
    assert "🎬 RECORDER · alice · session s1 │ ffmpeg started for alice" in out
    assert "🎬 RECORDER · alice · session s1 · restart 1 │" in out  # a thin rule, not a banner
    assert "🏁 RECORDER · alice · session s1 │ session stopped: by request" in out
    assert "│ 🌐 GET / -> 200" in out  # the message's emoji, by its event.action


def test_json_lines_get_no_banner_and_no_emoji(json_stream):
    logging.getLogger("x").info("ffmpeg started", extra={"event.action": "ffmpeg.start"})
    (rec,) = lines(json_stream)
    assert rec["message"] == "ffmpeg started" and len(json_stream.getvalue().splitlines()) == 1


def test_httpcore_traces_that_print_socks_passwords_stay_below_every_log_level():
    stream = io.StringIO()
    setup_logging("resolver", fmt="json", level="DEBUG", stream=stream, ring_size=0)
    try:
        logging.getLogger("httpcore.socks").debug(
            "setup_socks5_connection.started auth=(b'user', b'hunter2')"
        )
        logging.getLogger("resolver_service.x").debug("still at debug")
    finally:
        close_handlers()
    assert "hunter2" not in stream.getvalue() and "still at debug" in stream.getvalue()
