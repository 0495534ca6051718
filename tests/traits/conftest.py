"""The trait tests reuse the segment tests' reference identity resolution and message strategies."""

from __future__ import annotations

import sys
from pathlib import Path

SEGMENT_TESTS = str(Path(__file__).resolve().parent.parent / "segments")
if SEGMENT_TESTS not in sys.path:
    sys.path.append(SEGMENT_TESTS)
