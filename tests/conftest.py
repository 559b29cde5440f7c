"""Fixtures shared by the tests of the fakes (closer conftests or modules may override them)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from simlab.fakes.chaturbate_site import FakeChaturbate
from simlab.fakes.hls_origin import HlsOrigin


@pytest.fixture
def origin() -> Iterator[HlsOrigin]:
    """A fresh fake CDN with no stream."""
    with HlsOrigin() as running:
        yield running


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """A plain synchronous HTTP client."""
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def site() -> Iterator[FakeChaturbate]:
    """A fake chaturbate.com for the tests of one module (see ``simlab.harness.site_env``)."""
    with FakeChaturbate() as running:
        yield running
