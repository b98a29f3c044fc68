"""A disk filled by ANOTHER process (issue 13.5): the broker must refuse writes (code 14,
SERVICE_NOT_AVAILABLE), never die of SIGBUS inside a mapping; reads go on, writes resume by
themselves once space returns, and nothing acknowledged is lost across a restart.

The store lives on a small filesystem the test makes (a loop-mounted ext4 image, or a
size-limited tmpfs); the test skips with the reason when neither can be mounted. The broker's
own usage check is switched off (diskSpaceWarningLevelRatio=100) so the refusal has to come
from the block reservation of the next commitlog segment / queue file / index file — the path
that faulted before (a sparse queue file written through its mapping on a full disk).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rmqtest.cluster import running_cluster

from pyrmq.client import Message, Producer, PullConsumer
from pyrmq.client.producer import SendError
from pyrmq.protocol.codes import ResponseCode

FS_MB = 96
TOPIC = "DiskFull"
BODY = 4000  # bytes; with 1 MiB segments the commitlog rolls every ~250 messages

FILLER = textwrap.dedent("""
    import sys
    chunk = b"\\xa5" * (1 << 20)
    with open(sys.argv[1], "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError:
            pass
        try:  # the last partial blocks
            while True:
                f.write(chunk[:4096])
        except OSError:
            pass
    print("full", flush=True)
""")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=30)


@contextlib.contextmanager
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A ~96 MB filesystem mounted at tmp_path/mnt, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a test filesystem needs root")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    img = tmp_path / "fs.img"
    reasons = []
    mounted = False
    if shutil.which("mkfs.ext4") and shutil.which("losetup"):
        with open(img, "wb") as f:
            f.truncate(FS_MB << 20)
        r = _run("mkfs.ext4", "-q", "-F", "-m", "0", str(img))
        if r.returncode == 0:
            r = _run("mount", "-o", "loop", str(img), str(mnt))
        mounted = r.returncode == 0
        if not mounted:
            reasons.append(f"loop-mounted ext4: {r.stderr.strip()}")
            img.unlink()
    else:
        reasons.append("no mkfs.ext4/losetup")
    if not mounted:
        r = _run("mount", "-t", "tmpfs", "-o", f"size={FS_MB}m", "tmpfs", str(mnt))
        mounted = r.returncode == 0
        if not mounted:
            reasons.append(f"tmpfs: {r.stderr.strip()}")
    if not mounted:
        pytest.skip("cannot mount a small filesystem: " + "; ".join(reasons))
    try:
        yield mnt
    finally:
        if _run("umount", str(mnt)).returncode != 0:
            _run("umount", "-l", str(mnt))
        with contextlib.suppress(FileNotFoundError):
            img.unlink()


def test_disk_filled_by_another_process(tmp_path):
    with small_filesystem(tmp_path) as mnt, running_cluster(
            tmp_path, "--store", str(mnt / "store"),
            "--set", "mappedFileSizeCommitLog=1048576",
            "--set", "mappedFileSizeConsumeQueue=120000",
            "--set", "diskSpaceWarningLevelRatio=100",
            "--set", "cleanFileForciblyEnable=false") as cluster:
        filler_path = mnt / "filler"
        filler = None
        acked: set[bytes] = set()
        refusals: list[str] = []

        def broker_alive() -> None:
            code = cluster.broker.popen.poll()
            assert code is None, f"broker exited with {code}:\n{cluster.broker.log()[-3000:]}"

        async def send_some(p: Producer, seq: list[int], n: int) -> int:
            """Send n messages 8 at a time; returns how many were refused."""
            refused = 0

            async def one(i: int) -> None:
                nonlocal refused
                body = b"%08d" % i + b"." * (BODY - 8)
                try:
                    await p.send(Message(TOPIC, body))
                    acked.add(body)
                except SendError as e:
                    refused += 1
                    refusals.append(str(e))
            for _ in range(0, n, 8):
                await asyncio.gather(*(one(seq[0] + k) for k in range(8)))
                seq[0] += 8
            return refused

        async def pull_all(pc: PullConsumer) -> set[bytes]:
            got: set[bytes] = set()
            for mq in await pc.fetch_queues(TOPIC):
                offset = 0
                for _ in range(10_000):
                    code, nxt, msgs = await pc.pull(mq, "*", offset, 32)
                    if code != ResponseCode.SUCCESS:
                        break
                    got.update(m.body for m in msgs)
                    offset = nxt
            return got

        async def main() -> None:
            nonlocal filler
            seq = [0]
            p = Producer("PG_DISKFULL", cluster.ns_addr, retry_times=0, send_timeout=5.0)
            await p.start()
            pc = PullConsumer("CG_DISKFULL", cluster.ns_addr)
            try:
                assert await send_some(p, seq, 200) == 0
                # The consumer group exists before the disk fills (a NEW group's first pull
                # persists the group table, which a full disk refuses: not what is tested).
                assert await pull_all(pc) == acked
                filler = subprocess.Popen([sys.executable, "-c", FILLER, str(filler_path)],
                                          stdout=subprocess.PIPE, text=True)
                line = await asyncio.wait_for(
                    asyncio.get_running_loop().run_in_executor(None, filler.stdout.readline),
                    30)
                assert line.strip() == "full"
                # Keep writing until the broker has to reserve new blocks and refuses.
                deadline = time.monotonic() + 20
                while len(refusals) < 16 and time.monotonic() < deadline:
                    await send_some(p, seq, 64)
                    broker_alive()
                assert len(refusals) >= 16, "the broker never refused on a full disk"
                assert all("code 14" in r for r in refusals), refusals[:3]
                assert any("No space left" in r for r in refusals), refusals[:3]
                # Reads go on while writes are refused.
                got = await pull_all(pc)
                assert got >= acked
                broker_alive()
                # Space returns: writes resume by themselves.
                os.remove(filler_path)
                deadline = time.monotonic() + 15
                before = len(refusals)
                while time.monotonic() < deadline:
                    if await send_some(p, seq, 8) == 0:
                        break
                    await asyncio.sleep(0.2)
                del refusals[before:]
                assert await send_some(p, seq, 200) == 0
                assert len(refusals) == before
            finally:
                await p.shutdown()
                await pc.shutdown()

        try:
            asyncio.run(asyncio.wait_for(main(), 50))
            broker_alive()
            cluster.restart_broker()

            async def check() -> None:
                pc = PullConsumer("CG_DISKFULL_AFTER", cluster.ns_addr)
                try:
                    missing = acked - await pull_all(pc)
                finally:
                    await pc.shutdown()
                assert not missing, f"{len(missing)} acknowledged messages lost"
            asyncio.run(asyncio.wait_for(check(), 30))
        finally:
            if filler is not None and filler.poll() is None:
                filler.kill()
                filler.wait(10)
            if filler is not None:
                filler.stdout.close()
            with contextlib.suppress(FileNotFoundError):
                filler_path.unlink()
