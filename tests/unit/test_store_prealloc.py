"""The commitlog's next segment is made ahead (root/prealloc/) and taken by the roll, with or
without pre-faulting (warmMapedFileEnable); commitlog/ only ever holds segments in use, and a
clean close leaves no scratch directory."""

from __future__ import annotations

import os

import pytest
from rmqtest.store import small_config

from pyrmq.store import MessageStore


@pytest.mark.parametrize("warm", [False, True])
def test_rolls_take_the_segment_made_ahead(tmp_path, warm):
    cfg = small_config(mappedFileSizeCommitLog=64 * 1024, preallocateMappedFile=True,
                       warmMapedFileEnable=warm)
    root = tmp_path / "s"
    with MessageStore(root, cfg) as s:
        for i in range(1000):
            s.put("Pre", i % 4, b"%06d" % i + b"-" * 300)
        st = s.stats()
        segs = sorted(os.listdir(root / "commitlog"))
        assert len(segs) == st["commitlog_segments"] >= 5
        assert st["segments_precreated"] >= st["commitlog_segments"] - 1
        assert st["segments_precreated"] + st["segments_made_on_roll"] == len(segs)
        assert s.get("Pre", 3, 0, 300).count == 250  # read back across the rolls
    assert not (root / "prealloc").exists()
    assert sorted(os.listdir(root / "commitlog")) == segs
