import pytest

from simlab.fakes.hls_origin import HlsOrigin
from simlab.harness import Stack


@pytest.fixture(scope="module")
def origin():
    with HlsOrigin() as server:
        yield server


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """One running resolver + recorder + gateway per test module (starting one costs ~3 s)."""
    with Stack(tmp_path_factory.mktemp("stack")) as running:
        yield running
