"""One bad entry (a name that is not valid text or breaks the name rules, however it got in)
never stops persistence of topics/groups/offsets or NameServer registration of the rest, and
is skipped with a warning when a file holding it is loaded (issue 13.2)."""

from __future__ import annotations

import asyncio
import json

from pyrmq.broker.config import BrokerConfig
from pyrmq.broker.groups import ConsumerOffsetManager, SubscriptionGroupManager, group_config
from pyrmq.broker.topics import TopicConfigManager
from pyrmq.namesrv.server import NameServer, NamesrvConfig
from pyrmq.protocol.bodies import TopicConfig, register_broker_body
from pyrmq.protocol.codes import RequestCode, ResponseCode
from pyrmq.protocol.command import request
from pyrmq.protocol.headers import RegisterBrokerRequestHeader
from pyrmq.remoting import RemotingClient

BAD = ["G\ud800", "../x", "a/b", ""]


def test_bad_entries_are_left_out_of_every_file(tmp_path, caplog):
    d = str(tmp_path / "config")
    topics = TopicConfigManager(BrokerConfig(), d)
    groups = SubscriptionGroupManager(d, True)
    offsets = ConsumerOffsetManager(d)
    for bad in BAD:  # as an older version (or a bug) could have let them in
        topics.table[bad] = TopicConfig(bad, 1, 1)
        groups.table[bad] = group_config(bad)
        offsets.table[f"{bad}@G"] = {0: 1}
        offsets.table[f"T@{bad}"] = {0: 1}
    topics.table["GoodT"] = TopicConfig("GoodT", 2, 2)
    groups.table["GoodG"] = group_config("GoodG")
    offsets.commit("GoodG", "GoodT", 0, 5)
    topics.persist()
    groups.persist()
    offsets.persist(force=True)
    t = json.loads((tmp_path / "config" / "topics.json").read_text())["topicConfigTable"]
    g = json.loads((tmp_path / "config" / "subscriptionGroup.json").read_text())
    o = json.loads((tmp_path / "config" / "consumerOffset.json").read_text())["offsetTable"]
    assert "GoodT" in t and not set(BAD) & set(t)
    assert "GoodG" in g["subscriptionGroupTable"]
    assert not set(BAD) & set(g["subscriptionGroupTable"])
    assert o == {"GoodT@GoodG": {"0": 5}}
    body = register_broker_body(topics.valid_table(), topics.version)
    registered = json.loads(body)["topicConfigSerializeWrapper"]["topicConfigTable"]
    assert "GoodT" in registered and not set(BAD) & set(registered)
    assert "not persisted" in caplog.text


def test_bad_entries_in_files_are_skipped_when_loading(tmp_path, caplog):
    d = tmp_path / "config"
    d.mkdir()
    (d / "topics.json").write_text(json.dumps({"topicConfigTable": {
        "../x": {"topicName": "../x"}, "GoodT": {"topicName": "GoodT"},
        "Broken": {"readQueueNums": "many"}}}))
    (d / "subscriptionGroup.json").write_text(json.dumps({"subscriptionGroupTable": {
        "a/b": {"groupName": "a/b"}, "GoodG": {"groupName": "GoodG"}, "X": 5}}))
    (d / "consumerOffset.json").write_text(json.dumps({"offsetTable": {
        "../T@G": {"0": 1}, "T@G": {"0": 2}, "nokey": {"0": 1}, "U@G": {"x": "y"}}}))
    topics = TopicConfigManager(BrokerConfig(), str(d))
    groups = SubscriptionGroupManager(str(d), True)
    offsets = ConsumerOffsetManager(str(d))
    assert "GoodT" in topics.table and "../x" not in topics.table and "Broken" not in topics.table
    assert "GoodG" in groups.table and "a/b" not in groups.table and "X" not in groups.table
    assert offsets.table == {"T@G": {0: 2}}
    assert caplog.text.count("skipped") >= 6


def test_groups_refuse_auto_creating_bad_names(tmp_path):
    groups = SubscriptionGroupManager(str(tmp_path), True)
    assert groups.find("../x") is None and groups.find("g" * 200) is None  # retry topic > 127
    assert groups.find("Fine") is not None


def test_namesrv_registers_the_good_topics_of_a_body_with_a_bad_one():
    async def go():
        ns = NameServer(NamesrvConfig(host="127.0.0.1", port=0))
        await ns.start()
        c = RemotingClient()
        try:
            body = register_broker_body({"GoodT": TopicConfig("GoodT", 2, 2),
                                         "../x": TopicConfig("../x", 1, 1)},
                                        {"counter": 1, "timestamp": 1})
            hdr = RegisterBrokerRequestHeader("b", "127.0.0.1:1", "C", "127.0.0.1:2", 0)
            r = await c.invoke(ns.addr, request(RequestCode.REGISTER_BROKER, hdr, body), 5)
            assert r.code == ResponseCode.SUCCESS
            ok = await c.invoke(ns.addr, request(RequestCode.GET_ROUTEINFO_BY_TOPIC,
                                                 {"topic": "GoodT"}), 5)
            assert ok.code == ResponseCode.SUCCESS
            assert "../x" not in ns.routes.topic_list()
        finally:
            await c.close()
            await ns.close()
    asyncio.run(go())
