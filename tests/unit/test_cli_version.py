"""``pyrmq --version`` prints ``pyrmq <version>``."""

from __future__ import annotations

import subprocess
import sys

import pytest

import pyrmq
from pyrmq.cli.main import main, package_version


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ei:
        main(["--version"])
    assert ei.value.code == 0
    assert capsys.readouterr().out.strip() == f"pyrmq {package_version()}"


def test_version_matches_package() -> None:
    assert package_version() == pyrmq.__version__


def test_version_subprocess() -> None:
    out = subprocess.run([sys.executable, "-m", "pyrmq", "--version"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert out.strip() == f"pyrmq {pyrmq.__version__}"
