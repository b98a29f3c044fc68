"""Config-file persistence off the event loop: periodic snapshots are written by the
persistence thread (never the caller's), the newest snapshot of a file wins, an immediate
write supersedes a pending snapshot, and a failed periodic write leaves the table dirty."""

from __future__ import annotations

import json
import threading

from pyrmq.broker import persist
from pyrmq.broker.groups import ConsumerOffsetManager


def test_snapshots_are_written_by_the_persistence_thread(tmp_path, monkeypatch):
    writers: list[str] = []
    real = persist._write

    def spy(path, obj):
        writers.append(threading.current_thread().name)
        return real(path, obj)

    monkeypatch.setattr(persist, "_write", spy)
    offsets = ConsumerOffsetManager(str(tmp_path))
    offsets.commit("G", "T", 0, 42)
    offsets.persist_soon()
    assert persist.flush_pending(10.0)
    assert writers == ["pyrmq-persist"]
    data = json.loads((tmp_path / "consumerOffset.json").read_text())
    assert data["offsetTable"] == {"T@G": {"0": 42}}
    offsets.persist_soon()  # nothing changed: nothing written
    assert persist.flush_pending(10.0)
    assert writers == ["pyrmq-persist"]


def test_newest_snapshot_wins_and_an_immediate_write_supersedes(tmp_path, monkeypatch):
    path = str(tmp_path / "f.json")
    gate = threading.Event()
    real = persist._write

    def slow(p, obj):
        gate.wait(10.0)
        return real(p, obj)

    monkeypatch.setattr(persist, "_write", slow)
    persist.save_json_soon(path, {"v": 1})  # the thread takes it and waits at the gate
    persist.save_json_soon(path, {"v": 2})
    persist.save_json_soon(path, {"v": 3})  # replaces v2 while it waits
    gate.set()
    assert persist.flush_pending(10.0)
    assert json.loads(open(path).read()) == {"v": 3}
    gate.clear()
    persist.save_json_soon(path, {"v": 4})
    persist.save_json_soon(path, {"v": 5})
    gate.set()
    assert persist.save_json(path, {"v": 6})  # newer than what was pending
    assert persist.flush_pending(10.0)
    assert json.loads(open(path).read()) == {"v": 6}


def test_failed_periodic_write_keeps_the_table_dirty(tmp_path, monkeypatch):
    monkeypatch.setattr(persist, "_write", lambda path, obj: False)
    offsets = ConsumerOffsetManager(str(tmp_path))
    offsets.commit("G", "T", 1, 7)
    offsets.persist_soon()
    assert persist.flush_pending(10.0)
    assert offsets.dirty  # the next period tries again
