"""Fit BG/NBD and Gamma-Gamma on a million simulated customers, against lifetimes.

    python benchmarks/bench_clv.py                  # 1,000,000 customers
    python benchmarks/bench_clv.py --customers 100000 --no-lifetimes

Customers are drawn from the BG/NBD and Gamma-Gamma generative processes
with known parameters (the CDNOW estimates), observed for a whole number of
days up to a year and summarised in weeks, as a transactions log would be;
spend is in cents. segmint and lifetimes 0.11.3 then fit the same arrays in
the same run: the script reports the time of each fit, the speed-up, and
whether the parameters agree to three decimals.

lifetimes is a benchmark-only dependency and is not installed next to
segmint: on first use the script creates a virtualenv for it in
``benchmarks/.venv-lifetimes`` (pinned versions below, from PyPI) and runs
it there as a subprocess on the data, handed over as an .npz file. The
same file is the worker: ``--worker DATA.npz`` fits with lifetimes and
prints JSON. Only NumPy and the standard library are imported at the top,
because the worker runs where segmint is not installed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
LIFETIMES_VENV = HERE / ".venv-lifetimes"
# lifetimes 0.11.3 (2020) is unmaintained. These are versions it was checked
# to import and fit with; setuptools stays below 81 because lifetimes'
# datasets module imports pkg_resources, which setuptools 81 removes.
LIFETIMES_REQUIREMENTS = [
    "lifetimes==0.11.3",
    "autograd==1.9.1",
    "dill==0.4.1",
    "numpy==2.4.6",
    "pandas==3.1.1",
    "scipy==1.17.1",
    "setuptools>=65,<81",
]

TRUE_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # CDNOW, weeks
TRUE_SPEND = {"p": 6.25, "q": 3.74, "v": 15.44}  # CDNOW, dollars
AGREEMENT = 5e-4  # "the same to three decimals"


# -- data --------------------------------------------------------------------------------


def simulate(customers: int, seed: int) -> dict[str, np.ndarray]:
    """frequency, recency, T (weeks, whole days) and mean spend (cents) of simulated customers."""
    from segmint.models.clv import BGNBDParams, GammaGammaParams
    from segmint.models.clv.simulate import simulate_bgnbd, simulate_spend

    rng = np.random.default_rng(seed)
    age_days = rng.integers(1, 365, customers)  # first purchases spread over a year
    x, recency_weeks = simulate_bgnbd(BGNBDParams(**TRUE_BGNBD), age_days / 7.0, rng)
    # A log records days: the last purchase happened on some whole day.
    recency_days = np.minimum(np.floor(recency_weeks * 7.0), age_days)
    spend = simulate_spend(GammaGammaParams(**TRUE_SPEND), x, rng)
    spend = np.where(x > 0, np.maximum(np.round(spend, 2), 0.01), 0.0)
    return {"frequency": x, "recency": recency_days / 7.0, "T": age_days / 7.0, "monetary_value": spend}


# -- segmint --------------------------------------------------------------------------------


def best_of(repeat: int, fit: Callable[[], Any]) -> tuple[Any, float]:
    """The fitted model and the shortest of ``repeat`` wall-clock times.

    The shortest, as timeit does: on a shared machine the others measure the
    neighbours.
    """
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fitted = fit()
        times.append(time.perf_counter() - start)
    return fitted, min(times)


def fit_segmint(data: dict[str, np.ndarray], repeat: int) -> dict[str, Any]:
    from segmint.models.clv import BGNBDModel, GammaGammaModel

    x, t_x, T, m = (data[k] for k in ("frequency", "recency", "T", "monetary_value"))
    buyers = x > 0
    purchases, purchases_seconds = best_of(repeat, lambda: BGNBDModel().fit(x, t_x, T))
    spend, spend_seconds = best_of(repeat, lambda: GammaGammaModel().fit(x[buyers], m[buyers]))
    return {
        "bgnbd": {**asdict(purchases.params_), "seconds": purchases_seconds, "groups": purchases.n_groups_},
        "gamma_gamma": {**asdict(spend.params_), "seconds": spend_seconds, "groups": spend.n_groups_},
    }


# -- lifetimes, in its own virtualenv -------------------------------------------------------


def lifetimes_python() -> Path:
    """The interpreter of benchmarks/.venv-lifetimes, created and filled on first use."""
    python = LIFETIMES_VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if python.exists() and _imports_lifetimes(python):
        _ignore_in_git(LIFETIMES_VENV)
        return python
    print(f"creating {LIFETIMES_VENV.relative_to(HERE.parent)} for lifetimes (once)...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(LIFETIMES_VENV)], check=True)
    _ignore_in_git(LIFETIMES_VENV)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *LIFETIMES_REQUIREMENTS],
        check=True,
    )
    if not _imports_lifetimes(python):
        raise SystemExit(f"lifetimes does not import in {LIFETIMES_VENV}; delete it and check the pins above")
    return python


def _ignore_in_git(folder: Path) -> None:
    """Make the virtualenv ignore itself, as Python 3.13's venv does: it is a cache, never source."""
    marker = folder / ".gitignore"
    if not marker.exists():
        marker.write_text("# Created by benchmarks/bench_clv.py: a local cache, never to be committed.\n*\n")


