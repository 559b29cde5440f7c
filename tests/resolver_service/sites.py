"""Site clients for tests: the real budget and retry code with limits that cost no time."""

from __future__ import annotations

import httpx

from resolver_service.budget import BudgetConfig, RequestBudget
from resolver_service.site_client import RetryPolicy, SiteClient

FREE = BudgetConfig(rate=10_000, burst=10_000, concurrency=64, jitter=0)
NO_RETRY = RetryPolicy(retries=0)
QUICK_RETRY = RetryPolicy(retries=2, backoff_initial=0.01, backoff_max=0.05, max_retry_after=5)


def site_client(
    client: httpx.AsyncClient,
    budget: BudgetConfig = FREE,
    policy: RetryPolicy = NO_RETRY,
) -> SiteClient:
    """A SiteClient over ``client`` with a budget that never waits and no retries by default."""
    return SiteClient(client, RequestBudget(budget), policy)


def chaturbate_env(base_url: str, **options: object) -> dict[str, str]:
    """The ``CHATURBATE_*`` settings for a fake site at ``base_url``: each option becomes its
    variable (``methods=("api",)`` -> ``CHATURBATE_METHODS=api``)."""
    env = {
        "CHATURBATE_BASE_URL": base_url,
        "CHATURBATE_THUMBNAIL_BASE_URL": f"{base_url}/ri",
    }
    for key, value in options.items():
        text = ",".join(value) if isinstance(value, tuple | list) else str(value)
        env[f"CHATURBATE_{key.upper()}"] = text
    return env
