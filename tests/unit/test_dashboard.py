"""The dashboard without a cluster: TPS from counter samples, message bodies as text or hex,
and the app's answers (403 read-only, 400 bad input, 502/500 as JSON) over a stub admin."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("aiohttp", reason="the dashboard needs aiohttp")

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from pyrmq.admin import AdminClient, AdminError  # noqa: E402
from pyrmq.dashboard import make_app  # noqa: E402
from pyrmq.dashboard.routes import message_json  # noqa: E402
from pyrmq.dashboard.tps import TpsSampler  # noqa: E402
from pyrmq.protocol.message import MessageExt  # noqa: E402


def test_tps_from_two_samples():
    s = TpsSampler()
    first = s.sample("b", 100.0, {"msgPutTotalTodayNow": "10", "msgGetTotalTodayNow": "4"})
    assert (first["putTps"], first["getTps"]) == (0.0, 0.0)
    nxt = s.sample("b", 102.0, {"msgPutTotalTodayNow": "30", "msgGetTotalTodayNow": "8"})
    assert (nxt["putTps"], nxt["getTps"], nxt["putTotal"]) == (10.0, 2.0, 30)
    back = s.sample("b", 103.0, {"msgPutTotalTodayNow": "1", "msgGetTotalTodayNow": "0"})
    assert (back["putTps"], back["getTps"]) == (0.0, 0.0)  # a restarted broker: no negatives


def _msg(body: bytes) -> MessageExt:
    return MessageExt("T", 0, 0, 5, 100, 0, 1, ("127.0.0.1", 1), 2, ("127.0.0.1", 2), 0, 0,
                      body, 0, {"KEYS": "a b", "TAGS": "t", "color": "red"})


def test_message_body_text_or_hex():
    text = message_json(_msg("héllo".encode()))
    assert (text["body"], text["bodyIsText"], text["keys"]) == ("héllo", True, "a b")
    binary = message_json(_msg(b"\xff\x00\x01"))
    assert (binary["body"], binary["bodyIsText"], binary["bodySize"]) == ("ff0001", False, 3)
    assert binary["properties"]["color"] == "red"


class StubAdmin(AdminClient):
    def __init__(self) -> None:
        super().__init__("127.0.0.1:1")
        self.created: list[str] = []

    async def update_topic(self, topic, *args):  # type: ignore[override]
        self.created.append(topic)
        return [{"topic": topic}]

    async def topic_list(self):  # type: ignore[override]
        raise RuntimeError("a bug")

    async def query_msg_by_id(self, msg_id):  # type: ignore[override]
        raise AdminError(f"no message {msg_id}")


def _run(allow_write: bool, fn):
    async def go():
        admin = StubAdmin()
        client = TestClient(TestServer(make_app(admin, allow_write)))
        await client.start_server()
        try:
            return await fn(client), admin
        finally:
            await client.close()
    return asyncio.run(go())


def test_writes_refused_unless_allowed():
    async def post(client):
        r = await client.post("/api/topics", json={"topic": "T"})
        return r.status, await r.json()
    (status, body), admin = _run(False, post)
    assert status == 403 and "read-only" in body["error"] and admin.created == []
    (status, body), admin = _run(True, post)
    assert status == 200 and admin.created == ["T"]


def test_errors_answer_json_and_keep_serving():
    async def calls(client):
        out = []
        for method, path, kw in (("post", "/api/topics", {"data": b"[1"}),
                                 ("post", "/api/topics", {"json": {"topic": "T", "perm": 9}}),
                                 ("get", "/api/messages?id=x", {}),
                                 ("get", "/api/topics", {}),
                                 ("get", "/api/config", {})):
            r = await getattr(client, method)(path, **kw)
            out.append((r.status, await r.json()))
        return out
    out, admin = _run(True, calls)
    assert [s for s, _ in out] == [400, 400, 502, 500, 200]
    assert "perm" in out[1][1]["error"] and out[2][1]["error"] == "no message x"
    assert "a bug" in out[3][1]["error"] and admin.created == []
