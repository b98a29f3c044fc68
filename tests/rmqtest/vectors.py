"""Access to the captured frames of the real C++ client, copied into the repository from
``shared/protocol/vectors`` (tests/fixtures/vectors), and to the Java 4.9.8 response bodies
(tests/fixtures/java-forms)."""

from __future__ import annotations

import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
VECTORS = FIXTURES / "vectors"
JAVA_FORMS = FIXTURES / "java-forms"


def _fixture(folder: Path, num: int, suffix: str) -> tuple[bytes, dict]:
    matches = sorted(folder.glob(f"{num:02d}_*{suffix}"))
    if not matches:
        raise FileNotFoundError(f"fixture {num:02d} not found in {folder}")
    path = matches[0]
    return path.read_bytes(), json.loads(path.with_suffix(".json").read_text())


def vector(num: int) -> tuple[bytes, dict]:
    """(frame bytes, description) of vector NN."""
    return _fixture(VECTORS, num, ".bin")


def all_vectors() -> list[Path]:
    return sorted(VECTORS.glob("*.bin"))


def java_form(num: int) -> tuple[bytes, dict]:
    """(body bytes, description) of the Java 4.9.8 response NN in tests/fixtures/java-forms."""
    return _fixture(JAVA_FORMS, num, ".body")
