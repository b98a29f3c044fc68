"""pyrmq.acl: signature content and HMAC (vectors computed with `openssl dgst -sha1 -hmac`),
4.9's address patterns, plain_acl.yml parsing, the validator's resource rules and remarks, and
the hot-reloaded file."""

from __future__ import annotations

import logging
import os

import pytest

from pyrmq.acl.address import AddressPatternError, parse_address
from pyrmq.acl.config import DENY, PUB, SUB, AclConfigError, parse_acl, parse_perm
from pyrmq.acl.sign import SessionCredentials, content, sign, signature
from pyrmq.acl.validator import check, needed
from pyrmq.acl.watch import AclFile
from pyrmq.protocol.bodies import ConsumerData, HeartbeatData, SubscriptionData
from pyrmq.protocol.codes import RequestCode as RC
from pyrmq.protocol.command import request


def test_content_and_signature_vectors() -> None:
    fields = {"b": "a", "AccessKey": "RocketMQ", "a": "12345", "Signature": "ignored"}
    assert content(fields, b"body") == b"RocketMQ12345abody"
    assert signature(b"RocketMQ12345abody", "12345678") == "14wnh0/HJO4QK6FtL+NcAxbYMEg="
    assert signature(b"RocketMQ", "12345678") == "IUc8rrO/0gDch8CjObLQsW2rsiA="


def test_sign_adds_fields_like_acl_client_rpc_hook() -> None:
    cmd = sign(request(RC.PULL_MESSAGE, {"topic": "topicA"}),
               SessionCredentials("rocketmq2", "secretXYZ", "token"))
    assert cmd.ext_fields["AccessKey"] == "rocketmq2"
    assert cmd.ext_fields["SecurityToken"] == "token"
    assert cmd.ext_fields["Signature"] == "wDVaiL76ZNaIoxj0bjBRxBxAhpQ="
    again = sign(cmd, SessionCredentials("rocketmq2", "secretXYZ", "token"))
    assert again.ext_fields == cmd.ext_fields  # an old Signature is not signed over
    plain = sign(request(RC.PULL_MESSAGE), SessionCredentials("RocketMQ", "12345678"))
    assert "SecurityToken" not in plain.ext_fields
    assert plain.ext_fields["Signature"] == "IUc8rrO/0gDch8CjObLQsW2rsiA="


@pytest.mark.parametrize("pattern,yes,no", [
    ("*", ["1.2.3.4", "::1"], []),
    ("*.*.*.*", ["10.0.0.1"], []),
    ("192.168.0.{1,2}", ["192.168.0.1", "192.168.0.2"], ["192.168.0.3", "192.168.1.1"]),
    ("192.168.1.1-100", ["192.168.1.1", "192.168.1.100"], ["192.168.1.101", "192.168.2.5"]),
    ("192.168.*.*", ["192.168.0.1", "192.168.255.9"], ["192.169.0.1"]),
    ("10.10.103.*", ["10.10.103.7"], ["10.10.104.7"]),
    ("192.10-20.*.*", ["192.15.1.1"], ["192.21.1.1"]),
    ("127.0.0.1,10.0.0.2", ["127.0.0.1", "10.0.0.2"], ["10.0.0.3"]),
    ("127.0.0.1", ["127.0.0.1"], ["127.0.0.2"]),
])
def test_address_patterns(pattern: str, yes: list[str], no: list[str]) -> None:
    p = parse_address(pattern)
    assert p is not None
    assert all(p.match(a) for a in yes)
    assert not any(p.match(a) for a in no)


@pytest.mark.parametrize("bad", ["192.168.1.100-1", "192.168.*.1", "192.168.{1,2}",
                                 "192.168.1.300-400", "*.168.1.1", "1.2.3.{1,x}"])
def test_bad_address_patterns(bad: str) -> None:
    with pytest.raises(AddressPatternError):
        parse_address(bad)


