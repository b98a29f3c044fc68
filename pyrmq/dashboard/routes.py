"""The dashboard's JSON endpoints: each parses its input, calls the admin API and answers
JSON. Bad input answers 400, a cluster-side failure 502 (both ``{"error": ...}``); write
endpoints answer 403 unless the app was started with allow_write."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from pyrmq.admin import AdminClient, AdminError
from pyrmq.dashboard.tps import TpsSampler
from pyrmq.protocol.message import MessageExt

ADMIN = web.AppKey("admin", AdminClient)
ALLOW_WRITE = web.AppKey("allow_write", bool)
SAMPLER = web.AppKey("sampler", TpsSampler)
MAX_TOPICS = 500  # routes fetched for the topic list; more are listed without queue counts
# brokerStatus keys shown as the broker's disk use (the store's own counters)
DISK_KEYS = ("commitlog_segments", "min_phys_offset", "max_phys_offset", "put_bytes",
             "commitLogDiskRatio", "write_error", "retention_bytes_deleted")
routes = web.RouteTableDef()


class BadRequest(Exception):
    """The request's parameters are wrong; the message says which."""


def _admin(req: web.Request) -> AdminClient:
    return req.app[ADMIN]


def _need_write(req: web.Request) -> None:
    if not req.app[ALLOW_WRITE]:
        raise web.HTTPForbidden(text='{"error": "read-only dashboard: start it with '
                                     '--allow-write to change the cluster"}',
                                content_type="application/json")


def _int(value: Any, name: str, lo: int = 0, hi: int = 2**63 - 1) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be an integer, not {value!r}") from None
    if not lo <= n <= hi:
        raise BadRequest(f"{name} must be in {lo}..{hi}")
    return n


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{name} is required")
    return value.strip()


