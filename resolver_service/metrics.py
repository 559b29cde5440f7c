"""The resolver's Prometheus metrics (served on RESOLVER_METRICS_PORT)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from servicekit.metrics import LATENCY_BUCKETS

RESOLVER_CALLS = Counter(
    "streamrec_resolver_calls_total",
    "Resolve and channel-status answers by source, call and outcome (ok, an error reason, or "
    "the availability found).",
    ["source", "call", "outcome"],
)
UPSTREAM_REQUESTS = Counter(
    "streamrec_upstream_requests_total",
    "HTTP requests sent to sites and CDNs, by status class (2xx...5xx, or error).",
    ["status_class"],
)
UPSTREAM_SECONDS = Histogram(
    "streamrec_upstream_request_seconds",
    "Time from sending a site or CDN request to its full answer.",
    buckets=LATENCY_BUCKETS,
)
BUDGET_WAIT_SECONDS = Histogram(
    "streamrec_budget_wait_seconds",
    "Time a request waited for the per-host request budget (rate, jitter, concurrency).",
    buckets=(0, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
UPSTREAM_PAUSES = Counter(
    "streamrec_upstream_pauses_total",
    "Times a host was paused after a 429 (for its Retry-After, or the default backoff).",
)
