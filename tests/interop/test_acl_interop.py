"""The official C++ client (rocketmq==0.4.4) against a broker with aclEnable: its signature
(set_session_credentials) is accepted with the right key, its send refused with a wrong one."""

from __future__ import annotations

from rmqtest.cluster import driver, running_cluster

from pyrmq.acl import SessionCredentials, sign
from pyrmq.protocol.codes import RequestCode, ResponseCode
from pyrmq.protocol.command import request
from pyrmq.protocol.headers import CreateTopicRequestHeader

ACL = """
accounts:
  - accessKey: cppUserAA
    secretKey: cppSecret
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - AclCpp=PUB|SUB
  - accessKey: adminAAAA
    secretKey: adminSecret
    admin: true
"""


def test_cpp_client_signature_accepted_and_wrong_key_refused(tmp_path):
    acl = tmp_path / "plain_acl.yml"
    acl.write_text(ACL)
    with running_cluster(tmp_path, "--set", "aclEnable=true",
                         "--set", f"aclFile={acl}") as c:
        r = c.invoke(sign(request(RequestCode.UPDATE_AND_CREATE_TOPIC, CreateTopicRequestHeader(
            "AclCpp", "TBW102", 4, 4, 6, "SINGLE_TAG").to_ext()),
            SessionCredentials("adminAAAA", "adminSecret")))
        assert r.code == ResponseCode.SUCCESS, r.remark
        ok = driver("produce", c.ns_addr, "AclCpp", "3", "--access-key", "cppUserAA",
                    "--secret-key", "cppSecret")
        assert [e["event"] for e in ok] == ["sent"] * 3, ok
        assert all(e["status"] == 0 for e in ok)
        bad = driver("produce", c.ns_addr, "AclCpp", "1", "--access-key", "cppUserAA",
                     "--secret-key", "notTheSecret", timeout=120)
        assert [e["event"] for e in bad] == ["refused"], bad
        log = (c.tmp / "broker.log").read_text(errors="replace")
        assert "Check signature failed for accessKey=cppUserAA" in log
