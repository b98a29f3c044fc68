"""A small etcd v3 client over etcd's HTTP/JSON gRPC gateway (``/v3/...``, etcd >= 3.4), just
what failover needs: leases (grant, keep-alive, revoke), range / put / delete, and a txn that
creates a key only when it is absent. Keys and values are bytes on our side, base64 on the wire.

Every call is bounded by ``timeout`` and tries the endpoints in order; a failure on all of them
is one :class:`EtcdUnavailable`. No streaming watch: the agent polls (see docs/design.md).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp


class EtcdError(Exception):
    """etcd answered with an error (``code`` is the gRPC status code)."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


class EtcdUnavailable(EtcdError):
    """No endpoint answered within the timeout."""


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    lease: int


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _kv(obj: dict[str, Any]) -> KeyValue:
    return KeyValue(base64.b64decode(obj.get("key", "")), base64.b64decode(obj.get("value", "")),
                    int(obj.get("create_revision", 0)), int(obj.get("mod_revision", 0)),
                    int(obj.get("lease", 0)))


def prefix_end(prefix: bytes) -> bytes:
    """The ``range_end`` that selects every key starting with ``prefix``."""
    b = bytearray(prefix)
    for i in range(len(b) - 1, -1, -1):
        if b[i] < 0xFF:
            b[i] += 1
            return bytes(b[: i + 1])
    return b"\0"


class EtcdClient:
    """``async with EtcdClient(["http://127.0.0.1:2379"]) as etcd: ...``"""

    def __init__(self, endpoints: Sequence[str], timeout: float = 1.0) -> None:
        if not endpoints:
            raise ValueError("etcd: no endpoints")
        self.endpoints = [e.rstrip("/") if "://" in e else "http://" + e.rstrip("/")
                          for e in endpoints]
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> EtcdClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout))
        last: Exception | None = None
        for ep in list(self.endpoints):
            try:
                async with self._session.post(ep + path, data=json.dumps(body)) as r:
                    text = await r.text()
            except (aiohttp.ClientError, OSError, TimeoutError) as e:
                last = e
                continue
            try:
                out = json.loads(text) if text else {}
            except ValueError:
                raise EtcdError(f"etcd {ep}{path}: not JSON: {text[:200]!r}") from None
            if "result" not in out and "code" in out and ("message" in out or "error" in out):
                raise EtcdError(f"etcd {ep}{path}: {out.get('message') or out.get('error')}",
                                int(out.get("code", 0)))
            if ep != self.endpoints[0]:  # remember the one that answered
                self.endpoints.remove(ep)
                self.endpoints.insert(0, ep)
            return out
        raise EtcdUnavailable(f"etcd unreachable at {', '.join(self.endpoints)}: {last}")

    # -- leases ------------------------------------------------------------------------------
    async def grant(self, ttl_s: int) -> int:
        """A new lease of ``ttl_s`` seconds; its id."""
        out = await self._call("/v3/lease/grant", {"TTL": ttl_s})
        return int(out["ID"])

    async def keepalive(self, lease: int) -> int:
        """Renew ``lease``; the TTL granted again, 0 when the lease is gone (expired/revoked)."""
        out = await self._call("/v3/lease/keepalive", {"ID": lease})
        return int((out.get("result") or {}).get("TTL", 0))

    async def revoke(self, lease: int) -> None:
        """Revoke ``lease`` (its keys go at once); a lease already gone is not an error."""
        try:
            await self._call("/v3/lease/revoke", {"ID": lease})
        except EtcdUnavailable:
            raise
        except EtcdError as e:
            if e.code != 5:  # NOT_FOUND
                raise

    # -- keys --------------------------------------------------------------------------------
    async def get(self, key: bytes) -> KeyValue | None:
        out = await self._call("/v3/kv/range", {"key": _b64(key)})
        kvs = out.get("kvs") or []
        return _kv(kvs[0]) if kvs else None

    async def get_prefix(self, prefix: bytes) -> tuple[list[KeyValue], int]:
        """Every key under ``prefix`` and the store revision they were read at."""
        out = await self._call("/v3/kv/range", {"key": _b64(prefix),
                                                "range_end": _b64(prefix_end(prefix))})
        revision = int((out.get("header") or {}).get("revision", 0))
        return [_kv(kv) for kv in out.get("kvs") or []], revision

    async def put(self, key: bytes, value: bytes, lease: int = 0) -> None:
        body: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
        if lease:
            body["lease"] = lease
        await self._call("/v3/kv/put", body)

    async def delete(self, key: bytes) -> None:
        await self._call("/v3/kv/deleterange", {"key": _b64(key)})

    async def txn(self, compare: list[dict[str, Any]], success: list[dict[str, Any]],
                  failure: list[dict[str, Any]] | None = None) -> bool:
        """One etcd transaction in the gateway's JSON form; whether ``compare`` held."""
        out = await self._call("/v3/kv/txn", {"compare": compare, "success": success,
                                              "failure": failure or []})
        return bool(out.get("succeeded"))


# -- txn building blocks (the gateway's JSON form of the gRPC messages) ----------------------
def absent(key: bytes) -> dict[str, Any]:
    """Compare: ``key`` does not exist (create_revision == 0)."""
    return {"key": _b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}


def mod_revision_is(key: bytes, revision: int) -> dict[str, Any]:
    """Compare: ``key`` was last written at ``revision`` (0 = does not exist)."""
    return {"key": _b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": str(revision)}


def value_is(key: bytes, value: bytes) -> dict[str, Any]:
    return {"key": _b64(key), "target": "VALUE", "result": "EQUAL", "value": _b64(value)}


def put_op(key: bytes, value: bytes, lease: int = 0) -> dict[str, Any]:
    req: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
    if lease:
        req["lease"] = str(lease)
    return {"request_put": req}
