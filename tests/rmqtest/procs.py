"""Start real pyrmq processes on 127.0.0.1 for tests and stop them by PID (SIGTERM, then
SIGKILL after a bound). Every wait is bounded."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TICK_US = 1_000_000 / os.sysconf("SC_CLK_TCK")


def cpu_split_us(pid: int | None = None) -> tuple[float, float]:
    """(utime, stime) of ``pid`` (this process when None; its threads included), in µs, from
    /proc/PID/stat."""
    with open(f"/proc/{pid or 'self'}/stat") as f:
        # the command name (field 2) may hold spaces: split after its closing parenthesis
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) * TICK_US, int(fields[12]) * TICK_US  # fields 14, 15 of stat(5)


def cpu_us(pid: int | None = None) -> float:
    """utime + stime of ``pid`` (this process when None), in µs."""
    return sum(cpu_split_us(pid))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


class Proc:
    """A started process with its log file."""

    def __init__(self, args: list[str], log_path: Path, port: int | None) -> None:
        self.args = args
        self.log_path = log_path
        self.port = port
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT,
                                      cwd=REPO, start_new_session=True)
        if port is not None:
            try:
                wait_port(port, proc=self.popen)
            except Exception:
                self.stop()
                raise RuntimeError(f"{args} failed to start:\n{self.log()}") from None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def kill9(self) -> None:
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        self._log.close()
        return self.popen.returncode


def start_pyrmq(args: list[str], log_path: Path, port: int | None) -> Proc:
    """``python -m pyrmq <args>`` as a real process; waits until ``port`` accepts."""
    return Proc([sys.executable, "-m", "pyrmq", *args], log_path, port)


# Test brokers keep their stores small: 8 MiB segments, a 4 MiB index (RocketMQ's 1 GiB /
# 420 MB defaults would put gigabytes on the disk per broker process).
SMALL_STORE = ["--set", "mappedFileSizeCommitLog=8388608", "--set", "maxHashSlotNum=50000",
               "--set", "maxIndexNum=200000"]


def start_namesrv(tmp: Path, **kw) -> Proc:
    port = free_port()
    extra = [f"--{k.replace('_', '-')}={v}" for k, v in kw.items()]
    return start_pyrmq(["namesrv", "--listen", f"127.0.0.1:{port}", *extra],
                       tmp / f"namesrv-{port}.log", port)


def until(fn, seconds: float = 15.0):
    """``fn()`` once it stops raising AssertionError (bounded)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return fn()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
