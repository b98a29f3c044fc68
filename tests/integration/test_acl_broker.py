"""4.9's plain ACL on a real broker (aclEnable=true, plain_acl.yml in tmp): right key accepted,
wrong key / wrong signature / missing perm / admin code from a non-admin refused with
NO_PERMISSION and one log line, 127.0.0.1 white-listed passes unsigned, file hot reload."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

from rmqtest.cluster import running_cluster

from pyrmq.acl import SessionCredentials, sign
from pyrmq.client import Message, Producer, SendStatus
from pyrmq.protocol.codes import RequestCode, ResponseCode
from pyrmq.protocol.command import RemotingCommand, request
from pyrmq.protocol.headers import CreateTopicRequestHeader

ACL = """
accounts:
  - accessKey: userAAAA
    secretKey: userSecret
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - AclT=PUB|SUB
  - accessKey: adminAAAA
    secretKey: adminSecret
    admin: true
"""
USER = SessionCredentials("userAAAA", "userSecret")
ADMIN = SessionCredentials("adminAAAA", "adminSecret")


def _create(topic: str) -> RemotingCommand:
    return request(RequestCode.UPDATE_AND_CREATE_TOPIC, CreateTopicRequestHeader(
        topic, "TBW102", 4, 4, 6, "SINGLE_TAG").to_ext())


def _send(topic: str) -> RemotingCommand:
    return request(RequestCode.SEND_MESSAGE_V2, {
        "a": "PG", "b": topic, "c": "TBW102", "d": 4, "e": 0, "f": 0, "g": 0, "h": 0,
        "i": "", "j": 0, "k": False, "m": False}, b"hello")


def _wait_log(path, text: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = path.read_text(errors="replace")
        if text in log:
            return log
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in the broker log")


def test_acl_on_a_real_broker(tmp_path):
    acl = tmp_path / "plain_acl.yml"
    acl.write_text(ACL)
    with running_cluster(tmp_path, "--set", "aclEnable=true",
                         "--set", f"aclFile={acl}") as c:
        r = c.invoke(_create("AclT"))
        assert (r.code, r.remark) == (ResponseCode.NO_PERMISSION, "No accessKey is configured")
        assert c.invoke(sign(_create("AclT"), ADMIN)).code == ResponseCode.SUCCESS
        r = c.invoke(sign(_create("AclX"), USER))
        assert r.code == ResponseCode.NO_PERMISSION
        assert r.remark == ("Need admin permission for request code=17, "
                            "but accessKey=userAAAA is not")
        assert c.invoke(sign(_send("AclT"), USER)).code == ResponseCode.SUCCESS
        r = c.invoke(sign(_send("AclT"), SessionCredentials("nobodyAA", "userSecret")))
        assert (r.code, r.remark) == (ResponseCode.NO_PERMISSION, "No acl config for nobodyAA")
        r = c.invoke(sign(_send("AclT"), SessionCredentials("userAAAA", "wrongSecret")))
        assert (r.code, r.remark) == (ResponseCode.NO_PERMISSION,
                                      "Check signature failed for accessKey=userAAAA")
        r = c.invoke(sign(_send("Other"), USER))
        assert (r.code, r.remark) == (ResponseCode.NO_PERMISSION,
                                      "No default permission for topic:Other")
        # one line per (response code, request code) per 10 s: the first refusal of each
        log = _wait_log(c.tmp / "broker.log", "No acl config for nobodyAA")
        assert "request code 310 from 127.0.0.1:" in log
        assert "No accessKey is configured" in log and "request code 17 from 127.0.0.1:" in log

        async def produce() -> None:  # the client signs every request once given keys
            p = Producer("PG_ACL", c.ns_addr)
            p.set_credentials(USER)
            async with p:
                res = await p.send(Message("AclT", b"signed"))
                assert res.status is SendStatus.SEND_OK
        asyncio.run(asyncio.wait_for(produce(), 30))

        # hot reload: white-list 127.0.0.1, then unsigned requests pass
        acl.write_text("globalWhiteRemoteAddresses:\n  - 127.0.0.1\n" + ACL)
        os.utime(acl, ns=(10**9, 10**9))
        deadline = time.monotonic() + 10
        while c.invoke(_send("Other")).code != ResponseCode.SUCCESS:
            assert time.monotonic() < deadline, "the changed ACL file was not reloaded"
            time.sleep(0.2)
        # a bad file keeps the previous ACL and logs one line
        acl.write_text("accounts: [x")
        os.utime(acl, ns=(2 * 10**9, 2 * 10**9))
        time.sleep(1.2)  # past the reload interval: the next request looks at the file
        assert c.invoke(_send("Other")).code == ResponseCode.SUCCESS
        log = _wait_log(c.tmp / "broker.log", "keeping the previous ACL")
        assert log.count("keeping the previous ACL") == 1


def test_cli_admin_commands_sign_with_access_key(tmp_path):
    acl = tmp_path / "plain_acl.yml"
    acl.write_text(ACL)
    with running_cluster(tmp_path, "--set", "aclEnable=true",
                         "--set", f"aclFile={acl}") as c:
        def pyrmq(*extra: str, env: dict[str, str] | None = None):
            return subprocess.run(
                [sys.executable, "-m", "pyrmq", "updateTopic", "-t", "CliAcl", "-b",
                 c.broker_addr, "-n", c.ns_addr, *extra], capture_output=True, text=True,
                timeout=60, env={**os.environ, **(env or {})})
        p = pyrmq()
        assert p.returncode != 0 and "No accessKey is configured" in p.stderr, p.stderr
        p = pyrmq("--access-key", "userAAAA", "--secret-key", "userSecret")
        assert p.returncode != 0 and "Need admin permission" in p.stderr, p.stderr
        p = pyrmq("--access-key", "adminAAAA")
        assert p.returncode != 0 and "go together" in p.stderr
        p = pyrmq("--access-key", "adminAAAA", "--secret-key", "adminSecret")
        assert p.returncode == 0, p.stderr
        p = pyrmq(env={"PYRMQ_ACCESS_KEY": "adminAAAA", "PYRMQ_SECRET_KEY": "adminSecret"})
        assert p.returncode == 0, p.stderr