def test_blank_pattern_matches_nothing() -> None:
    assert parse_address("") is None and parse_address(None) is None


SAMPLE = """
globalWhiteRemoteAddresses:
  - 10.10.103.*
  - 192.168.0.*
accounts:
  - accessKey: RocketMQ
    secretKey: 12345678
    whiteRemoteAddress:
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - topicA=DENY
      - topicB=PUB|SUB
      - topicC=SUB
    groupPerms:
      - groupA=DENY
      - groupB=PUB|SUB
      - groupC=SUB
  - accessKey: rocketmq2
    secretKey: 12345678
    whiteRemoteAddress: 192.168.1.*
    admin: true
"""


def test_parse_sample_file() -> None:
    acl = parse_acl(SAMPLE)
    assert [p.text for p in acl.global_white] == ["10.10.103.*", "192.168.0.*"]
    a = acl.accounts["RocketMQ"]
    assert (a.secret_key, a.admin, a.white, a.default_topic_perm, a.default_group_perm) == \
        ("12345678", False, None, DENY, SUB)
    assert a.perms == {"topicA": DENY, "topicB": PUB | SUB, "topicC": SUB,
                       "%RETRY%groupA": DENY, "%RETRY%groupB": PUB | SUB,
                       "%RETRY%groupC": SUB}
    b = acl.accounts["rocketmq2"]
    assert b.admin and b.white is not None and b.white.match("192.168.1.9")
    assert parse_perm("SUB|PUB") == PUB | SUB and parse_perm("junk") == DENY
    assert parse_acl("").accounts == {}


@pytest.mark.parametrize("text,msg", [
    ("accounts: [{accessKey: short, secretKey: 12345678}]", "longer than"),
    ("accounts: [{accessKey: RocketMQ, secretKey: 12345678, topicPerms: [topicA]}]",
     "Res=Perm"),
    ("accounts: [{accessKey: RocketMQ, secretKey: 12345678, topicPerms: [topicA=ALL]}]",
     "bad permission"),
    ("globalWhiteRemoteAddresses: [1.2.3.9-1]", "bad address"),
    ("accounts: [x", "not YAML"),
    ("- a list", "mapping"),
])
def test_bad_files(text: str, msg: str) -> None:
    with pytest.raises(AclConfigError, match=msg):
        parse_acl(text)


USER = SessionCredentials("RocketMQ", "12345678")
ADMIN = SessionCredentials("rocketmq2", "12345678")


def test_needed_resources() -> None:
    assert needed(request(RC.SEND_MESSAGE_V2, {"a": "pg", "b": "t1"})) == {"t1": PUB}
    assert needed(request(RC.SEND_MESSAGE_V2, {"a": "cg", "b": "%RETRY%cg"})) == \
        {"%RETRY%cg": SUB}
    assert needed(request(RC.PULL_MESSAGE, {"topic": "t", "consumerGroup": "g"})) == \
        {"t": SUB, "%RETRY%g": SUB}
    assert needed(request(RC.CONSUMER_SEND_MSG_BACK, {"group": "g"})) == {"%RETRY%g": SUB}
    assert needed(request(RC.QUERY_CONSUMER_OFFSET, {"topic": "t", "consumerGroup": "g"})) \
        == {"t": SUB, "%RETRY%g": SUB}
    hb = HeartbeatData("cid", ["pg"], [ConsumerData("g", subscriptions=[
        SubscriptionData("t1", "*")])])
    assert needed(request(RC.HEART_BEAT, None, hb.to_json())) == {"%RETRY%g": SUB, "t1": SUB}
    assert needed(request(RC.GET_ROUTEINFO_BY_TOPIC, {"topic": "t"})) == {}


