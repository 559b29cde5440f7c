"""One offline stack per fuzz module (see support.offline_env)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from simlab.harness import Stack
from tests.fuzz.support import offline_env


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(tmp_path_factory.mktemp("fuzz"), env_extra=offline_env()) as running:
        yield running
