"""What evaluators report: memberships and their changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

Memberships = dict[str, list[str]]  # segment name -> sorted member profile ids


@dataclass(frozen=True, order=True)
class Change:
    """A profile entered (or left) a segment at an instant."""

    at: datetime
    segment: str
    profile_id: str
    entered: bool
