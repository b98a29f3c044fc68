"""A topic's permission is a plain int whatever flag object built it (an IntFlag there made
each permission test on the send and pull paths build a flag object)."""

from __future__ import annotations

from pyrmq.broker.config import BrokerConfig
from pyrmq.broker.topics import TopicConfigManager
from pyrmq.protocol.bodies import TopicConfig
from pyrmq.protocol.codes import PermName


def test_auto_created_topic_perm_is_a_plain_int(tmp_path):
    topics = TopicConfigManager(BrokerConfig(), str(tmp_path / "config"))
    default = topics.get("TBW102")
    assert default is not None and default.perm & PermName.INHERIT
    tc = topics.create_from_default("BenchT8", "TBW102", 8)
    assert tc is not None
    assert type(tc.perm) is int
    assert tc.perm == int(default.perm) & ~int(PermName.INHERIT)
    assert tc.perm & PermName.READ and tc.perm & PermName.WRITE


def test_topic_config_normalises_a_flag_perm():
    tc = TopicConfig("T", 4, 4, PermName.READ | PermName.WRITE)
    assert type(tc.perm) is int and tc.perm == 6
    assert tc.encode() == "T 4 4 6 SINGLE_TAG"
