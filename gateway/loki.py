"""The LogQL query and the Grafana Explore link that show in Loki what ``/api/logs`` shows.

``LOKI_URL`` is the address of a Grafana whose Loki data source is ``LOKI_DATASOURCE`` (its uid
or name, ``loki`` by default). The link is Grafana's Explore URL with the pane state as JSON in
``left`` (the form every Grafana since 7 opens; newer ones turn it into ``panes``)::

    {LOKI_URL}/explore?orgId=1&left={"datasource":"loki","queries":[{"refId":"A",
        "datasource":"loki","expr":"<LogQL>"}],"range":{"from":"now-1h","to":"now"}}

(URL-encoded; ``from`` is the ``since`` filter in milliseconds when there is one). The LogQL
is docs/OBSERVABILITY.md's: ``{app="streamrec"} | json | correlation_id="..."``, with a
case-insensitive line filter for the text and ``service_name``/``log_level`` label filters.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote, urlsplit

from servicekit.logring import LEVELS, LogQuery
from servicekit.settings import SettingsError

# RE2's metacharacters: escaped so the text filter is matched literally.
_RE2_META = re.compile(r"([\\.+*?()|\[\]{}^$])")


def check_loki_url(value: str) -> str:
    """``LOKI_URL`` as given, without a trailing slash ("" = unset); an http(s) URL with a
    host, else a SettingsError."""
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise SettingsError(f"LOKI_URL must be the http(s) address of a Grafana, not {value!r}")
    return value.rstrip("/")


def _string(value: str) -> str:
    # A JSON string is a valid LogQL (Go) double-quoted string.
    return json.dumps(value)


def logql(query: LogQuery) -> str:
    """The LogQL query selecting the lines ``query`` selects."""
    parts = ['{app="streamrec"}']
    if query.text:
        literal = _RE2_META.sub(r"\\\1", query.text)
        parts.append(f"|~ {_string('(?i)' + literal)}")
    parts.append("| json")
    if query.correlation_id:
        parts.append(f"| correlation_id={_string(query.correlation_id)}")
    if query.services:
        parts.append(f"| service_name=~{_string('|'.join(sorted(query.services)))}")
    if query.min_level:
        names = [name for name, level in LEVELS.items() if level >= query.min_level]
        parts.append(f"| log_level=~{_string('|'.join(names))}")
    return " ".join(parts)


def explore_url(base: str, datasource: str, query: LogQuery) -> str:
    """The Grafana Explore link for ``query`` (see the module's docstring)."""
    start = str(int(query.since * 1000)) if query.since else "now-1h"
    pane = {
        "datasource": datasource,
        "queries": [{"refId": "A", "datasource": datasource, "expr": logql(query)}],
        "range": {"from": start, "to": "now"},
    }
    state = json.dumps(pane, separators=(",", ":"))
    return f"{base}/explore?orgId=1&left={quote(state, safe='')}"
