"""Every module imports on its own, in a fresh interpreter, whatever was imported before it."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["segmint.traits.realtime", "segmint.segments.realtime", "segmint.traits.batch"])
def test_imports_alone(module: str) -> None:
    result = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