async def _json_body(req: web.Request) -> dict[str, Any]:
    try:
        body = await req.json()
    except ValueError:
        raise BadRequest("the request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def message_json(m: MessageExt) -> dict[str, Any]:
    """A message for the UI: the body as text when it is UTF-8, else as hex."""
    body = m.decompressed_body() if m.sysflag & 1 else m.body
    try:
        text, is_text = body.decode("utf-8"), True
    except UnicodeDecodeError:
        text, is_text = body.hex(), False
    return {"msgId": m.offset_msg_id, "uniqKey": m.uniq_key or "", "topic": m.topic,
            "queueId": m.queue_id, "queueOffset": m.queue_offset, "tags": m.tags or "",
            "keys": " ".join(m.keys), "storeTimestamp": m.store_timestamp,
            "bornTimestamp": m.born_timestamp, "reconsumeTimes": m.reconsume_times,
            "properties": m.properties, "body": text, "bodyIsText": is_text,
            "bodySize": len(body)}


@routes.get("/api/config")
async def config(req: web.Request) -> web.Response:
    return web.json_response({"allowWrite": req.app[ALLOW_WRITE]})


@routes.get("/api/cluster")
async def cluster(req: web.Request) -> web.Response:
    admin = _admin(req)
    rows = await admin.cluster_list()
    now = time.time()
    for row in rows:
        try:
            st = await admin.broker_status(row["addr"])
        except AdminError as e:
            row["error"] = str(e)
            continue
        tps = req.app[SAMPLER].sample(row["addr"], now, st)
        row.update({"role": "MASTER" if row["brokerId"] == 0 else "SLAVE",
                    "version": st.get("brokerVersionDesc", ""),
                    "putTps": tps["putTps"], "getTps": tps["getTps"],
                    "putTotal": tps["putTotal"], "getTotal": tps["getTotal"],
                    "disk": {k: st[k] for k in DISK_KEYS if k in st},
                    "status": st})
    return web.json_response(rows)


@routes.get("/api/tps")
async def tps(req: web.Request) -> web.Response:
    admin = _admin(req)
    now = time.time()
    out = []
    for name, addr in sorted((await admin.masters()).items()):
        st = await admin.broker_status(addr)
        out.append({**req.app[SAMPLER].sample(addr, now, st), "brokerName": name})
    return web.json_response(out)


@routes.get("/api/topics")
async def topics(req: web.Request) -> web.Response:
    admin = _admin(req)
    names = sorted(await admin.topic_list())

    async def one(name: str) -> dict[str, Any]:
        try:
            route = (await admin.route(name)).data.to_dict()
        except AdminError as e:
            return {"topic": name, "error": str(e)}
        qds = route.get("queueDatas", [])
        return {"topic": name, "brokers": [q["brokerName"] for q in qds],
                "readQueueNums": sum(q["readQueueNums"] for q in qds),
                "writeQueueNums": sum(q["writeQueueNums"] for q in qds),
                "perm": qds[0]["perm"] if qds else None}
    rows = list(await asyncio.gather(*(one(n) for n in names[:MAX_TOPICS])))
    rows += [{"topic": n} for n in names[MAX_TOPICS:]]
    return web.json_response(rows)


@routes.get("/api/topics/{topic}")
async def topic(req: web.Request) -> web.Response:
    admin = _admin(req)
    name = req.match_info["topic"]
    route = (await admin.route(name)).data.to_dict()
    return web.json_response({"topic": name, "route": route,
                              "queues": await admin.topic_status(name)})


@routes.post("/api/topics")
async def update_topic(req: web.Request) -> web.Response:
    _need_write(req)
    b = await _json_body(req)
    rows = await _admin(req).update_topic(
        _str(b.get("topic"), "topic"), b.get("cluster") or None, b.get("broker") or None,
        _int(b.get("readQueues", 8), "readQueues", 1, 1024),
        _int(b.get("writeQueues", 8), "writeQueues", 1, 1024),
        _int(b.get("perm", 6), "perm", 0, 7), bool(b.get("order", False)))
    return web.json_response(rows)


@routes.get("/api/groups")
async def groups(req: web.Request) -> web.Response:
    return web.json_response(await _admin(req).group_list())


@routes.get("/api/groups/{group}")
async def group(req: web.Request) -> web.Response:
    admin = _admin(req)
    name = req.match_info["group"]
    out: dict[str, Any] = {"group": name}
    try:
        rows = await admin.consumer_progress(name, req.query.get("topic", ""))
        out.update(queues=rows, totalLag=sum(r["lag"] for r in rows))
    except AdminError as e:
        out.update(queues=[], totalLag=0, progressError=str(e))
    try:
        out["members"] = await admin.consumer_connection(name)
    except AdminError as e:
        out.update(members=[], membersError=str(e))
    return web.json_response(out)


@routes.post("/api/groups/{group}/reset")
async def reset(req: web.Request) -> web.Response:
    b = await _json_body(req)
    dry = b.get("dryRun", True) is not False
    if not dry:
        _need_write(req)
    ts = b.get("timestamp")
    ts = "now" if ts == "now" else _int(ts, "timestamp")
    rows = await _admin(req).reset_offset_by_time(req.match_info["group"],
                                                  _str(b.get("topic"), "topic"), ts, dry)
    return web.json_response({"dryRun": dry, "queues": rows})


@routes.get("/api/messages")
async def messages(req: web.Request) -> web.Response:
    admin = _admin(req)
    q = req.query
    if q.get("id"):
        msgs = await admin.query_msg_by_id(q["id"].strip())
    elif q.get("key"):
        msgs = await admin.query_msg_by_key(_str(q.get("topic"), "topic"), q["key"].strip())
    elif q.get("offset"):
        msgs = [await admin.query_msg_by_offset(
            _str(q.get("topic"), "topic"), _str(q.get("broker"), "broker"),
            _int(q.get("queue"), "queue", 0, 1023), _int(q.get("offset"), "offset"))]
    else:
        raise BadRequest("give id, or topic+key, or topic+broker+queue+offset")
    return web.json_response([message_json(m) for m in msgs])
