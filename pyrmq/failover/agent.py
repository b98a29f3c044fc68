"""The failover agent: one per broker replica, in the broker process, Patroni-style on etcd.

It owns the :class:`~pyrmq.broker.Broker` and restarts it inside the process on every role
change (close, reconcile the store, start with the new role) — the simplest safe switch, as
every service of a role starts and stops with the Broker it belongs to. Each tick it:

1. renews its lease (TTL ``failoverLeaseTtlMs``) and publishes its status under it;
2. as master: fences itself — refuses writes at once, then restarts as slave — when the lease
   has not been renewed for ``TTL - margin`` (measured from when the renewal was *sent*, so
   this happens before etcd can let the key expire and another member win);
3. reads the group's keys; follows the leader (reconciling a divergent tail first), or, when
   there is none and ``rules.candidate`` says so, campaigns with a txn that creates the
   leader key and bumps the epoch only if both are as it read them.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

from pyrmq.broker import Broker
from pyrmq.broker.config import BrokerConfig
from pyrmq.failover import etcd as E
from pyrmq.failover.epoch import EpochFile
from pyrmq.failover.group import GroupKeys
from pyrmq.failover.rules import Epochs, Member, View, candidate
from pyrmq.store import StoreConfig
from pyrmq.store.truncate import cut_commitlog

log = logging.getLogger("pyrmq.failover")

PING_S = 1.0  # master -> slave failsafe pings


class FailoverBroker:
    """``serve(fb.start, fb.close)`` like a Broker; ``broker`` is the Broker of the moment."""

    def __init__(self, cfg: BrokerConfig, store_cfg: StoreConfig, *,
                 listen_host: str = "0.0.0.0") -> None:
        if cfg.brokerRole == "SLAVE":
            raise ValueError("failoverEnable: brokerRole must be the role the leader takes "
                             "(SYNC_MASTER or ASYNC_MASTER), not SLAVE")
        self.cfg, self.store_cfg, self.listen_host = cfg, store_cfg, listen_host
        self.etcd = E.EtcdClient([e for e in cfg.etcdEndpoints.split(";") if e.strip()],
                                 timeout=min(1.0, cfg.failoverLeaseTtlMs / 6000))
        self.group = GroupKeys(self.etcd, cfg.failoverKeyPrefix, cfg.brokerClusterName,
                               cfg.brokerName)
        self.name = cfg.broker_addr
        #: what the others replicate from (a NAT or proxy address when configured)
        self.ha_addr = cfg.failoverHaAddress or cfg.ha_addr
        self.epochs = EpochFile(store_cfg.storePathRootDir)
        self.ttl_s = max(2, math.ceil(cfg.failoverLeaseTtlMs / 1000))
        #: fence this long before the lease could expire (clock rate skew, a slow loop)
        self.margin_s = max(0.5, self.ttl_s / 4)
        self.tick_s = min(0.5, self.ttl_s / 6)
        self.broker: Broker | None = None
        self.role = "NONE"          # MASTER / SLAVE / FENCED (between brokers) / NONE
        self.leader: Member | None = None
        self.lease = 0
        self.lease_until = 0.0      # monotonic time before which the lease surely lives
        self._renewed = 0.0
        self._ack_published = -1
        self._tasks: list[asyncio.Task[None]] = []
        self._started = 0.0
        self._view: View | None = None   # the last view etcd gave
        self._etcd_ok = True
        self._failsafe_logged = False

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Start as a slave of whoever leads (nobody yet is fine); the loop takes it from
        there. A store or port problem raises as Broker.start does."""
        await self._restart("SLAVE", None)
        self._started = time.monotonic()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._run()), loop.create_task(self._watchdog())]

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.broker is not None:
            await self.broker.close()
            self.broker = None
        if self.lease:  # let the others take over now rather than after the TTL
            try:
                await self.etcd.revoke(self.lease)
            except E.EtcdError as e:
                log.info("lease revoke at close failed: %s", e)
        await self.etcd.close()

    # -- the loop ----------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
                if not self._etcd_ok:
                    log.warning("etcd reachable again")
                self._etcd_ok = True
            except asyncio.CancelledError:
                raise
            except E.EtcdError as e:  # said once per outage, not every tick
                if self._etcd_ok:
                    log.warning("etcd: %s", e)
                self._etcd_ok = False
            except Exception:  # one bad tick must not end failover for this replica
                log.exception("failover tick failed")
            if self.role == "MASTER" and self._writes_stopped():
                await self._fence("lease not renewed in time")
            await asyncio.sleep(self.tick_s)

    async def _watchdog(self) -> None:
        """Refuse writes the moment the lease may be about to expire, whatever the main loop
        is waiting for (an etcd call, a restart)."""
        while True:
            if self.role == "MASTER" and time.monotonic() >= self.lease_until - self.margin_s:
                if self._failsafe():
                    if not self._failsafe_logged:
                        log.warning("lease renewal overdue, but every slave has promised not "
                                    "to campaign: still master (failsafe)")
                        self._failsafe_logged = True
                else:
                    self._stop_writes()
            else:
                self._failsafe_logged = False
            await asyncio.sleep(0.05)

    def _failsafe(self) -> bool:
        """Patroni's failsafe mode: with etcd out of reach the master keeps serving while
        every other member of the last view has answered a ping sent less than
        ``TTL - margin`` ago (each answer promises not to campaign for a TTL from its
        receipt, so none can be elected meanwhile). A member that is gone ends it."""
        b, view = self.broker, self._view
        if b is None or b.ha_master is None or view is None:
            return False
        others = len([m for m in view.members if m.name != self.name])
        since = b.ha_master.promised_since(others)
        return others >= 1 and since is not None and \
            time.monotonic() < since + self.ttl_s - self.margin_s

    def _stop_writes(self) -> None:
        b = self.broker
        if b is not None and not b.ctx.is_slave:
            b.ctx.cfg = b.ctx.cfg.replace(brokerRole="SLAVE")  # the send path refuses at once
            log.warning("lease renewal overdue: writes refused from now on")

    def _writes_stopped(self) -> bool:
        return self.broker is not None and self.broker.ctx.is_slave

    async def tick(self) -> None:
        """One round: lease, status, decision."""
        await self._keep_lease()
        await self._publish()
        view = await self.group.read_view()
        await self._decide(view)

    async def _keep_lease(self) -> None:
        now = time.monotonic()
        if self.lease and now - self._renewed < self.ttl_s / 3:
            return
        if not self.lease:
            self.lease = await self.etcd.grant(self.ttl_s)
            self.lease_until, self._renewed = now + self.ttl_s, now
            return
        ttl = await self.etcd.keepalive(self.lease)
        if ttl <= 0:
            log.warning("lease %x expired", self.lease)
            self.lease = 0
            self.lease_until = 0.0
            if self.role == "MASTER" and not self._writes_stopped():
                await self._reacquire()
            return
        self.lease_until, self._renewed = now + min(ttl, self.ttl_s), now

    async def _reacquire(self) -> None:
        """A master whose lease went while it served in failsafe: take the leader key again
        under a new lease if nobody has been elected since (no leader, same epoch record),
        otherwise step down."""
        now = time.monotonic()
        lease = await self.etcd.grant(self.ttl_s)
        view, won = self._view, False
        if view is not None:
            won = await self.group.campaign(view, self._me(), self.epochs.state, lease)
        if won:
            self.lease, self.lease_until, self._renewed = lease, now + self.ttl_s, now
            log.warning("leader key taken again under a new lease (epoch %d)",
                        self.epochs.epoch)
            return
        await self.etcd.revoke(lease)
        await self._fence("lease expired and the leader key could not be taken again")

    def _me(self) -> Member:
        role = self.role if self.role in ("MASTER", "SLAVE") else "FENCED"
        return Member(self.name, self.cfg.broker_addr, self.ha_addr, self.confirmed(),
                      self.epochs.epoch, role)

    def confirmed(self) -> int:
        """The end of the last whole record in the store (what a promotion would keep)."""
        if self.broker is None or self.broker.store is None:
            return 0
        st = self.broker.store.stats()
        return st["max_phys_offset"] - st["dispatch_lag_bytes"]

    def raw_end(self) -> int:
        """The store's write position, a partly received record included."""
        if self.broker is None or self.broker.store is None:
            return 0
        return self.broker.store.max_phys_offset()

    async def _publish(self) -> None:
        if not self.lease:
            return
        await self.group.publish(self._me(), self.lease)
        ha = self.broker.ha_master if self.broker is not None else None
        if self.role == "MASTER" and self.cfg.brokerRole == "SYNC_MASTER" and ha is not None:
            acked = ha.max_acked()
            if acked > self._ack_published:
                await self.group.publish_ack(self.epochs.epoch, acked)
                self._ack_published = acked

    async def _decide(self, view: View) -> None:
        self._view = view
        leader = view.leader
        if leader is not None and leader.name == self.name:
            return  # mine (or an earlier run's, which goes with its lease)
        if leader is not None:
            if self.role == "MASTER":
                await self._fence(f"{leader.name} leads now")
            await self._follow(leader, view.epochs)
            return
        # members starting together all publish before anyone campaigns: wait one TTL
        settled = time.monotonic() - self._started >= self.ttl_s
        if self.role == "SLAVE" and self.lease and settled and candidate(view, self._me()):
            await self._campaign(view)

    # -- role changes ------------------------------------------------------------------------
    async def _follow(self, leader: Member, epochs: Epochs) -> None:
        cut_at = epochs.divergence(self.epochs.epoch) if epochs.epoch > self.epochs.epoch else None
        needs_cut = cut_at is not None and self.raw_end() > cut_at
        same = self.leader is not None and self.leader.ha == leader.ha
        if self.role == "SLAVE" and same and not needs_cut:
            return
        if self.role == "SLAVE" and not needs_cut and self.broker is not None \
                and self.broker.ha_slave is not None:
            log.info("following %s (HA %s, epoch %d)", leader.name, leader.ha, epochs.epoch)
            self.leader = leader
            self.broker.ha_slave.follow(leader.ha, leader.addr)
            return
        self.leader = leader
        await self._restart("SLAVE", leader, cut_at if needs_cut else None, epochs)

    async def _campaign(self, view: View) -> None:
        broker = self.broker
        assert broker is not None and broker.ha_slave is not None
        if time.monotonic() < broker.ha_slave.promised_until:
            return  # a master still counts on our promise (failsafe)
        await broker.ha_slave.stop()  # nothing more arrives: the offset below is final
        if time.monotonic() < broker.ha_slave.promised_until:  # a ping came meanwhile
            broker.ha_slave.start()
            return
        start = self.confirmed()
        nxt = view.epochs.next(start)
        leader = Member(self.name, self.cfg.broker_addr, self.ha_addr, start, nxt.epoch,
                        "MASTER")
        won = False
        try:
            if time.monotonic() < self.lease_until - self.margin_s:
                won = await self.group.campaign(view, leader, nxt, self.lease)
        finally:
            if not won:
                log.info("campaign for epoch %d lost; staying a slave", nxt.epoch)
                broker.ha_slave.start()
        if not won:
            return
        log.warning("elected master of %s/%s: epoch %d begins at CommitLog offset %d",
                    self.cfg.brokerClusterName, self.cfg.brokerName, nxt.epoch, start)
        self.epochs.save(nxt)
        self.leader = leader
        self._ack_published = -1
        await self._restart("MASTER", None)
        end = self.broker.store.max_phys_offset() if self.broker is not None else start
        if end != start:
            log.error("epoch %d was published starting at %d but the store opened at %d",
                      nxt.epoch, start, end)

    async def _fence(self, why: str) -> None:
        """Stop accepting writes now, then run as a slave until the group says otherwise."""
        self._stop_writes()
        self.role = "FENCED"
        log.warning("fenced: no longer master (%s)", why)
        self.leader = None
        await self._restart("SLAVE", None)

    async def _restart(self, role: str, leader: Member | None, cut_at: int | None = None,
                       epochs: Epochs | None = None) -> None:
        if self.broker is not None:
            await self.broker.close()
            self.broker = None
        if cut_at is not None:
            self._cut(cut_at)
        if epochs is not None and epochs.epoch > self.epochs.epoch:
            self.epochs.save(epochs)
        if role == "MASTER":
            cfg = self.cfg.replace(brokerId=0, haMasterAddress="")
            store_cfg = self.store_cfg.replace(brokerRole=self.cfg.brokerRole)
        else:
            cfg = self.cfg.replace(brokerRole="SLAVE", brokerId=self.cfg.brokerId or 1,
                                   haMasterAddress=leader.ha if leader else "")
            store_cfg = self.store_cfg.replace(brokerRole="SLAVE")
        broker = Broker(cfg, store_cfg, listen_host=self.listen_host)
        for ha in (broker.ha_master, broker.ha_slave):
            if ha is not None:
                ha.epochs = self.epochs
        if broker.ha_master is not None:
            broker.ha_master.ping_s = PING_S
        if broker.ha_slave is not None:
            broker.ha_slave.promise_s = float(self.ttl_s)
        if broker.ha_slave is not None and leader is not None:
            broker.ha_slave.master_addr = leader.addr
        try:
            await broker.start()
        except BaseException:
            await broker.close()
            raise
        self.broker = broker
        self.role = role
        log.info("running as %s%s", role, f", following {leader.name}" if leader else "")

    def _cut(self, at: int) -> None:
        root = self.store_cfg.storePathRootDir
        report = cut_commitlog(root, at, f"commitlog-cut-epoch{self.epochs.epoch}-{at}.bin")
        if report is not None:
            log.warning("CommitLog [%d, %d) (%d bytes) never reached the new master: cut, "
                        "kept in %s", report.start, report.end, report.bytes, report.side)

