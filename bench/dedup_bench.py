"""Cost of the broker's duplicate filter on the send path: the SEND_MESSAGE_V2 handler driven
directly over a real store (ASYNC_FLUSH, 1 KiB bodies, distinct UNIQ_KEYs), filter off vs on,
interleaved rounds; prints µs per send and the difference.

    .venv/bin/python bench/dedup_bench.py [--sends 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from rmqtest.store import small_config  # noqa: E402

from pyrmq.broker import send  # noqa: E402
from pyrmq.broker.config import BrokerConfig  # noqa: E402
from pyrmq.broker.context import BrokerContext  # noqa: E402
from pyrmq.protocol import headers as H  # noqa: E402
from pyrmq.protocol.codes import RequestCode  # noqa: E402
from pyrmq.protocol.command import request  # noqa: E402
from pyrmq.protocol.message import encode_properties  # noqa: E402
from pyrmq.store import MessageStore  # noqa: E402


class _Conn:
    remote_addr = "127.0.0.1:40000"
    id = 1
    attrs: dict = {}


def _round(enabled: bool, n: int, seq: list[int]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = small_config(storePathRootDir=tmp, mappedFileSizeCommitLog=256 * 1024 * 1024)
        store = MessageStore(tmp, cfg, store_host=("127.0.0.1", 10911))
        ctx = BrokerContext.create(BrokerConfig(storePathRootDir=tmp,
                                                duplicateFilterEnable=enabled), cfg, store)
        cmds = []
        for _ in range(n):
            seq[0] += 1
            hdr = H.SendMessageRequestHeader(
                "PG", "BenchT", "TBW102", 4, 0, 0, 1_700_000_000_000, 0,
                encode_properties({"UNIQ_KEY": f"{seq[0]:032X}", "WAIT": "true"}).decode(),
                0, False, False)
            cmds.append(request(RequestCode.SEND_MESSAGE_V2, hdr.to_ext_v2(), b"x" * 1024))

        async def go() -> float:
            conn = _Conn()
            t0 = time.perf_counter()
            for c in cmds:
                await send.handle_send(ctx, conn, c)
            return (time.perf_counter() - t0) / n * 1e6

        try:
            return asyncio.run(go())
        finally:
            ctx.executor.shutdown(wait=True)
            store.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sends", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    seq = [0]
    off, on = [], []
    for _ in range(a.rounds):
        off.append(_round(False, a.sends, seq))
        on.append(_round(True, a.sends, seq))
    m_off, m_on = statistics.median(off), statistics.median(on)
    print(f"send handler, filter off: {m_off:.2f} µs/send (median of {a.rounds})")
    print(f"send handler, filter on:  {m_on:.2f} µs/send")
    print(f"cost of the filter: {m_on - m_off:+.2f} µs/send ({(m_on / m_off - 1) * 100:+.1f} %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
