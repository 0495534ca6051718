"""What evaluators report: memberships and their changes."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

Memberships = dict[str, list[str]]  # segment name -> sorted member profile ids


class Change(NamedTuple):
    """A profile entered (or left) a segment at an instant.

    A named tuple rather than a frozen dataclass: the real-time evaluator
    makes about one per message, and a tuple is built three times faster.
    Immutable, and ordered by its fields in this order, as before.
    """

    at: datetime
    segment: str
    profile_id: str
    entered: bool
