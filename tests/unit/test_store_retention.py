"""Retention's forced deletion (issue 13.4): configurable like RocketMQ 4.9
(cleanFileForciblyEnable, diskSpaceCleanForciblyRatio), one WARNING per forced deletion naming
what went, counters for metrics."""

from __future__ import annotations

import logging
import os

import pytest
from rmqtest.store import small_config

from pyrmq.store import MessageStore, StoreConfig
from pyrmq.store.cleanup import clean_step

SEG = 64 * 1024


def _fill(s: MessageStore, segments: int) -> None:
    while s.max_phys_offset() < segments * SEG:
        s.put("Ret", 0, b"x" * 500)


def test_forced_deletion_logs_what_was_deleted_and_counts_it(tmp_path, caplog):
    with MessageStore(tmp_path / "s", small_config(mappedFileSizeCommitLog=SEG)) as s:
        _fill(s, 3)
        first = sorted(os.listdir(tmp_path / "s" / "commitlog"))[0]
        committed = {("CG_BEHIND", "Ret", 0): 5, ("CG_DONE", "Ret", 0): s.max_offset("Ret", 0)}
        with caplog.at_level(logging.WARNING, logger="pyrmq.store.cleanup"):
            assert clean_step(s, usage_ratio=0.90, committed=lambda: committed) == 1
        new_min = s.min_offset("Ret", 0)
        assert new_min > 5
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        text = warnings[0].getMessage()
        assert os.path.join(str(tmp_path / "s"), "commitlog", first) in text
        assert f"offsets [0, {SEG})" in text
        assert f"CG_BEHIND (Ret/0: {new_min - 5})" in text
        assert "CG_DONE" not in text
        assert "90.0% >= diskSpaceCleanForciblyRatio 85%" in text
        st = s.stats()
        assert st["retention_forced_deletions"] == 1
        assert st["retention_segments_deleted"] == 1
        assert st["retention_forced_bytes_deleted"] == SEG
        assert st["retention_unconsumed_messages_lost"] == new_min - 5


def test_below_the_ratio_nothing_unexpired_is_deleted(tmp_path, caplog):
    cfg = small_config(mappedFileSizeCommitLog=SEG, diskSpaceCleanForciblyRatio=0.95)
    with MessageStore(tmp_path / "s", cfg) as s:
        _fill(s, 3)
        with caplog.at_level(logging.WARNING, logger="pyrmq.store.cleanup"):
            assert clean_step(s, usage_ratio=0.90) == 0
        assert s.min_phys_offset() == 0
        assert not caplog.records


def test_clean_file_forcibly_disabled_keeps_unexpired_segments(tmp_path, caplog):
    cfg = small_config(mappedFileSizeCommitLog=SEG, cleanFileForciblyEnable=False)
    with MessageStore(tmp_path / "s", cfg) as s:
        _fill(s, 3)
        before = sorted(os.listdir(tmp_path / "s" / "commitlog"))
        with caplog.at_level(logging.WARNING, logger="pyrmq.store.cleanup"):
            for _ in range(3):
                assert clean_step(s, usage_ratio=0.99) == 0
        assert sorted(os.listdir(tmp_path / "s" / "commitlog")) == before
        assert s.stats()["retention_forced_deletions"] == 0
        assert not caplog.records
        # expired segments still go at high usage (they are not a forced deletion)
        far = 10**13
        assert clean_step(s, far, usage_ratio=0.99) == 1
        assert s.stats()["retention_segments_deleted"] == 1


def test_config_keys_are_rocketmqs_and_validated():
    cfg = StoreConfig.from_properties({"cleanFileForciblyEnable": "false",
                                       "diskSpaceCleanForciblyRatio": "0.9"})
    assert cfg.cleanFileForciblyEnable is False and cfg.diskSpaceCleanForciblyRatio == 0.9
    assert StoreConfig().cleanFileForciblyEnable is True
    assert StoreConfig().diskSpaceCleanForciblyRatio == 0.85
    for bad in ("1.5", "0", "nan", "x"):
        with pytest.raises(ValueError, match="diskSpaceCleanForciblyRatio"):
            StoreConfig.from_properties({"diskSpaceCleanForciblyRatio": bad})
    with pytest.raises(ValueError, match="cleanFileForciblyEnable"):
        StoreConfig.from_properties({"cleanFileForciblyEnable": "maybe"})
