"""Interop tests drive the official RocketMQ C++ client (rocketmq==0.4.4) in subprocesses.

The wheel comes with the test extra; where it cannot load (a platform without a wheel, a missing
system library) every interop test skips with the loader's error as the reason."""

import functools
import subprocess
import sys

import pytest
from rmqtest.cluster import running_cluster


@functools.cache
def _cpp_client_error() -> str | None:
    """None when the C++ client's library loads in a fresh interpreter, else why not."""
    r = subprocess.run([sys.executable, "-c", "import rocketmq.client"], capture_output=True,
                       text=True, timeout=60)
    if r.returncode == 0:
        return None
    lines = (r.stderr or r.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit {r.returncode}"


def pytest_collection_modifyitems(items):
    for item in items:
        if "interop" in str(item.fspath):
            item.add_marker(pytest.mark.interop)


@pytest.fixture(autouse=True)
def _needs_cpp_client():
    err = _cpp_client_error()
    if err:
        pytest.skip(f"the C++ client rocketmq==0.4.4 does not load here: {err}")


@pytest.fixture
def cluster(tmp_path):
    with running_cluster(tmp_path, "--set", "retryMaxTimes=2") as c:
        yield c
