"""One torch thread in datavalue's unit tests (as in the workflow's steps): no oversubscription on shared cores."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
