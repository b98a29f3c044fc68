"""An auto-created topic's permission is a plain int with TBW102's bits less INHERIT (an
IntFlag there made each permission test on the send and pull paths build a flag object)."""

from __future__ import annotations

from pyrmq.broker.config import BrokerConfig
from pyrmq.broker.topics import TopicConfigManager
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
