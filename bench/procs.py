"""The benchmarks' process side (peers, send_profile, consume_profile, stall_probe, rmq_bench):
start a pyrmq NameServer + Broker (and, for bench/peers.py, a redis-server) on 127.0.0.1 with a
fresh temp dir, stop them by PID, and read CPU time and RssAnon from /proc.

Ports and process CPU come from tests/rmqtest/procs.py (the one free_port, wait_port and
cpu_us; bench/ha_failover.py and failover_bench.py import rmqtest too); every wait is bounded."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from rmqtest.procs import cpu_split_us, cpu_us, free_port, wait_port  # noqa: E402, F401


def thread_cpu_ns(pid: int) -> dict[str, int]:
    """CPU time (ns, from /proc/PID/task/TID/schedstat) of each thread of ``pid``, summed by
    thread name: the store's own threads are named (rmq-flush, rmq-alloc), Python's are not."""
    out: dict[str, int] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # the thread ended between listdir and open
        out[name] = out.get(name, 0) + ns
    return out


def host_ticks() -> tuple[int, int]:
    """(steal, total) clock ticks of all CPUs from /proc/stat: steal is time this VM's vCPUs
    were runnable while the host ran something else, which slows both peers at random."""
    with open("/proc/stat") as f:
        vals = [int(v) for v in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice, already in user/nice]
    return (vals[7] if len(vals) > 7 else 0), sum(vals[:8])


def steal_pct(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Percent of the CPU time between two host_ticks() readings that was stolen."""
    total = after[1] - before[1]
    return 100.0 * (after[0] - before[0]) / total if total > 0 else 0.0


def rss_anon_kib(pid: int, field: str = "RssAnon") -> int:
    """RssAnon of ``pid`` (resident memory not backed by a file: mapped store pages are not
    counted; ``field="RssFile"`` for those), in KiB; 0 when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler:
    """Max RssAnon of some PIDs, sampled every ``interval`` s on a thread until stop()."""

    def __init__(self, pids: dict[str, int], interval: float = 0.1) -> None:
        self.pids = pids
        self.interval = interval
        self.max_kib = {name: 0 for name in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _sample(self) -> None:
        for name, pid in self.pids.items():
            self.max_kib[name] = max(self.max_kib[name], rss_anon_kib(pid))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def start(self) -> None:
        self._sample()
        self._thread.start()

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join(5)
        self._sample()
        return self.max_kib


def stop(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM ``proc`` (one this benchmark started), SIGKILL after ``timeout`` s."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)


class Servers:
    """A pyrmq NameServer + Broker (ASYNC_FLUSH, or SYNC_FLUSH with ``sync``; ``broker_set``
    adds ``--set KEY=VALUE`` items, ``broker_env`` environment variables) and, with ``redis``,
    a redis-server (AOF everysec, or always with ``sync``; no RDB snapshots), each its own
    process with a fresh temp dir and its log there. Use as a context manager: everything
    started is stopped by PID and the temp dir removed on exit."""

    def __init__(self, sync: bool = False, *, redis: bool = True,
                 broker_set: Sequence[str] = (), broker_env: Mapping[str, str] | None = None,
                 prefix: str = "pyrmq-bench-") -> None:
        self.sync = sync
        self.redis = redis
        self.broker_set = list(broker_set)
        self.broker_env = dict(broker_env or {})
        self.tmp = Path(tempfile.mkdtemp(prefix=prefix))
        self.procs: dict[str, subprocess.Popen] = {}
        self._logs: list = []
        self.namesrv_addr = ""
        self.broker_port = 0
        self.redis_port = 0

    def _start(self, name: str, args: list[str], port: int,
               env: Mapping[str, str] | None = None) -> None:
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - closed in __exit__
        self._logs.append(log)
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                             start_new_session=True,
                             env={**os.environ, **env} if env else None)
        self.procs[name] = p
        try:
            wait_port(port, proc=p)
        except Exception as e:
            tail = (self.tmp / f"{name}.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{name} failed to start: {e}\n{tail}") from None

    def __enter__(self) -> Servers:
        """Start all three; a start failure (say a free port taken meanwhile by another
        process on this shared machine) is retried twice with new ports."""
        for attempt in range(3):
            try:
                return self._start_all()
            except RuntimeError as e:
                if attempt == 2:
                    self.__exit__(None, None, None)
                    raise
                print(f"servers did not start, retrying with new ports: {e}",
                      file=sys.stderr, flush=True)
            except BaseException:
                self.__exit__(None, None, None)
                raise
        raise AssertionError("unreachable")

    def _start_all(self) -> Servers:
        self.procs, self._logs = {}, []
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir()
        try:
            nsp, bp = free_port(), free_port()
            self.broker_port = bp
            self.namesrv_addr = f"127.0.0.1:{nsp}"
            py = [sys.executable, "-m", "pyrmq"]
            self._start("namesrv", [*py, "namesrv", "--listen", self.namesrv_addr], nsp)
            flush = "SYNC_FLUSH" if self.sync else "ASYNC_FLUSH"
            sets = [f"flushDiskType={flush}", f"haListenPort={free_port()}", *self.broker_set]
            self._start("broker", [*py, "broker", "-n", self.namesrv_addr, "--listen-host",
                                   "127.0.0.1", "--listen-port", str(bp), "--store",
                                   str(self.tmp / "store"),
                                   *(a for kv in sets for a in ("--set", kv))],
                        bp, self.broker_env)
            if not self.redis:
                return self
            self.redis_port = free_port()
            rdir = self.tmp / "redis"
            rdir.mkdir()
            self._start("redis", [
                shutil.which("redis-server") or "redis-server", "--port", str(self.redis_port),
                "--bind", "127.0.0.1", "--dir", str(rdir), "--save", "", "--appendonly", "yes",
                "--appendfsync", "always" if self.sync else "everysec", "--daemonize", "no"],
                self.redis_port)
        except BaseException:
            self._stop_all()
            raise
        return self

    @property
    def broker_addr(self) -> str:
        return f"127.0.0.1:{self.broker_port}"

    def pid(self, name: str) -> int:
        return self.procs[name].pid

    def alive(self) -> None:
        """Raise if a server process has died (its log tail in the message)."""
        for name, p in self.procs.items():
            if p.poll() is not None:
                tail = (self.tmp / f"{name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} exited with {p.returncode}:\n{tail}")

    def _stop_all(self) -> None:
        for p in reversed(list(self.procs.values())):
            stop(p)
        for log in self._logs:
            log.close()

    def __exit__(self, *exc: object) -> None:
        self._stop_all()
        shutil.rmtree(self.tmp, ignore_errors=True)
