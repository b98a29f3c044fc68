"""Master/slave takeover, measured with real processes (issue 11): a NameServer, a master and
its slave; a pyrmq Producer sending continuously (~200 msg/s, one at a time) with a ledger of
acknowledged messages; two consumer groups -- one caught up (consumes at once) and one lagging
(throttled, so it still has a backlog on the slave when the master dies); the master is
SIGKILLed, restarted ~15 s later, then everything is drained.

    python bench/ha_failover.py --role ASYNC_MASTER --client pyrmq --runs 3
    python bench/ha_failover.py --role SYNC_MASTER --client cpp --runs 1

Per run it prints one JSON line and at the end one markdown row per run:
- reader gap: the longest pause between two deliveries of the lagging group's backlog
  after the kill (that backlog is on the slave; the first deliveries after the kill come from
  the batch it had already pulled, then the slave must take over);
- first slave pull: the kill -> the slave's first pull answered with messages (its
  rocketmq_topic_get_messages, polled every 50 ms) -- the takeover itself, which a consumer's
  already-pulled batches can hide from the reader gap;
- write gap: the restarted master listening -> the producer's first acknowledged send;
- send errors during the outage; acknowledged lost (acked, consumed by neither group);
- duplicates of each group (deliveries - distinct messages).
The producer is always pyrmq's; ``--client`` picks the consumers (``cpp``: the ``rocketmq``
wheel's PushConsumer, each group in its own process, like tests/interop/drivers).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from rmqtest.ha import HaPair  # noqa: E402
from rmqtest.metrics import get_text  # noqa: E402
from rmqtest.procs import free_port  # noqa: E402

from pyrmq.client import ConsumeFrom, ConsumeStatus, Message, Producer, PushConsumer  # noqa: E402
from pyrmq.client.producer import SendError  # noqa: E402

TOPIC = "HaBench"
SEND_PAUSE_S = 0.005
LAG_PAUSE_S = 0.02   # the lagging group's time per message (it falls behind the producer)


class Cluster(HaPair):
    """NameServer + master + slave of brokerName broker-a under ``tmp``; the slave serves
    metrics so the first pull it answers with messages can be seen."""

    def __init__(self, tmp: Path, role: str) -> None:
        self.slave_metrics = free_port()
        super().__init__(tmp, role, (f"metricsPort={self.slave_metrics}",))

    def slave_pulled(self) -> float:
        """Messages of TOPIC the slave has answered pulls with since it started."""
        for line in get_text(self.slave_metrics).splitlines():
            if line.startswith("rocketmq_topic_get_messages") and f'"{TOPIC}"' in line:
                return float(line.rsplit(" ", 1)[1])
        return 0.0


# -- consumers ------------------------------------------------------------------------------
class PyrmqGroup:
    """A pyrmq PushConsumer recording (time, body) per delivery."""

    def __init__(self, ns_addr: str, group: str, pause: float) -> None:
        self.seen: list[tuple[float, str]] = []
        self.c = PushConsumer(group, ns_addr, consume_from=ConsumeFrom.FIRST_OFFSET)
        self.c.subscribe(TOPIC, "*")
        lock = asyncio.Lock()

        async def on(msg):
            if pause:
                async with lock:
                    await asyncio.sleep(pause)
            self.seen.append((time.time(), msg.body.decode()))
            return ConsumeStatus.CONSUME_SUCCESS
        self.c.listener = on

    async def start(self) -> None:
        await self.c.start()

    async def stop(self) -> list[tuple[float, str]]:
        await self.c.shutdown()
        return self.seen

    def count(self) -> int:
        return len({b for _, b in self.seen})


class CppGroup:
    """The C++ client's PushConsumer in a child process (this file with --cpp-consume)."""

    def __init__(self, ns_addr: str, group: str, pause: float) -> None:
        self.out = tempfile.NamedTemporaryFile("w+", suffix=".jsonl", delete=False)
        self.args = [sys.executable, str(Path(__file__).resolve()), "--cpp-consume", ns_addr,
                     group, str(pause)]
        self.proc: subprocess.Popen | None = None

    async def start(self) -> None:
        self.proc = subprocess.Popen(self.args, stdout=self.out, stderr=subprocess.DEVNULL,
                                     cwd=tempfile.gettempdir())

    def _read(self) -> list[tuple[float, str]]:
        rows = []
        with open(self.out.name) as f:
            for line in f:
                try:
                    d = json.loads(line)
                    rows.append((d["t"], d["b"]))
                except (ValueError, KeyError):
                    pass
        return rows

    def count(self) -> int:
        return len({b for _, b in self._read()})

    async def stop(self) -> list[tuple[float, str]]:
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        rows = self._read()
        os.unlink(self.out.name)
        return rows


def cpp_consume(ns_addr: str, group: str, pause: float) -> int:
    from rocketmq.client import PushConsumer as CPush

    c = CPush(group)
    c.set_namesrv_addr(ns_addr)
    c.set_thread_count(1)
    c.set_instance_name(f"ha-bench-{os.getpid()}")

    def on(msg):
        if pause:
            time.sleep(pause)
        sys.stdout.write(json.dumps({"t": time.time(), "b": msg.body.decode()}) + "\n")
        sys.stdout.flush()  # returning normally = CONSUME_SUCCESS

    c.subscribe(TOPIC, on, "*")
    c.start()
    try:
        time.sleep(600)  # until terminated
    except KeyboardInterrupt:
        pass
    finally:
        c.shutdown()
    return 0


