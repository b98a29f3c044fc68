"""pytest-benchmark for the store engine (collected only when bench/ is passed to pytest):

    .venv/bin/pytest bench/test_bench_store.py --benchmark-only
"""

from __future__ import annotations

import pytest

from pyrmq.store import MessageStore, StoreConfig

CFG = StoreConfig(mappedFileSizeCommitLog=64 * 1024 * 1024, maxHashSlotNum=100_000,
                  maxIndexNum=400_000)


@pytest.fixture
def store(tmp_path):
    with MessageStore(tmp_path, CFG) as s:
        yield s


@pytest.mark.parametrize("size", [128, 1024])
def test_put_single(benchmark, store, size):
    body = b"b" * size
    benchmark(store.put, "Bench", 0, body, properties=b"TAGS\x01TagA\x02")


def test_get_32(benchmark, store):
    for _ in range(20_000):
        store.put("Bench", 0, b"r" * 128)
    benchmark(store.get, "Bench", 0, 1000, 32)
