"""Root conftest: tests/ is on sys.path from here, so `import rmqtest` works in every test.

The run stops at once if the compiled storage extension or the compiled frame codec did not
load: every store, broker and integration test depends on them, and a silent skip (or a silent
fall back to the pure-Python codec) would hide a broken build.
"""

import pytest

try:
    from pyrmq import _store  # noqa: F401
except ImportError as exc:  # pragma: no cover - the failure path is the point
    pytest.exit(f"pyrmq._store (the compiled C store) failed to import: {exc}. "
                "Build it with `pip install -e .` (see README).", returncode=3)
try:
    from pyrmq import _wire  # noqa: F401
except ImportError as exc:  # pragma: no cover - the failure path is the point
    pytest.exit(f"pyrmq._wire (the compiled frame codec) failed to import: {exc}. "
                "Build it with `pip install -e .` (see README).", returncode=3)
from pyrmq.protocol import frame as _frame  # noqa: E402

if not _frame.COMPILED:  # pragma: no cover
    pytest.exit("pyrmq.protocol.frame did not choose the compiled codec", returncode=3)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--long", action="store_true", default=False,
                     help="fault suite: 10x more fuzz inputs / proxy rounds (also env "
                          "PYRMQ_FUZZ_LONG=1)")
