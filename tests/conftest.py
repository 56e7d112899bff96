import numpy as np
import pytest

from picoml.testing.real import real_dir


@pytest.fixture
def real():
    """Path to ../shared/real; the test is skipped (with the reason) when it is absent."""
    d = real_dir()
    if d is None:
        pytest.skip("../shared/real is not present (set PICOML_REAL to its path); CI always has it")
    return d


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
