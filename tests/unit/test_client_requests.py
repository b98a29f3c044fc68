"""The client's requests and answers through the typed protocol model, with a scripted broker
in place of the sockets: what the client sends parses with the typed headers/bodies the broker
reads, and answers are read with the typed response headers (a missing field is an error, not
a silent default)."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from pyrmq.client import (
    ConsumeFrom,
    LocalTransactionState,
    MessageModel,
    MessageQueue,
    Producer,
    PushConsumer,
    SendError,
    TransactionProducer,
)
from pyrmq.client.message import Message
from pyrmq.client.offsets import LocalFileOffsetStore
from pyrmq.client.orderly import lock_batch
from pyrmq.client.route import Route
from pyrmq.protocol.admin import LockBatchRequestBody, LockBatchResponseBody, ResetOffsetBody
from pyrmq.protocol.bodies import parse_subscription
from pyrmq.protocol.codes import RequestCode, ResponseCode
from pyrmq.protocol.command import RemotingCommand, request
from pyrmq.protocol.headers import (
    CheckTransactionStateRequestHeader,
    EndTransactionRequestHeader,
    GetMaxOffsetRequestHeader,
    OffsetResponseHeader,
    PullMessageRequestHeader,
    PullMessageResponseHeader,
    QueryConsumerOffsetRequestHeader,
    SendMessageRequestHeader,
    SendMessageResponseHeader,
)
from pyrmq.protocol.message import encode_stored_record, offset_msg_id
from pyrmq.protocol.route import BrokerData, QueueData, TopicRouteData

ADDR = "127.0.0.1:10911"
ROUTE = Route("T", TopicRouteData([QueueData("b", 2, 2, 6)], [BrokerData("C", "b", {0: ADDR})]))
MQ = MessageQueue("T", "b", 1)


class FakeRemoting:
    """Answers each request with ``answer(cmd)``; records what was sent."""

    def __init__(self, answer):
        self.answer = answer
        self.sent: list[RemotingCommand] = []
        self.conn = object()  # what connection(addr) returns; a new object = reconnected

    async def connection(self, addr):
        return self.conn

    async def invoke(self, addr, cmd, timeout=3.0):
        self.sent.append(cmd)
        return self.answer(cmd)

    async def invoke_oneway(self, addr, cmd):
        self.sent.append(cmd)

    async def close(self):
        pass


def _with_broker(client, answer):
    def routed(cmd):
        if cmd.code == RequestCode.GET_ROUTEINFO_BY_TOPIC:
            return cmd.response(ResponseCode.SUCCESS, body=ROUTE.data.to_json())
        return answer(cmd)
    client.remoting = client.namesrv.remoting = FakeRemoting(routed)
    client.routes["T"] = ROUTE
    return client.remoting


def test_send_v2_header_and_typed_response():
    async def main():
        p = Producer("PG", ADDR)
        p._route_time["T"] = time.monotonic()

        def answer(cmd):
            h = SendMessageRequestHeader.from_command(cmd)
            assert cmd.code == RequestCode.SEND_MESSAGE_V2 and "b" in cmd.ext_fields  # letters
            assert (h.producer_group, h.topic, h.default_topic, h.batch) == ("PG", "T",
                                                                            "TBW102", False)
            return cmd.response(ResponseCode.SUCCESS, ext_fields=SendMessageResponseHeader(
                "OFFSETID", h.queue_id, 41).to_ext())
        _with_broker(p, answer)
        r = await p.send(Message("T", b"x", tags="A"), queue=MQ)
        assert (r.offset_msg_id, r.queue, r.queue_offset) == ("OFFSETID", MQ, 41)
    asyncio.run(main())


def test_send_answer_without_its_header_is_a_send_error():
    async def main():
        p = Producer("PG", ADDR)
        p._route_time["T"] = time.monotonic()
        _with_broker(p, lambda cmd: cmd.response(ResponseCode.SUCCESS))
        with pytest.raises(SendError, match="bad send response"):
            await p.send(Message("T", b"x"), queue=MQ)
    asyncio.run(main())


def test_pull_request_and_answers():
    async def main():
        c = PushConsumer("CG", ADDR)
        replies = [ResponseCode.PULL_NOT_FOUND, ResponseCode.SUBSCRIPTION_NOT_EXIST]

        def answer(cmd):
            h = PullMessageRequestHeader.from_ext(cmd.ext_fields)
            assert (h.consumer_group, h.topic, h.queue_id, h.queue_offset, h.subscription,
                    h.expression_type) == ("CG", "T", 1, 7, "TagA", "TAG")
            code = replies.pop(0)
            if code == ResponseCode.PULL_NOT_FOUND:
                return cmd.response(code, ext_fields=PullMessageResponseHeader(0, 9, 0, 9)
                                    .to_ext())
            return cmd.response(code, "no subscription")  # refused: no pull header
        _with_broker(c, answer)
        sub = parse_subscription("T", "TagA")
        assert await c.pull_once(MQ, sub, 7) == (ResponseCode.PULL_NOT_FOUND, 9, [])
        assert await c.pull_once(MQ, sub, 7) == (ResponseCode.SUBSCRIPTION_NOT_EXIST, 7, [])
    asyncio.run(main())


def test_initial_offset_falls_back_to_max_when_the_group_has_none():
    async def main():
        c = PushConsumer("CG", ADDR, consume_from=ConsumeFrom.LAST_OFFSET)

        def answer(cmd):
            if cmd.code == RequestCode.QUERY_CONSUMER_OFFSET:
                assert QueryConsumerOffsetRequestHeader.from_ext(cmd.ext_fields).consumer_group \
                    == "CG"
                return cmd.response(ResponseCode.QUERY_NOT_FOUND, "none")
            assert cmd.code == RequestCode.GET_MAX_OFFSET
            assert GetMaxOffsetRequestHeader.from_ext(cmd.ext_fields).queue_id == 1
            return cmd.response(ResponseCode.SUCCESS, ext_fields=OffsetResponseHeader(55)
                                .to_ext())
        _with_broker(c, answer)
        assert await c._initial_offset(MQ) == 55
    asyncio.run(main())


def test_lock_batch_bodies():
    async def main():
        c = PushConsumer("CG", ADDR, orderly=True)
        other = MessageQueue("T", "b", 0)

        def answer(cmd):
            body = LockBatchRequestBody.from_json(cmd.body)
            assert (body.consumer_group, body.client_id) == ("CG", c.client_id)
            if cmd.code == RequestCode.UNLOCK_BATCH_MQ:
                assert body.mq_set == [MQ]
                return cmd.response(ResponseCode.SUCCESS)
            assert sorted(body.mq_set) == [other, MQ]
            return cmd.response(ResponseCode.SUCCESS,
                                body=LockBatchResponseBody([MQ]).to_json())
        _with_broker(c, answer)
        assert await lock_batch(c, [MQ, other]) == {MQ}
        assert await lock_batch(c, [MQ], lock=False) == set()
    asyncio.run(main())


class FakeConn:
    remote_addr = "127.0.0.1:10911"

    def __init__(self):
        self.sent = []

    def invoke_oneway(self, cmd):
        self.sent.append(cmd)


def _record() -> bytes:
    return encode_stored_record(
        topic="T", queue_id=1, flag=0, queue_offset=3, phys_offset=1234, sysflag=0,
        born_timestamp=1, born_host=("127.0.0.1", 1), store_timestamp=2,
        store_host=("127.0.0.1", 10911), reconsume_times=0, prepared_transaction_offset=0,
        body=b"x", properties={"UNIQ_KEY": "U1"})


def test_transactions_heartbeat_once_per_broker_connection():
    async def main():
        commit = LocalTransactionState.COMMIT_MESSAGE
        p = TransactionProducer("TPG", ADDR, lambda m: commit)
        p._route_time["T"] = time.monotonic()

        def answer(cmd):
            if cmd.code == RequestCode.HEART_BEAT:
                return cmd.response(ResponseCode.SUCCESS)
            h = SendMessageRequestHeader.from_command(cmd)
            return cmd.response(ResponseCode.SUCCESS, ext_fields=SendMessageResponseHeader(
                offset_msg_id("127.0.0.1", 10911, 4096), h.queue_id, 41).to_ext())
        remoting = _with_broker(p, answer)

        def count(code):
            return sum(c.code == code for c in remoting.sent)
        for _ in range(3):
            await p.send_in_transaction(Message("T", b"x"), lambda m: commit)
        # check-backs need the broker to know the group's channel: one heartbeat before the
        # first transaction, not a round trip per transaction
        assert (count(RequestCode.HEART_BEAT), count(RequestCode.END_TRANSACTION)) == (1, 3)
        first_end = [c for c in remoting.sent if c.code == RequestCode.END_TRANSACTION][0]
        assert EndTransactionRequestHeader.from_ext(first_end.ext_fields).commit_log_offset \
            == 4096
        remoting.conn = object()  # reconnected: the broker forgot the old channel
        await p.send_in_transaction(Message("T", b"x"), lambda m: commit)
        assert (count(RequestCode.HEART_BEAT), count(RequestCode.END_TRANSACTION)) == (2, 4)
    asyncio.run(main())


def test_transaction_check_back_answers_with_a_typed_end_transaction():
    async def main():
        p = TransactionProducer("TPG", ADDR, lambda m: LocalTransactionState.COMMIT_MESSAGE)
        conn = FakeConn()
        cmd = request(RequestCode.CHECK_TRANSACTION_STATE, CheckTransactionStateRequestHeader(
            7, 1234, msg_id="U1", transaction_id="U1").to_ext(), _record())
        await p._on_check(conn, cmd)
        h = EndTransactionRequestHeader.from_ext(conn.sent[0].ext_fields)
        assert (h.producer_group, h.tran_state_table_offset, h.commit_log_offset,
                h.commit_or_rollback, h.from_transaction_check, h.msg_id) == (
            "TPG", 7, 1234, LocalTransactionState.COMMIT_MESSAGE.value, True, "U1")
    asyncio.run(main())


def test_transaction_check_back_without_offsets_is_ignored(caplog):
    async def main():
        p = TransactionProducer("TPG", ADDR, lambda m: LocalTransactionState.COMMIT_MESSAGE)
        conn = FakeConn()
        with caplog.at_level(logging.WARNING, "pyrmq.client"):
            await p._on_check(conn, request(RequestCode.CHECK_TRANSACTION_STATE,
                                            {"msgId": "U1"}, _record()))
        assert conn.sent == []  # never an END_TRANSACTION for commit log offset 0
        assert "bad transaction check" in caplog.text
    asyncio.run(main())


def test_reset_offsets_both_forms_and_bad_body(caplog):
    async def main():
        c = PushConsumer("CG", ADDR)
        body = ResetOffsetBody({MQ: 5})
        await c._reset(FakeConn(), request(RequestCode.RESET_CONSUMER_CLIENT_OFFSET, None,
                                           body.to_java_json()))
        assert c.offsets == {MQ: 5} and c._resets == {MQ: 5}
        await c._reset(FakeConn(), request(RequestCode.RESET_CONSUMER_CLIENT_OFFSET, None,
                                           ResetOffsetBody({MQ: 6}).to_wheel_json()))
        assert c.offsets == {MQ: 6}
        with caplog.at_level(logging.WARNING, "pyrmq.client"):
            await c._reset(FakeConn(), request(RequestCode.RESET_CONSUMER_CLIENT_OFFSET, None,
                                               b'{"offsetTable":[{"topic":"T"}]}'))
        assert c.offsets == {MQ: 6} and "bad offset reset" in caplog.text
    asyncio.run(main())


def test_local_offset_store_round_trip_bad_rows_and_unwritable_path(tmp_path, caplog):
    async def main():
        store = LocalFileOffsetStore(str(tmp_path / "g" / "offsets.json"))
        store.offsets[MQ] = 12
        await store.persist(MQ)
        again = LocalFileOffsetStore(store.path)
        again.load()
        assert again.offsets == {MQ: 12} and await again.read_stored(MQ) == 12
        assert await again.read_stored(MessageQueue("T", "b", 0)) == -1

        (tmp_path / "bad.json").write_text(
            '{"offsetTable":[{"topic":"T"},{"topic":"T","brokerName":"b","queueId":1,'
            '"offset":3}]}')
        bad = LocalFileOffsetStore(str(tmp_path / "bad.json"))
        with caplog.at_level(logging.WARNING, "pyrmq.client"):
            bad.load()
        assert bad.offsets == {MQ: 3}  # the good entry kept, the bad one skipped

        (tmp_path / "file").write_text("")
        stuck = LocalFileOffsetStore(str(tmp_path / "file" / "g" / "offsets.json"))
        stuck.offsets[MQ] = 1
        with caplog.at_level(logging.WARNING, "pyrmq.client"):
            await stuck.persist_all()  # a warning, not an exception out of the commit loop
        assert "could not write offsets" in caplog.text
        assert await stuck.read_stored(MQ) == -1
    asyncio.run(main())


def test_broadcasting_consumer_keeps_offsets_in_a_local_file(tmp_path):
    c = PushConsumer("CG", ADDR, model=MessageModel.BROADCASTING, offset_dir=str(tmp_path))
    assert isinstance(c.offset_store, LocalFileOffsetStore)
    assert c.offset_store.path.startswith(str(tmp_path)) and c.offsets is c.offset_store.offsets
