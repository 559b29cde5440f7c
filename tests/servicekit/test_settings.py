"""Typed settings from the environment: defaults, parsing, minimums, clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.settings import GatewaySettings
from recorder_service.settings import RecorderSettings
from resolver_service.settings import ResolverSettings
from servicekit.settings import EXIT_BAD_SETTINGS, Env, SettingsError, load_or_exit
from servicekit.tls import TlsConfig

# --- Env --------------------------------------------------------------------------------------


@pytest.mark.parametrize("environ", [{}, {"NAME": ""}, {"NAME": "   "}])
def test_unset_or_blank_values_give_the_default(environ):
    env = Env(environ)
    assert env.text("NAME", "dflt") == "dflt"
    assert env.integer("NAME", 7) == 7
    assert env.number("NAME", 1.5) == 1.5
    assert env.flag("NAME", True) is True
    assert env.flag("NAME", False) is False


def test_values_are_parsed_and_stripped():
    env = Env({"T": "  hello ", "I": " 42 ", "N": "2.5", "NI": "3", "NEG": "-4"})
    assert env.text("T", "x") == "hello"
    assert env.integer("I", 0) == 42
    assert env.integer("NEG", 0) == -4
    assert env.number("N", 0.0) == 2.5
    assert env.number("NI", 0.0) == 3.0


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", "Yes", "on"])
def test_flag_true_spellings(raw):
    assert Env({"F": raw}).flag("F", False) is True


@pytest.mark.parametrize("raw", ["0", "false", "False", "NO", "off"])
def test_flag_false_spellings(raw):
    assert Env({"F": raw}).flag("F", True) is False


def test_values_at_the_minimum_are_accepted():
    env = Env({"I": "1", "N": "0.5"})
    assert env.integer("I", 9, minimum=1) == 1
    assert env.number("N", 9.0, minimum=0.5) == 0.5


def test_minimum_does_not_apply_to_the_default():
    assert Env({}).integer("I", 0, minimum=1) == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda e: e.integer("HLS_TIME", 4), "HLS_TIME must be an integer, not 'four'"),
        (lambda e: e.integer("HLS_TIME", 4, minimum=1), "HLS_TIME must be an integer, not 'four'"),
        (lambda e: e.number("STOP_TIMEOUT", 1.0), "STOP_TIMEOUT must be a number, not 'soon'"),
        (lambda e: e.integer("PORT", 1, minimum=0), "PORT must be at least 0, not -1"),
        (lambda e: e.number("GRACE", 1.0, minimum=0.5), "GRACE must be at least 0.5, not 0.1"),
        (lambda e: e.flag("DEBUG", False), "DEBUG must be true or false, not 'maybe'"),
    ],
    ids=["integer", "integer-with-minimum", "number", "int-minimum", "number-minimum", "flag"],
)
def test_bad_values_raise_a_settings_error_naming_the_variable(call, message):
    env = Env(
        {
            "HLS_TIME": "four",
            "STOP_TIMEOUT": "soon",
            "PORT": "-1",
            "GRACE": "0.1",
            "DEBUG": "maybe",
        }
    )
    with pytest.raises(SettingsError) as caught:
        call(env)
    assert str(caught.value) == message


def test_an_integer_setting_refuses_a_fraction():
    with pytest.raises(SettingsError, match=r"^WORKERS must be an integer, not '2\.5'$"):
        Env({"WORKERS": "2.5"}).integer("WORKERS", 1)


def test_settings_error_is_a_value_error():
    assert issubclass(SettingsError, ValueError)


def test_load_or_exit_returns_the_settings_or_exits_78_naming_the_setting(caplog):
    assert load_or_exit(lambda: 5) == 5
    with pytest.raises(SystemExit) as caught:
        load_or_exit(lambda: Env({"WORKERS": "x"}).integer("WORKERS", 1))
    assert caught.value.code == EXIT_BAD_SETTINGS == 78
    (record,) = caplog.records
    assert record.getMessage() == "bad setting: WORKERS must be an integer, not 'x'"


@pytest.mark.parametrize("service", ["resolver_service", "recorder_service", "gateway"])
def test_a_service_with_a_malformed_setting_exits_78(service, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "OUTPUT_DIR": str(tmp_path), "LOG_FORMAT": "json"}
    env |= {"RESOLVER_PORT": "x", "RECORDER_PORT": "x", "GATEWAY_PORT": "x"}
    done = subprocess.run(
        [sys.executable, "-m", service],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == EXIT_BAD_SETTINGS, done.stderr.decode()[-2000:]
    assert b"PORT must be an integer, not 'x'" in done.stdout + done.stderr


def test_env_reads_os_environ_by_default(monkeypatch):
    monkeypatch.setenv("STREAMREC_TEST_SETTING", "from-os")
    assert Env().text("STREAMREC_TEST_SETTING", "dflt") == "from-os"


# --- service settings -------------------------------------------------------------------------


def test_recorder_settings_defaults():
    assert RecorderSettings.from_env(Env({})) == RecorderSettings()


def test_recorder_settings_read_their_variables():
    s = RecorderSettings.from_env(
        Env(
            {
                "RECORDER_HOST": "0.0.0.0",
                "RECORDER_PORT": "6000",
                "RESOLVER_ADDR": "resolver:50051",
                "OUTPUT_DIR": "/srv/rec",
                "FFMPEG_PATH": "/usr/bin/ffmpeg",
                "HLS_TIME": "2",
                "HLS_LIST_SIZE": "10",
                "PROGRESS_INTERVAL": "1.5",
                "STOP_TIMEOUT": "3",
                "SHUTDOWN_GRACE": "5",
                "EVENT_RING_SIZE": "200",
                "SUBSCRIBER_QUEUE_SIZE": "20",
                "HEARTBEAT_INTERVAL": "0.5",
                "FFMPEG_RW_TIMEOUT": "7",
                "DATABASE_PATH": "/srv/db/streamrec.db",
                "AUTORECORD_INTERVAL": "30",
                "AUTORECORD_JITTER": "0.2",
                "AUTORECORD_CONCURRENCY": "8",
                "AUTORECORD_BACKOFF_MAX": "600",
                "SPLIT_AT_MIDNIGHT": "true",
                "SPLIT_EVERY": "3600",
                "REMUX_MP4": "1",
                "KEEP_TS": "yes",
                "FINALIZE_CONCURRENCY": "3",
                "RETENTION_INTERVAL": "60",
                "RETENTION_DAYS": "14",
                "MIN_FREE_BYTES": "0",
            }
        )
    )
    assert s == RecorderSettings(
        host="0.0.0.0",
        port=6000,
        resolver_addr="resolver:50051",
        output_dir=Path("/srv/rec"),
        ffmpeg_path="/usr/bin/ffmpeg",
        hls_time=2,
        hls_list_size=10,
        progress_interval=1.5,
        stop_timeout=3.0,
        shutdown_grace=5.0,
        event_ring_size=200,
        subscriber_queue_size=20,
        heartbeat_interval=0.5,
        http_timeout=7.0,
        database_path=Path("/srv/db/streamrec.db"),
        autorecord_interval=30.0,
        autorecord_jitter=0.2,
        autorecord_concurrency=8,
        autorecord_backoff_max=600.0,
        split_at_midnight=True,
        split_every=3600,
        remux_mp4=True,
        keep_ts=True,
        finalize_concurrency=3,
        retention_interval=60.0,
        retention_days=14.0,
        min_free_bytes=0,
    )


@pytest.mark.parametrize(
    "env",
    [
        {"SPLIT_SIZE": "1000000", "SPLIT_EVERY": "60"},
        {"SPLIT_SIZE": "1000000", "SPLIT_AT_MIDNIGHT": "1"},
        {"SPLIT_SIZE": "100"},
    ],
)
def test_a_size_split_is_big_enough_and_alone(env):
    with pytest.raises(SettingsError, match="SPLIT_SIZE"):
        RecorderSettings.from_env(Env(env))


def test_a_clock_split_interval_must_divide_a_day():
    with pytest.raises(SettingsError, match="SPLIT_EVERY"):
        RecorderSettings.from_env(Env({"SPLIT_AT_MIDNIGHT": "1", "SPLIT_EVERY": "7"}))
    assert RecorderSettings.from_env(Env({"SPLIT_EVERY": "7"})).split_every == 7


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RECORDER_PORT", "-1"),
        ("HLS_TIME", "0"),
        ("PROGRESS_INTERVAL", "0.1"),
        ("SHUTDOWN_GRACE", "0.5"),
        ("EVENT_RING_SIZE", "10"),
        ("SUBSCRIBER_QUEUE_SIZE", "x"),
    ],
)
def test_recorder_settings_refuse_bad_values_naming_the_variable(name, value):
    with pytest.raises(SettingsError, match=f"^{name} must be"):
        RecorderSettings.from_env(Env({name: value}))


def test_recorder_blank_ffmpeg_path_means_auto_detect():
    assert RecorderSettings.from_env(Env({"FFMPEG_PATH": " "})).ffmpeg_path is None


def test_gateway_settings_defaults_and_variables():
    assert GatewaySettings.from_env(Env({})) == GatewaySettings()
    s = GatewaySettings.from_env(
        Env(
            {
                "GATEWAY_HOST": "0.0.0.0",
                "GATEWAY_PORT": "9090",
                "RECORDER_ADDR": "recorder:50052",
                "OUTPUT_DIR": "/srv/rec",
                "MAX_BODY_BYTES": "2048",
                "RPC_TIMEOUT": "2.5",
                "BUILD_COMMIT": "abc1234",
                "BUILD_TIME": "2024-01-01T00:00:00Z",
            }
        )
    )
    assert s == GatewaySettings(
        host="0.0.0.0",
        port=9090,
        recorder_addr="recorder:50052",
        output_dir=Path("/srv/rec"),
        max_body_bytes=2048,
        rpc_timeout=2.5,
        build_commit="abc1234",
        build_time="2024-01-01T00:00:00Z",
    )
    with pytest.raises(SettingsError, match=r"^MAX_BODY_BYTES must be at least 1024, not 10$"):
        GatewaySettings.from_env(Env({"MAX_BODY_BYTES": "10"}))


def test_resolver_settings_defaults_and_variables():
    assert ResolverSettings.from_env(Env({})) == ResolverSettings()
    s = ResolverSettings.from_env(
        Env(
            {
                "RESOLVER_HOST": "0.0.0.0",
                "RESOLVER_PORT": "0",
                "RESOLVER_HTTP_TIMEOUT": "3",
                "RESOLVER_USER_AGENT": "streamrec-test/1.0",
                "RESOLVER_SHUTDOWN_GRACE": "0",
            }
        )
    )
    assert s == ResolverSettings(
        host="0.0.0.0",
        port=0,
        http_timeout=3.0,
        user_agent="streamrec-test/1.0",
        shutdown_grace=0.0,
    )


def test_resolver_budgets_sources_and_plugins():
    s = ResolverSettings.from_env(
        Env(
            {
                "SITE_RATE": "5",
                "SITE_BURST": "2",
                "SITE_CONCURRENCY": "3",
                "SITE_JITTER": "0",
                "CDN_RATE": "40",
                "CDN_BURST": "80",
                "SITE_RETRIES": "0",
                "SITE_MAX_RETRY_AFTER": "7",
                "STATUS_CACHE_TTL": "0",
                "RESOLVER_SOURCES": "chaturbate, HLS",
                "RESOLVER_PLUGINS": "my_sites.a, my_sites.b",
                "CHATURBATE_COOKIE": "cf_clearance=abc",
            }
        )
    )
    assert (s.budget.rate, s.budget.burst, s.budget.concurrency, s.budget.jitter) == (5, 2, 3, 0)
    assert (s.cdn_budget.rate, s.cdn_budget.burst) == (40, 80)
    assert s.retry.retries == 0 and s.retry.max_retry_after == 7
    assert s.status_cache_ttl == 0 and s.sources == ("chaturbate", "hls")
    assert s.plugins == ("my_sites.a", "my_sites.b")
    # The sites' own settings are read later, by each source, from this snapshot; never shown.
    assert s.env["CHATURBATE_COOKIE"] == "cf_clearance=abc" and "abc" not in repr(s)
    assert ResolverSettings.from_env(Env({})).sources is None  # every registered source
    for bad in ({"SITE_RATE": "0"}, {"CDN_BURST": "0"}):
        with pytest.raises(SettingsError):
            ResolverSettings.from_env(Env(bad))
    with pytest.raises(SettingsError, match=r"^RESOLVER_HTTP_TIMEOUT must be a number, not 'x'$"):
        ResolverSettings.from_env(Env({"RESOLVER_HTTP_TIMEOUT": "x"}))


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"GRPC_TLS_CERT": "/x.pem"}, "go together"),
        ({"GRPC_TLS_CLIENT_AUTH": "1"}, "needs GRPC_TLS_CA"),
        ({"GRPC_TLS_CA": "/nonexistent/ca.pem"}, "cannot read"),
    ],
)
def test_tls_settings_are_checked_at_start(env, match):
    with pytest.raises(SettingsError, match=match):
        TlsConfig.from_env(Env(env))
    assert not TlsConfig.from_env(Env({})).enabled


@pytest.mark.parametrize(
    ("raw", "mode"), [("on_demand", "on_demand"), ("On-Demand", "on_demand"), ("always", "always")]
)
def test_preview_modes(raw, mode):
    s = RecorderSettings.from_env(Env({"PREVIEW": raw, "PREVIEW_IDLE": "5"}))
    assert (s.preview, s.preview_idle) == (mode, 5.0)


@pytest.mark.parametrize("raw", ["sometimes", "0", "on"])
def test_an_unknown_preview_mode_is_refused_by_name(raw):
    with pytest.raises(SettingsError, match="PREVIEW must be one of on_demand, always, off"):
        RecorderSettings.from_env(Env({"PREVIEW": raw}))