# -- one run --------------------------------------------------------------------------------
async def produce(ns_addr: str, stop: asyncio.Event, acked: dict[str, float],
                  errors: list[float]) -> None:
    async with Producer("PG_HA_BENCH", ns_addr) as p:
        seq = 0
        while not stop.is_set():
            body = f"m{seq}"
            seq += 1
            try:
                await p.send(Message(TOPIC, body.encode()))
                acked[body] = time.time()
            except SendError:
                errors.append(time.time())
            await asyncio.sleep(SEND_PAUSE_S)


async def one_run(role: str, client: str, outage: float, backlog: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="ha-bench-") as tmp:
        # HaPair waits for registrations with asyncio.run of its own: off this loop
        cl = await asyncio.get_running_loop().run_in_executor(None, Cluster, Path(tmp), role)
        try:
            return await _measure(cl, client, outage, backlog)
        finally:
            cl.stop()


async def _measure(cl: Cluster, client: str, outage: float, backlog: int) -> dict:
    kind = PyrmqGroup if client == "pyrmq" else CppGroup
    live, lag = kind(cl.ns_addr, "CG_LIVE", 0.0), kind(cl.ns_addr, "CG_LAG", LAG_PAUSE_S)
    acked: dict[str, float] = {}
    errors: list[float] = []
    stop = asyncio.Event()
    async with Producer("PG_HA_WARM", cl.ns_addr) as p:  # the topic exists before consumers
        await p.send(Message(TOPIC, b"warm"))
        for i in range(0, backlog, 100):  # stored before the consumers start
            await p.send_batch([Message(TOPIC, f"b{j}".encode())
                                for j in range(i, min(backlog, i + 100))])
            acked.update({f"b{j}": time.time() for j in range(i, min(backlog, i + 100))})
    await live.start()
    await lag.start()
    prod = asyncio.ensure_future(produce(cl.ns_addr, stop, acked, errors))
    await asyncio.sleep(10)
    pulled = cl.slave_pulled()
    cl.master.kill9()
    t_kill = time.time()
    first_slave_pull = None
    while time.time() - t_kill < outage:
        if first_slave_pull is None and cl.slave_pulled() > pulled:
            first_slave_pull = time.time() - t_kill
        await asyncio.sleep(0.05)
    t_listen = await asyncio.get_running_loop().run_in_executor(None, cl.start_master)
    await asyncio.sleep(10)
    stop.set()
    await prod
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and min(live.count(), lag.count()) < len(acked):
        await asyncio.sleep(0.5)
    live_seen, lag_seen = await live.stop(), await lag.stop()
    got = {b for _, b in live_seen} | {b for _, b in lag_seen}
    before = [t for t, _ in lag_seen if t < t_kill]
    # the lagging group's backlog at the kill is on the slave: it is consumed without a
    # pause unless the takeover stalls; the largest pause between two of its deliveries
    # (before the master's return) is the reader gap
    stored = {b for b, t in acked.items() if t < t_kill}
    ts = sorted([max(before, default=t_kill)]
                + [t for t, b in lag_seen if b in stored and t_kill <= t < t_listen])
    acks_back = [t for t in acked.values() if t >= t_listen]
    return {
        "first_slave_pull_s": None if first_slave_pull is None else round(first_slave_pull, 2),
        "reader_gap_s": round(max(b - a for a, b in zip(ts, ts[1:], strict=False)), 2)
        if len(ts) > 1 else None,
        "write_gap_s": round(min(acks_back) - t_listen, 2) if acks_back else None,
        "outage_send_errors": sum(1 for t in errors if t_kill <= t < t_listen),
        "acked": len(acked), "acked_lost": len(set(acked) - got),
        "dup_caught_up": len(live_seen) - len({b for _, b in live_seen}),
        "dup_lagging": len(lag_seen) - len({b for _, b in lag_seen}),
        "lag_backlog_at_kill": sum(1 for t in acked.values() if t < t_kill) - len(before),
    }


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--cpp-consume":
        return cpp_consume(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--role", choices=("ASYNC_MASTER", "SYNC_MASTER"), default="ASYNC_MASTER")
    ap.add_argument("--client", choices=("pyrmq", "cpp"), default="pyrmq")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--outage", type=float, default=15.0, help="seconds the master is away")
    ap.add_argument("--backlog", type=int, default=0,
                    help="messages stored before the consumers start (more than a client "
                         "prefetches, so the lagging group must read the slave)")
    a = ap.parse_args()
    rows = []
    for i in range(a.runs):
        r = asyncio.run(one_run(a.role, a.client, a.outage, a.backlog))
        print(json.dumps({"run": i + 1, "role": a.role, "client": a.client, **r}), flush=True)
        rows.append(r)
    print("| role / client | reader gap s | first slave pull s | write gap s "
          "| outage send errors | acked | lost | dup caught-up | dup lagging |")
    for r in rows:
        print(f"| {a.role}, {a.client} | {r['reader_gap_s']} | {r['first_slave_pull_s']} | "
              f"{r['write_gap_s']} | "
              f"{r['outage_send_errors']} | {r['acked']} | {r['acked_lost']} | "
              f"{r['dup_caught_up']} | {r['dup_lagging']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
