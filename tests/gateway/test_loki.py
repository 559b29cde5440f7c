"""The LogQL query and Grafana link of /api/logs, and the LOKI_URL setting."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from gateway.loki import check_loki_url, explore_url, logql
from gateway.settings import GatewaySettings
from servicekit.logring import LogQuery
from servicekit.settings import Env, SettingsError


def test_the_plain_query_is_the_one_in_the_observability_docs():
    assert (
        logql(LogQuery(correlation_id="abc")) == '{app="streamrec"} | json | correlation_id="abc"'
    )


def test_every_filter_has_its_logql_stage():
    query = LogQuery(
        min_level=30,
        services=frozenset({"resolver", "gateway"}),
        text="a.b (c)",
        correlation_id="x",
    )
    assert logql(query) == (
        '{app="streamrec"} |~ "(?i)a\\\\.b \\\\(c\\\\)" | json | correlation_id="x"'
        ' | service_name=~"gateway|resolver" | log_level=~"warning|error|critical"'
    )


def test_the_text_filter_cannot_break_out_of_its_string():
    assert logql(LogQuery(text='"} | drop')) == (
        '{app="streamrec"} |~ "(?i)\\"\\\\} \\\\| drop" | json'
    )


def test_since_starts_the_links_time_range():
    url = explore_url("http://g:3000", "my-loki", LogQuery(since=1_800_000_000.5))
    pane = json.loads(parse_qs(urlsplit(url).query)["left"][0])
    assert pane["range"] == {"from": "1800000000500", "to": "now"}
    assert pane["datasource"] == "my-loki" and pane["queries"][0]["datasource"] == "my-loki"


@pytest.mark.parametrize("bad", ["grafana.example", "ftp://g", "http://", "http://g/?orgId=2"])
def test_loki_url_must_be_a_grafana_address(bad):
    with pytest.raises(SettingsError, match="LOKI_URL"):
        check_loki_url(bad)
    with pytest.raises(SettingsError, match="LOKI_URL"):
        GatewaySettings.from_env(Env({"LOKI_URL": bad}))


def test_loki_settings_are_read_from_the_environment():
    settings = GatewaySettings.from_env(
        Env({"LOKI_URL": "https://grafana.example/", "LOKI_DATASOURCE": "P8E80F9AEF21F6940"})
    )
    assert settings.loki_url == "https://grafana.example"
    assert settings.loki_datasource == "P8E80F9AEF21F6940"
    assert GatewaySettings.from_env(Env({})).loki_url == ""
