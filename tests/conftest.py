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


def require_c_kernels(graph):
    """Skip (naming the op) while a C kernel of the graph's ops is still missing."""
    from picoml.codegen.registry import C_OPS, _load_all

    _load_all()
    missing = sorted({op.type for op in graph.ops} - set(C_OPS))
    if missing:
        pytest.skip(f"no C kernel yet for {', '.join(missing)}")
