"""Recovery defects of issue 13.6: after a truncating recovery new records are indexed at once
and no index entry points past the end (a); the report counts the records dropped and asks
for a WARNING (b); a commitlog segment of the wrong size is named with both sizes (c)."""

from __future__ import annotations

import logging
import struct

import pytest
from rmqtest.store import small_config

from pyrmq import _store
from pyrmq.store import MessageStore, files

SEG = 64 * 1024
BODY_AT = 88  # IPv4 hosts: the body starts after its 4-byte length at 84


def _damage_body(root, phys: int) -> None:
    base = phys - phys % SEG
    with open(root / "commitlog" / f"{base:020d}", "r+b") as f:
        f.seek(phys - base + BODY_AT)
        f.write(b"\xee\xee\xee\xee")


def test_truncating_recovery_cuts_the_index_and_reports_the_loss(tmp_path):
    root = tmp_path / "s"
    cfg = small_config(mappedFileSizeCommitLog=SEG, maxHashSlotNum=4096, maxIndexNum=16384)
    with MessageStore(root, cfg) as s:
        results = [s.put("Rec", 0, b"old-%04d" % i + b"." * 100,
                         properties={"KEYS": f"old-{i}"}) for i in range(500)]
    _damage_body(root, results[100].phys_offset)
    (root / "abort").write_bytes(b"")
    with MessageStore(root, cfg) as s:
        rep = s.recovery
        assert rep.truncated_at == results[100].phys_offset
        assert rep.records_truncated == 400
        assert rep.index_entries_truncated == 400
        assert rep.lost_data and rep.severity == logging.WARNING
        assert "DROPPED 400 records" in rep.summary()
        new = [s.put("Rec", 0, b"new-%04d" % i, properties={"KEYS": f"new-{i}"})
               for i in range(400)]
        assert new[0].phys_offset == results[100].phys_offset
        for i in (0, 1, 199, 399):  # indexed at once, although below the old index end
            assert [struct.unpack_from(">q", r, 28)[0] for r in s.query_by_key("Rec", f"new-{i}")
                    ] == [new[i].phys_offset]
    # the offline path of `pyrmq store get --key` reads the same files
    assert files.index_lookup(str(root), "Rec", "new-250") == [new[250].phys_offset]
    end = max(r.phys_offset for r in new)
    assert all(ix["endPhyOffset"] <= end for ix in files.index_files(str(root)))
    assert files.index_lookup(str(root), "Rec", "old-450") == []


def test_clean_reopen_is_info(tmp_path):
    with MessageStore(tmp_path / "s", small_config()) as s:
        s.put("Rec", 0, b"x")
    with MessageStore(tmp_path / "s", small_config()) as s:
        assert not s.recovery.lost_data and s.recovery.severity == logging.INFO
        assert "DROPPED" not in s.recovery.summary()


def test_wrong_segment_size_names_the_file_and_sizes(tmp_path):
    root = tmp_path / "s"
    with MessageStore(root, small_config(mappedFileSizeCommitLog=SEG)) as s:
        for _ in range(400):
            s.put("Rec", 0, b"y" * 300)
    first = root / "commitlog" / f"{0:020d}"
    with open(first, "r+b") as f:
        f.truncate(SEG - 4096)
    with pytest.raises(_store.CorruptError) as e:
        MessageStore(root, small_config(mappedFileSizeCommitLog=SEG))
    assert f"{first}: size {SEG - 4096} bytes, expected {SEG}" in str(e.value)
