"""Shared fixtures of the frontend tests."""
import pytest


@pytest.fixture
def one_torch_thread():
    """pytest-xdist runs two workers on two cores: one torch thread each avoids oversubscription."""
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
