"""A NameServer, a master and its slave (brokerName broker-a) as real processes, the slave
pointed at the master's HA port (or left to learn it from the NameServer); used by the HA and
takeover tests and bench/ha_failover.py."""

from __future__ import annotations

import time
from pathlib import Path

from rmqtest.cluster import wait_registered
from rmqtest.procs import SMALL_STORE, Proc, free_port, start_namesrv, start_pyrmq, until


class HaPair:
    """``role`` is the master's brokerRole; ``slave_sets`` are extra ``KEY=VALUE`` items for
    the slave; ``ha_from_namesrv``: the slave gets no haMasterAddress and learns the master's
    HA address from its registration answer. Returns once both are registered and the slave
    has attached (bounded 20 s); a start that fails stops what it started."""

    def __init__(self, tmp: Path, role: str, slave_sets: tuple[str, ...] = (), *,
                 ha_from_namesrv: bool = False) -> None:
        self.tmp, self.role = tmp, role
        self.ns = start_namesrv(tmp)
        self.ns_addr = f"127.0.0.1:{self.ns.port}"
        self.mport, self.mha, self.sport = free_port(), free_port(), free_port()
        self.master: Proc | None = None
        self.slave: Proc | None = None
        try:
            self.start_master()
            master_ha = () if ha_from_namesrv else (f"haMasterAddress=127.0.0.1:{self.mha}",)
            self.slave = self._start("slave", self.sport, free_port(), "brokerRole=SLAVE",
                                     "brokerId=1", *master_ha, *slave_sets)
            wait_registered(self.ns_addr, self.saddr)
            until(self._attached, 20)
        except BaseException:
            self.stop()
            raise

    def _attached(self) -> None:
        assert self.master is not None
        assert "attached at" in self.master.log(), self.master.log()

    def _start(self, name: str, port: int, ha: int, *sets: str) -> Proc:
        args = ["broker", "-n", self.ns_addr, "--listen-port", str(port), "--listen-host",
                "127.0.0.1", "--store", str(self.tmp / name), "--set", "brokerName=broker-a",
                "--set", f"haListenPort={ha}", *SMALL_STORE]
        for kv in sets:
            args += ["--set", kv]
        return start_pyrmq(args, self.tmp / f"{name}.log", port)

    def start_master(self) -> float:
        """Start (or restart) the master; returns when it is registered, with the time it
        started listening (its registration follows)."""
        self.master = self._start("master", self.mport, self.mha, f"brokerRole={self.role}")
        listening = time.time()
        wait_registered(self.ns_addr, self.maddr)
        return listening

    @property
    def maddr(self) -> str:
        return f"127.0.0.1:{self.mport}"

    @property
    def saddr(self) -> str:
        return f"127.0.0.1:{self.sport}"

    def stop(self) -> None:
        for p in (self.slave, self.master, self.ns):
            if p is not None:
                p.stop()
