"""Shared test configuration: hypothesis profiles and a headless matplotlib."""

import os

import matplotlib
import pytest
import torch
from hypothesis import HealthCheck, settings

matplotlib.use("Agg")

settings.register_profile("dev", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                          derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread_per_process():
    """One intra-op torch thread per test process.

    The suite runs under pytest-xdist (``-n 2``) on 2 cores; with torch's default
    thread pool in every worker the cores are oversubscribed and the small-matrix
    kernels rnnprobe runs step by step slow down 5-50x (measured: the core tests
    take 6.5 min instead of 1 min).
    """
    torch.set_num_threads(1)
    yield
