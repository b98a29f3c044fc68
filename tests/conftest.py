"""Root conftest: tests/ is on sys.path from here, so `import rmqtest` works in every test.

The run stops at once if the compiled storage extension did not load: every store, broker and
integration test depends on it, and a silent skip would hide a broken build.
"""

import pytest

try:
    from pyrmq import _store  # noqa: F401
except ImportError as exc:  # pragma: no cover - the failure path is the point
    pytest.exit(f"pyrmq._store (the compiled C store) failed to import: {exc}. "
                "Build it with `pip install -e .` (see README).", returncode=3)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--long", action="store_true", default=False,
                     help="fault suite: 10x more fuzz inputs / proxy rounds (also env "
                          "PYRMQ_FUZZ_LONG=1)")
