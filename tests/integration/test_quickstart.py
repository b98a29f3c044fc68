"""The README's main command works: `pyrmq quickstart` round-trips every message."""

import subprocess
import sys

from rmqtest.procs import REPO


def test_quickstart_round_trip():
    p = subprocess.run([sys.executable, "-m", "pyrmq", "quickstart", "-n", "300",
                        "--timeout", "60"], capture_output=True, text=True, timeout=120,
                       cwd=REPO)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "consumed 300/300" in p.stdout and "OK: every message arrived" in p.stdout
