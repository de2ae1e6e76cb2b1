import numpy as np
import pytest

import intrinsic_flow
import intrinsic_flow.reference

BACKENDS = [intrinsic_flow, intrinsic_flow.reference]


@pytest.fixture(params=BACKENDS, ids=["core", "reference"])
def backend(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def restore_max_bytes():
    saved = intrinsic_flow.config.max_bytes
    yield intrinsic_flow.config
    intrinsic_flow.config.max_bytes = saved
