"""Generate the demo shop at benchmark scale.

    python benchmarks/gen_data.py --customers 200000 --out /tmp/gen200k

At the default ``--activity`` the feed has about 50 messages per profile
(200,000 profiles: about 10 million lines, 7 GB of JSON lines).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from segmint.clock import parse_instant
from segmint.demo import DEFAULT_NOW, generate_shop

BENCHMARK_ACTIVITY = 0.45  # browsing scale that gives ~50 messages per profile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=200_000, help="profiles to generate (default 200000)")
    parser.add_argument("--out", type=Path, required=True, help="directory to write the files into")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--now", type=parse_instant, default=DEFAULT_NOW, help="ISO-8601 instant the data ends at")
    parser.add_argument("--history-days", type=int, default=540)
    parser.add_argument(
        "--activity", type=float, default=BENCHMARK_ACTIVITY, help="browsing scale (1.0 gives ~70 messages/profile)"
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    files = generate_shop(
        args.out,
        seed=args.seed,
        customers=args.customers,
        now=args.now,
        history_days=args.history_days,
        activity=args.activity,
    )
    seconds = time.perf_counter() - started
    report = {key: str(value) if isinstance(value, Path) else value for key, value in asdict(files).items()}
    report["seconds"] = round(seconds, 1)
    report["messages_per_profile"] = round(files.messages / files.profiles, 1)
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
