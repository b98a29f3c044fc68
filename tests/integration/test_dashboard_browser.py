"""The dashboard in headless Chromium (Debian's chromium + chromium-driver, driven by
selenium with no Selenium Manager download): each page's content is checked against the
cluster and a screenshot of each page is saved as an artifact."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium "
                "chromium-driver)", allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (test extra)")
pytest.importorskip("aiohttp", reason="the dashboard needs aiohttp")

from rmqtest.cluster import running_cluster  # noqa: E402
from rmqtest.dashboard import admin_call, seed, start_dashboard  # noqa: E402
from rmqtest.procs import REPO, until  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

pytestmark = pytest.mark.timeout(120)


def _artifacts() -> Path:
    root = os.environ.get("PYRMQ_ARTIFACTS")
    out = REPO / (root or "build/artifacts") / "dashboard"  # a relative root: from the repo
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture
def browser(tmp_path, monkeypatch):
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must not download anything
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--user-data-dir={profile}", "--window-size=1280,900"):
        opts.add_argument(arg)
    drv = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    drv.set_page_load_timeout(20)
    try:
        yield drv
    finally:
        drv.quit()


def _wait(drv, fn, seconds: float = 15.0):
    return WebDriverWait(drv, seconds, poll_frequency=0.2,
                         ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: fn(d) or None)


def _cells(drv, css: str) -> list[list[str]]:
    return [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in drv.find_elements(By.CSS_SELECTOR, css)]


def test_dashboard_pages_in_chromium(tmp_path, browser):
    art = _artifacts()
    print(f"dashboard screenshots in {art}")
    started = time.monotonic()
    with running_cluster(tmp_path) as cluster:
        rw = start_dashboard(tmp_path, cluster.ns_addr, allow_write=True)
        ro = start_dashboard(tmp_path, cluster.ns_addr, allow_write=False)
        try:
            base = f"http://127.0.0.1:{rw.port}/"
            drv = browser
            # cluster page: the broker with its role and version
            drv.get(base + "#cluster")
            row = _wait(drv, lambda d: d.find_elements(By.CSS_SELECTOR,
                                                       "tr[data-broker=broker-a]"))[0]
            assert cluster.broker_addr in row.text and "MASTER" in row.text
            assert "V4_9_8" in row.text
            drv.save_screenshot(str(art / "cluster.png"))

            # topics page: create a topic through the form; it appears with its queue count
            drv.get(base + "#topics")
            _wait(drv, lambda d: d.find_element(By.ID, "page-topics").get_attribute(
                "data-loaded"))
            form = drv.find_element(By.ID, "topic-form")
            form.find_element(By.NAME, "topic").send_keys("WebT")
            for name, value in (("readQueues", "3"), ("writeQueues", "3")):
                box = form.find_element(By.NAME, name)
                box.clear()
                box.send_keys(value)
            drv.find_element(By.ID, "topic-submit").click()

            def topic_row(d):
                # the route reaches the NameServer a moment later: reload the list, then read
                d.execute_async_script("showTopics().then(arguments[0], arguments[0])")
                rows = d.find_elements(By.CSS_SELECTOR, "tr[data-topic=WebT]")
                return rows and "3" in [td.text for td in rows[0].find_elements(
                    By.CSS_SELECTOR, "td[data-col=writeQueueNums]")] and rows[0]
            row = _wait(drv, topic_row)
            assert row.find_element(By.CSS_SELECTOR, "td[data-col=readQueueNums]").text == "3"
            row.find_element(By.TAG_NAME, "a").click()
            _wait(drv, lambda d: len(d.find_elements(By.CSS_SELECTOR,
                                                     "#topic-detail tbody tr")) == 3)
            drv.save_screenshot(str(art / "topics.png"))

            # a group with lag (pyrmq's producer, offsets committed at half)
            admin_call(cluster.ns_addr, "update_topic", "WebG", None, None, 2, 2)
            admin_call(cluster.ns_addr, "update_group", "CG_WEB")
            sent = seed(cluster.ns_addr, "WebG", "CG_WEB", 8, "wk")
            want = admin_call(cluster.ns_addr, "consumer_progress", "CG_WEB", "WebG")
            drv.get(base + "#groups")
            box = drv.find_element(By.CSS_SELECTOR, "#group-form input[name=group]")
            box.send_keys("CG_WEB")
            drv.find_element(By.CSS_SELECTOR, "#group-form button").click()
            _wait(drv, lambda d: d.find_element(By.ID, "page-groups").get_attribute(
                "data-loaded") == "CG_WEB")
            for q in want:
                tr = drv.find_element(By.CSS_SELECTOR, f"#group-queues tr[data-queue="
                                      f"'WebG/{q['brokerName']}/{q['queueId']}']")
                lag = tr.find_element(By.CSS_SELECTOR, "td[data-col=lag]").text
                assert int(lag) == q["lag"], (q, tr.text)
            total = drv.find_element(By.ID, "group-summary").get_attribute("data-total-lag")
            assert int(total) == sum(q["lag"] for q in want) > 0
            # the reset dry run lists what it would set and changes nothing
            reset = drv.find_element(By.ID, "reset-form")
            reset.find_element(By.NAME, "topic").send_keys("WebG")
            ts = reset.find_element(By.NAME, "timestamp")
            ts.clear()
            ts.send_keys("0")
            drv.find_element(By.ID, "reset-dry").click()
            _wait(drv, lambda d: len(d.find_elements(By.CSS_SELECTOR,
                                                     "#reset-table tbody tr")) == 2)
            assert "dry run" in drv.find_element(By.ID, "status").text
            assert admin_call(cluster.ns_addr, "consumer_progress", "CG_WEB", "WebG") == want
            drv.save_screenshot(str(art / "groups.png"))

            # message search by key: body and properties
            m = sent[2]
            drv.get(base + "#messages")
            Select(drv.find_element(By.ID, "msg-by")).select_by_value("key")
            form = drv.find_element(By.ID, "msg-form")
            form.find_element(By.NAME, "topic").send_keys("WebG")
            form.find_element(By.NAME, "key").send_keys(m["key"])

            def found(d):
                form.find_element(By.CSS_SELECTOR, "button").click()
                time.sleep(0.3)
                return d.find_element(By.ID, "msg-results").get_attribute("data-count") == "1"
            until(lambda: _assert(_wait(drv, found, 5)), 15)
            msg = drv.find_element(By.CSS_SELECTOR, "#msg-results .msg")
            assert msg.find_element(By.CSS_SELECTOR, "pre.body").text == m["body"]
            props = msg.find_element(By.CSS_SELECTOR, "tr[data-field='property color']")
            assert "blue" in props.text
            assert m["key"] in msg.find_element(By.CSS_SELECTOR, "tr[data-field=keys]").text
            drv.save_screenshot(str(art / "messages.png"))
            # ... and by its offset msgId
            drv.execute_script("renderMessages([])")  # so the next result is the id search's
            Select(drv.find_element(By.ID, "msg-by")).select_by_value("id")
            form.find_element(By.NAME, "id").send_keys(m["offsetMsgId"])
            form.find_element(By.CSS_SELECTOR, "button").click()
            _wait(drv, lambda d: d.find_element(By.CSS_SELECTOR, "#msg-results .msg")
                  .get_attribute("data-msg-id") == m["offsetMsgId"])
            assert drv.find_element(By.CSS_SELECTOR, "#msg-results pre.body").text == m["body"]

            # live TPS chart: polls /api/tps
            drv.get(base + "#tps")
            _wait(drv, lambda d: int(d.find_element(By.ID, "page-tps").get_attribute(
                "data-samples") or 0) >= 2, 20)
            assert "broker-a" in drv.find_element(By.ID, "tps-table").text
            drv.save_screenshot(str(art / "tps.png"))

            # the read-only dashboard refuses a write, and says so
            drv.get(f"http://127.0.0.1:{ro.port}/#topics")
            _wait(drv, lambda d: d.find_element(By.ID, "mode").text == "read-only")
            drv.find_element(By.CSS_SELECTOR, "#topic-form input[name=topic]").send_keys("RoT")
            drv.find_element(By.ID, "topic-submit").click()
            msg = _wait(drv, lambda d: d.find_element(By.ID, "status").text)
            assert "403" in msg and "read-only" in msg
            assert "RoT" not in admin_call(cluster.ns_addr, "topic_list")
            drv.save_screenshot(str(art / "readonly-refused.png"))
        finally:
            rw.stop()
            ro.stop()
    for name in ("cluster", "topics", "groups", "messages", "tps", "readonly-refused"):
        assert (art / f"{name}.png").stat().st_size > 1000
    print(f"browser test took {time.monotonic() - started:.1f}s")


def _assert(value) -> None:
    assert value
