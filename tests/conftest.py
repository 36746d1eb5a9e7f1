"""Test configuration: 8 fake CPU devices (set before JAX starts), small shapes, strict warnings."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pytest  # noqa: E402

import torchish  # noqa: E402,F401


@pytest.fixture(autouse=True)
def _seed():
    torchish.manual_seed(0)
    yield
