"""Real-time segment evaluation: incremental, out-of-order messages, a clock that moves.

- ``state``: per-identifier logs, updated one event at a time;
- ``leaves``: each ``performed`` / ``trait`` condition over a profile's logs,
  with the next instant time alone could change it;
- ``plan``: definitions compiled into leaves, routes and segment formulas;
- ``timers``: the schedule of those instants, and each profile's dues;
- ``instants``: times as 64-bit microseconds, and back to datetimes;
- ``evaluator``: :class:`RealtimeEvaluator`, which ties them together;
- ``explain``: why a profile is or is not in a segment.
"""

from segmint.segments.realtime.evaluator import RealtimeEvaluator, SnapshotError
from segmint.segments.realtime.plan import fingerprint

__all__ = ["RealtimeEvaluator", "SnapshotError", "fingerprint"]
