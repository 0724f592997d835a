import pytest
from harness import Mesh


@pytest.fixture
def mesh(tmp_path):
    """A test's own mesh of real processes on loopback; everything is stopped afterwards."""
    m = Mesh(tmp_path)
    yield m
    m.close()
