"""Broker configuration changed at run time (UPDATE_BROKER_CONFIG) and kept across restarts in
``<storePathRootDir>/config/brokerConfigOverrides.properties``.

A change is validated with the same rules as broker.conf (:class:`BrokerConfig`) before it is
accepted or written; at start, an override that no longer passes is reported in one WARNING
line naming the key and left out, and the broker starts without it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from pyrmq.broker.config import BrokerConfig, load
from pyrmq.store.config import StoreConfig, known_fields

log = logging.getLogger("pyrmq.broker")

OVERRIDES_FILE = "brokerConfigOverrides.properties"


def parse_update(body: bytes) -> dict[str, str]:
    """``key=value`` lines of an UPDATE_BROKER_CONFIG body (``#`` comments, blank lines
    ignored); anything else is a ValueError naming the line."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"body is not UTF-8 text: {e.reason}") from None
    props: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        k, sep, v = stripped.partition("=")
        if not sep or not k.strip():
            raise ValueError(f"line {n} is not key=value: {stripped[:60]!r}")
        props[k.strip()] = v.strip()
    if not props:
        raise ValueError("no key=value in the body")
    return props


def validate_update(cfg: BrokerConfig, props: Mapping[str, str]) -> BrokerConfig:
    """The configuration with ``props`` applied, or ValueError (unknown key, bad value)."""
    changes = known_fields(BrokerConfig, props)
    unknown = sorted(set(props) - set(changes))
    if unknown:
        raise ValueError("not a broker key (or not updatable): " + ", ".join(unknown))
    return cfg.replace(**changes)


def read_overrides(config_dir: str) -> dict[str, str]:
    """The stored overrides (a missing file is none)."""
    path = os.path.join(config_dir, OVERRIDES_FILE)
    out: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                k, sep, v = line.rstrip("\n").partition("=")
                if sep and k.strip():
                    out[k.strip()] = v.strip()
    except FileNotFoundError:
        pass
    return out


def save_overrides(config_dir: str, props: Mapping[str, str]) -> None:
    """Merge ``props`` into the overrides file (written whole, then renamed)."""
    path = os.path.join(config_dir, OVERRIDES_FILE)
    merged = {**read_overrides(config_dir), **props}
    os.makedirs(config_dir, exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write("".join(f"{k}={v}\n" for k, v in sorted(merged.items())))
    os.replace(path + ".tmp", path)


def apply_overrides(props: Mapping[str, str]) -> tuple[BrokerConfig, StoreConfig]:
    """broker.conf ``props`` plus the stored overrides of its store: each override that makes
    the configuration invalid is skipped with one WARNING line naming it. ``props`` itself
    must be valid (a ValueError naming the key otherwise)."""
    cfg, store_cfg = load(props)
    accepted = dict(props)
    config_dir = os.path.join(store_cfg.storePathRootDir, "config")
    for key, value in read_overrides(config_dir).items():
        try:
            trial = {**accepted, key: value}
            if key not in known_fields(BrokerConfig, {key: value}):
                raise ValueError("not a broker key")
            load(trial)
        except ValueError as e:
            log.warning("override %s=%r in %s ignored: %s", key, value[:60],
                        os.path.join(config_dir, OVERRIDES_FILE), e)
            continue
        accepted = trial
    return load(accepted)
