"""Interop tests drive the official RocketMQ C++ client (rocketmq==0.4.4) in subprocesses."""

import pytest
from rmqtest.cluster import running_cluster


def pytest_collection_modifyitems(items):
    for item in items:
        if "interop" in str(item.fspath):
            item.add_marker(pytest.mark.interop)


@pytest.fixture
def cluster(tmp_path):
    with running_cluster(tmp_path, "--set", "retryMaxTimes=2") as c:
        yield c
