"""updateBrokerConfig validates before SUCCESS (issue 13.3); a bad stored override is one
WARNING line at start and the broker starts without it; a bad broker.conf is one line and a
non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from rmqtest.cluster import running_cluster
from rmqtest.procs import REPO, free_port

from pyrmq.protocol.codes import RequestCode, ResponseCode
from pyrmq.protocol.command import request

BAD_UPDATES = [b"brokerRole=GARBAGE\n", b"listenPort=-5\n", b"listenPort=70000\n",
               b"listenPort=abc\n", b"brokerPermission=9\n", b"brokerName=../x\n",
               b"autoCreateTopicEnable=maybe\n", b"namesrvAddr=nohostport\n",
               b"noSuchKey=1\n", b"justtext\n", b"=1\n", b"", b"retryMaxTimes=\xff\n",
               b"registerNameServerPeriod=99999999999999999999999\n"]


def _config(c) -> dict[str, str]:
    r = c.invoke(request(RequestCode.GET_BROKER_CONFIG))
    return dict(line.split("=", 1) for line in r.body.decode().splitlines() if "=" in line)


def test_update_broker_config_validates_and_bad_overrides_do_not_brick(tmp_path):
    with running_cluster(tmp_path) as c:
        for body in BAD_UPDATES:
            r = c.invoke(request(RequestCode.UPDATE_BROKER_CONFIG, None, body))
            assert r.code == ResponseCode.SYSTEM_ERROR, (body, r.remark)
        overrides = tmp_path / "store" / "config" / "brokerConfigOverrides.properties"
        assert not overrides.exists()
        ok = c.invoke(request(RequestCode.UPDATE_BROKER_CONFIG, None, b"retryMaxTimes=5\n"))
        assert ok.code == ResponseCode.SUCCESS and _config(c)["retryMaxTimes"] == "5"
        assert overrides.read_text() == "retryMaxTimes=5\n"
        # an override file damaged by hand (or by an older version) must not brick the broker
        overrides.write_text("brokerRole=GARBAGE\nlistenPort=-5\nretryMaxTimes=7\n")
        c.restart_broker()
        cfg = _config(c)
        assert cfg["brokerRole"] == "ASYNC_MASTER" and cfg["retryMaxTimes"] == "7"
        log = c.broker.log()
        lines = [ln for ln in log.splitlines() if "override" in ln and "ignored" in ln]
        assert len(lines) == 2 and all("WARNING" in ln for ln in lines)
        assert any("brokerRole" in ln for ln in lines) and any("listenPort" in ln for ln in lines)
        assert "Traceback" not in log


@pytest.mark.parametrize("conf,key", [("brokerRole=GARBAGE\n", "brokerRole"),
                                      ("listenPort=-5\n", "listenPort"),
                                      ("flushDiskType=SOMETIMES\n", "flushDiskType"),
                                      ("defaultTopicQueueNums=lots\n", "defaultTopicQueueNums")])
def test_bad_broker_conf_is_one_clear_line(tmp_path, conf, key):
    path = tmp_path / "broker.conf"
    path.write_text(f"storePathRootDir={tmp_path / 'store'}\nlistenPort={free_port()}\n"
                    + conf)
    p = subprocess.run([sys.executable, "-m", "pyrmq", "broker", "-c", str(path)],
                       capture_output=True, text=True, timeout=60, cwd=REPO)
    assert p.returncode == 2
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and key in lines[0] and "Traceback" not in p.stderr, p.stderr


def test_listen_port_zero_is_refused_not_defaulted(tmp_path):
    """``--listen-port 0`` used to be read as "not given" and bind 10911."""
    p = subprocess.run([sys.executable, "-m", "pyrmq", "broker", "--listen-port", "0",
                        "--store", str(tmp_path / "store")],
                       capture_output=True, text=True, timeout=60, cwd=REPO)
    assert p.returncode == 2
    assert "listenPort" in p.stderr and "Traceback" not in p.stderr, p.stderr