def _imports_lifetimes(python: Path) -> bool:
    probe = subprocess.run([str(python), "-c", "import lifetimes"], capture_output=True, check=False)
    return probe.returncode == 0


def fit_lifetimes(python: Path, data: dict[str, np.ndarray], *, grouped: bool, repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "customers.npz"
        np.savez(path, **data)
        command = [str(python), str(Path(__file__).resolve()), "--worker", str(path), "--repeat", str(repeat)]
        if grouped:
            command.append("--grouped")
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"the lifetimes worker failed:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def worker(path: Path, grouped: bool, repeat: int) -> None:
    """Runs inside the lifetimes virtualenv: fit both models, print one JSON line."""
    import warnings

    warnings.simplefilter("ignore")
    import lifetimes
    import pandas as pd

    data = dict(np.load(path))
    x, t_x, T, m = (data[k] for k in ("frequency", "recency", "T", "monetary_value"))
    buyers = x > 0
    summary = pd.DataFrame({"x": x, "t_x": t_x, "T": T})
    spend = pd.DataFrame({"x": x[buyers], "m": m[buyers]})
    if grouped:
        # lifetimes' own way to take identical customers once, with a count
        # (its fit takes `weights`); the grouping itself is not timed here.
        summary = summary.groupby(["x", "t_x", "T"], as_index=False).size()
        spend = spend.groupby(["x", "m"], as_index=False).size()

    purchases, purchases_seconds = best_of(
        repeat,
        lambda: lifetimes.BetaGeoFitter().fit(
            summary["x"], summary["t_x"], summary["T"], weights=summary["size"] if grouped else None
        ),
    )
    spending, spend_seconds = best_of(
        repeat,
        lambda: lifetimes.GammaGammaFitter().fit(spend["x"], spend["m"], weights=spend["size"] if grouped else None),
    )
    print(
        json.dumps(
            {
                "version": lifetimes.__version__,
                "bgnbd": {**{k: float(v) for k, v in purchases.params_.items()}, "seconds": purchases_seconds},
                "gamma_gamma": {**{k: float(v) for k, v in spending.params_.items()}, "seconds": spend_seconds},
            }
        )
    )


# -- report -----------------------------------------------------------------------------------


def compare(ours: dict[str, Any], theirs: dict[str, Any], label: str) -> list[str]:
    lines = []
    for model, names in (("bgnbd", TRUE_BGNBD), ("gamma_gamma", TRUE_SPEND)):
        differences = {name: abs(ours[model][name] - theirs[model][name]) for name in names}
        worst = max(differences, key=differences.__getitem__)
        agree = differences[worst] < AGREEMENT
        speedup = theirs[model]["seconds"] / ours[model]["seconds"]
        lines.append(
            f"  {model:<12} {label:<28} {theirs[model]['seconds']:8.2f} s   speed-up {speedup:6.1f}x   "
            f"params agree to 3 decimals: {'yes' if agree else 'NO'} "
            f"(largest difference {differences[worst]:.1e} in {worst})"
        )
    return lines


def parameter_table(runs: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for model, truth in (("bgnbd", TRUE_BGNBD), ("gamma_gamma", TRUE_SPEND)):
        lines.append(f"  {model:<12} " + " ".join(f"{name:>10}" for name in truth))
        lines.append(f"  {'true':<12} " + " ".join(f"{value:10.4f}" for value in truth.values()))
        for label, run in runs.items():
            lines.append(f"  {label:<12} " + " ".join(f"{run[model][name]:10.4f}" for name in truth))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2005)
    parser.add_argument("--repeat", type=int, default=3, help="time each fit this many times, keep the best")
    parser.add_argument("--no-lifetimes", action="store_true", help="time segmint only")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--grouped", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.grouped, args.repeat)
        return

    data = simulate(args.customers, args.seed)
    buyers = int((data["frequency"] > 0).sum())
    print(
        f"{args.customers:,} simulated customers ({buyers:,} with repeat purchases), seed {args.seed}; "
        f"best of {args.repeat} runs"
    )
    ours = fit_segmint(data, args.repeat)
    print(
        f"segmint   BG/NBD {ours['bgnbd']['seconds']:.2f} s on {ours['bgnbd']['groups']:,} distinct summaries; "
        f"Gamma-Gamma {ours['gamma_gamma']['seconds']:.2f} s on {ours['gamma_gamma']['groups']:,}"
    )
    runs = {"segmint": ours}
    if not args.no_lifetimes:
        python = lifetimes_python()
        plain = fit_lifetimes(python, data, grouped=False, repeat=args.repeat)
        grouped = fit_lifetimes(python, data, grouped=True, repeat=args.repeat)
        runs |= {"lifetimes": plain, "lifetimes (w)": grouped}
        print(f"\nlifetimes {plain['version']}, fit times and comparison with segmint:")
        for line in compare(ours, plain, "one row per customer") + compare(
            ours, grouped, "given our grouping (weights)"
        ):
            print(line)
    print("\nparameters:")
    for line in parameter_table(runs):
        print(line)


if __name__ == "__main__":
    main()