def test_check_rules_and_remarks() -> None:
    acl = parse_acl(SAMPLE)
    ip = "127.0.0.1"

    def go(cmd, creds=USER, addr=ip):  # type: ignore[no-untyped-def]
        return check(acl, sign(cmd, creds) if creds else cmd, addr)

    send_b = request(RC.SEND_MESSAGE_V2, {"a": "pg", "b": "topicB"}, b"x")
    assert go(send_b) is None
    assert go(send_b, None) == "No accessKey is configured"
    assert go(send_b, SessionCredentials("nobody1", "12345678")) == "No acl config for nobody1"
    assert go(send_b, SessionCredentials("RocketMQ", "wrongwrong")) == \
        "Check signature failed for accessKey=RocketMQ"
    tampered = sign(send_b, USER)
    from dataclasses import replace
    assert check(acl, replace(tampered, body=b"y"), ip) == \
        "Check signature failed for accessKey=RocketMQ"
    odd = replace(tampered, ext_fields={**tampered.ext_fields, "Signature": "\u00e9\udc80"})
    assert check(acl, odd, ip) == "Check signature failed for accessKey=RocketMQ"
    assert go(request(RC.SEND_MESSAGE_V2, {"a": "pg", "b": "topicA"})) == \
        "No default permission for topic:topicA"
    assert go(request(RC.SEND_MESSAGE_V2, {"a": "pg", "b": "topicC"})) == \
        "No default permission for topic:topicC"     # SUB only
    assert go(request(RC.SEND_MESSAGE_V2, {"a": "pg", "b": "other"})) == \
        "No default permission for topic:other"      # defaultTopicPerm DENY
    assert go(request(RC.PULL_MESSAGE, {"topic": "topicC", "consumerGroup": "groupC"})) is None
    assert go(request(RC.PULL_MESSAGE, {"topic": "topicC", "consumerGroup": "groupA"})) == \
        "No default permission for group:groupA"
    assert go(request(RC.PULL_MESSAGE, {"topic": "topicC", "consumerGroup": "anyg"})) is None
    assert go(request(RC.UPDATE_AND_CREATE_TOPIC, {"topic": "x"})) == \
        "Need admin permission for request code=17, but accessKey=RocketMQ is not"
    assert go(request(RC.UPDATE_AND_CREATE_TOPIC, {"topic": "x"}), ADMIN) is None
    assert go(request(RC.SEND_MESSAGE_V2, {"a": "pg", "b": "RMQ_SYS_TRACE_TOPIC"})) is None
    # white lists: global, then the account's own (no signature needed)
    assert go(send_b, None, "10.10.103.5") is None
    unsigned = request(RC.SEND_MESSAGE_V2, {"a": "pg", "b": "x", "AccessKey": "rocketmq2"})
    assert check(acl, unsigned, "192.168.1.20") is None
    assert check(acl, unsigned, "192.168.2.20") == \
        "Check signature failed for accessKey=rocketmq2"


def test_acl_file_hot_reload(tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "plain_acl.yml"
    missing = AclFile(str(path), interval=0)
    assert missing.current().accounts == {}
    path.write_text(SAMPLE)
    f = AclFile(str(path), interval=0)
    assert set(f.current().accounts) == {"RocketMQ", "rocketmq2"}
    caplog.set_level(logging.ERROR, "pyrmq.acl")
    path.write_text("accounts: [x")
    os.utime(path, ns=(1, 1))
    assert set(f.current().accounts) == {"RocketMQ", "rocketmq2"}  # bad file: kept
    assert sum("not loaded" in r.getMessage() for r in caplog.records) == 1
    assert set(f.current().accounts) == {"RocketMQ", "rocketmq2"}
    assert sum("not loaded" in r.getMessage() for r in caplog.records) == 1  # once per change
    path.write_text("accounts: [{accessKey: newaccount, secretKey: 12345678}]")
    os.utime(path, ns=(2, 2))
    assert set(f.current().accounts) == {"newaccount"}
    slow = AclFile(str(path), interval=3600)
    path.write_text(SAMPLE)
    os.utime(path, ns=(3, 3))
    assert set(slow.current().accounts) == {"newaccount"}  # not looked at again yet
