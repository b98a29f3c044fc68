"""Access to the captured frames of the real client (../shared/protocol/vectors)."""

from __future__ import annotations

import json
from pathlib import Path

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "protocol" / "vectors"


def vector(num: int) -> tuple[bytes, dict]:
    """(frame bytes, description) of vector NN."""
    matches = sorted(VECTORS.glob(f"{num:02d}_*.bin"))
    if not matches:
        raise FileNotFoundError(f"vector {num:02d} not found in {VECTORS}")
    path = matches[0]
    return path.read_bytes(), json.loads(path.with_suffix(".json").read_text())


def all_vectors() -> list[Path]:
    return sorted(VECTORS.glob("*.bin"))
