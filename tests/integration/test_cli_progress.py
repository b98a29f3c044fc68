"""Progress bars of `pyrmq store verify / rebuild / dump / info`: drawn on a (pseudo-)terminal,
absent from pipes and from --json output; exit codes the same either way."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

import pytest
from rmqtest.procs import REPO
from rmqtest.store import small_config

from pyrmq.store import MessageStore

BAR = ("|", "█", "\r")  # tqdm's frame, its fill, its redraw


@pytest.fixture
def store_dir(tmp_path):
    root = tmp_path / "store"
    with MessageStore(root, small_config(mappedFileSizeCommitLog=64 * 1024)) as s:
        for i in range(400):
            s.put("Prog", i % 2, f"body-{i}".encode() + b"." * 200)
    return root


def on_pty(*args: str, timeout: float = 60.0) -> tuple[int, str]:
    """Run ``python -m pyrmq *args`` with stdout and stderr on a pseudo-terminal."""
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "pyrmq", *args], stdin=subprocess.DEVNULL,
                         stdout=slave, stderr=slave, cwd=REPO)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            elif p.poll() is not None:
                break
        rc = p.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
    return rc, out.decode("utf-8", "replace")


def piped(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pyrmq", *args], capture_output=True,
                          text=True, timeout=60, cwd=REPO, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("cmd, label", [
    (["verify"], "verifying commitlog"),
    (["dump", "--limit", "100000"], "dumping"),
    (["info"], "scanning"),
    (["rebuild"], "rebuilding"),
])
def test_bar_on_a_terminal_only(store_dir, cmd, label):
    name, *rest = cmd
    rc_tty, text = on_pty("store", name, str(store_dir), *rest)
    assert label in text and "100%" in text and any(c in text for c in BAR[:2]), text[-2000:]
    p = piped("store", name, str(store_dir), *rest)
    assert p.returncode == rc_tty == 0
    assert label not in p.stderr + p.stdout
    assert not any(c in p.stderr for c in BAR)
    # --json on a terminal: no bar either
    rc_json, text = on_pty("store", name, str(store_dir), *rest, "--json")
    assert rc_json == 0 and label not in text and "█" not in text


def test_exit_code_unchanged_on_a_damaged_store(store_dir):
    seg = sorted((store_dir / "commitlog").iterdir())[0]
    with open(seg, "r+b") as f:  # break one record's body CRC
        f.seek(300)
        b = f.read(1)
        f.seek(300)
        f.write(bytes([b[0] ^ 0xFF]))
    rc_tty, text = on_pty("store", "verify", str(store_dir))
    p = piped("store", "verify", str(store_dir))
    assert rc_tty == p.returncode == 1
    assert "verifying commitlog" in text and "verifying commitlog" not in p.stderr
