"""``segmint clv``: customer lifetime value (BG/NBD + Gamma-Gamma).

``segmint clv fit`` reads a transactions table, summarises it per customer,
fits both models and prints their parameters, the lifetime value they
imply, and with ``--holdout-end`` how the purchase forecast did.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import typer

from segmint.cli.output import OutputFormat, console, print_json, table
from segmint.errors import IngestError, NotFoundError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from segmint.models.clv import BGNBDModel, GammaGammaModel, TimeUnit, TransactionColumns

# NumPy, pandas, SciPy and scikit-learn are imported inside the commands:
# this module is imported for `segmint --help`, which should not pay a
# second for libraries only `clv fit` uses.

app = typer.Typer(help="Customer lifetime value: BG/NBD and Gamma-Gamma models.", no_args_is_help=True)

# Calibration frequencies above this are pooled, as in Fader, Hardie & Lee's
# figure of conditional expectations (0, 1, ..., 6, 7+).
_POOLED_FREQUENCY = 7


@app.command()
def fit(
    transactions: Path = typer.Option(..., "--transactions", help="Transactions table, .csv or .parquet."),
    calibration_end: datetime = typer.Option(
        ..., "--calibration-end", formats=["%Y-%m-%d"], help="Last day of the calibration period (YYYY-MM-DD)."
    ),
    holdout_end: datetime | None = typer.Option(
        None, "--holdout-end", formats=["%Y-%m-%d"], help="Last day of a holdout period to check the forecast on."
    ),
    time_unit: Literal["D", "W", "M"] = typer.Option("W", "--time-unit", help="D (day), W (7 days) or M (30 days)."),
    customer_col: str = typer.Option("customer_id", "--customer-col", help="Column with the customer id."),
    date_col: str = typer.Option("date", "--date-col", help="Column with the purchase date or timestamp."),
    amount_col: str = typer.Option("amount", "--amount-col", help="Column with the purchase amount."),
    months: int = typer.Option(12, "--months", min=1, help="Lifetime value horizon, in 30-day months."),
    discount_rate: float = typer.Option(0.01, "--discount-rate", min=0.0, help="Monthly discount rate."),
    output_format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """Fit BG/NBD and Gamma-Gamma on a transactions table."""
    from segmint.models.clv import TimeUnit, TransactionColumns, summarise

    if holdout_end is not None and holdout_end <= calibration_end:
        raise typer.BadParameter("must come after --calibration-end", param_hint="--holdout-end")
    columns = TransactionColumns(customer=customer_col, date=date_col, amount=amount_col)
    frame = read_transactions(transactions, columns)
    unit = TimeUnit(time_unit)
    summary = summarise(frame, calibration_end, holdout_end=holdout_end, time_unit=unit, columns=columns)
    result = {
        "transactions": {"file": str(transactions), "rows": len(frame)},
        "calibration_end": calibration_end.date(),
        "time_unit": unit.value,
        **fit_report(summary, time_unit=unit, months=months, discount_rate=discount_rate),
    }
    if holdout_end is not None:
        result["holdout"]["end"] = holdout_end.date()
    if output_format is OutputFormat.json:
        print_json(result)
    else:
        _print_tables(result)


def read_transactions(path: Path, columns: TransactionColumns) -> pd.DataFrame:
    """Read a .csv or .parquet transactions table; customer ids stay text."""
    import pandas as pd

    if not path.is_file():
        raise NotFoundError(f"{path}: no such file; check the --transactions path")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            # Ids such as 00042 must not lose their zeros to integer parsing.
            return pd.read_csv(path, dtype={columns.customer: str})
        if suffix == ".parquet":
            return pd.read_parquet(path)
    except Exception as error:  # pandas and pyarrow raise many kinds; all mean the same here
        raise IngestError(f"{path}: cannot read it as {suffix[1:]}: {error}; check the file's format") from error
    raise IngestError(f"{path}: cannot read {suffix or 'extensionless'} files; give a .csv or .parquet file")


def fit_report(summary: pd.DataFrame, *, time_unit: TimeUnit, months: int, discount_rate: float) -> dict[str, Any]:
    """Fit both models on a summary and report them as plain data."""
    import numpy as np

    from segmint.models.clv import BGNBDModel, GammaGammaModel

    x, t_x, age = (summary[c].to_numpy(dtype=np.float64) for c in ("frequency", "recency", "T"))
    m = summary["monetary_value"].to_numpy(dtype=np.float64)
    repeat = (x > 0) & (m > 0)
    if not repeat.any():
        raise IngestError(
            "no customer made a repeat purchase in calibration, so neither model can be fitted; "
            "choose a later --calibration-end"
        )
    purchases = BGNBDModel().fit(x, t_x, age)
    spend = GammaGammaModel().fit(x[repeat], m[repeat])
    report: dict[str, Any] = {
        "customers": len(summary),
        "bgnbd": {
            **asdict(purchases.params_),
            "log_likelihood": purchases.log_likelihood_,
            "groups": purchases.n_groups_,
            "converged": purchases.converged_,
        },
        "gamma_gamma": {
            **asdict(spend.params_),
            "log_likelihood": spend.log_likelihood_,
            "customers": spend.n_customers_,
            "converged": spend.converged_,
        },
        "clv": _clv_report(purchases, spend, x, t_x, age, m, time_unit, months, discount_rate),
    }
    if "frequency_holdout" in summary:
        report["holdout"] = holdout_report(purchases, summary)
    return report


def _clv_report(
    purchases: BGNBDModel,
    spend: GammaGammaModel,
    x: np.ndarray[Any, Any],
    t_x: np.ndarray[Any, Any],
    age: np.ndarray[Any, Any],
    m: np.ndarray[Any, Any],
    time_unit: TimeUnit,
    months: int,
    discount_rate: float,
) -> dict[str, Any]:
    import numpy as np

    from segmint.models.clv import customer_lifetime_value

    report: dict[str, Any] = {"months": months, "discount_rate": discount_rate}
    if spend.params_.q <= 1:
        # The population mean spend p v / (q - 1) is infinite: no finite value to report.
        return {**report, "mean": None, "total": None, "note": "q <= 1: expected spend is unbounded"}
    value = customer_lifetime_value(
        purchases, spend.params_, x, t_x, age, m, time_unit=time_unit, months=months, discount_rate=discount_rate
    )
    return {**report, "mean": float(value.mean()), "median": float(np.median(value)), "total": float(value.sum())}


def holdout_report(purchases: BGNBDModel, summary: pd.DataFrame) -> dict[str, Any]:
    """Predicted against actual holdout purchases, in total and by calibration frequency."""
    import numpy as np
    import pandas as pd

    predicted = purchases.conditional_expected_purchases(
        summary["duration_holdout"], summary["frequency"], summary["recency"], summary["T"]
    )
    frame = pd.DataFrame(
        {
            "group": summary["frequency"].clip(upper=_POOLED_FREQUENCY).to_numpy(),
            "actual": summary["frequency_holdout"].to_numpy(dtype=np.float64),
            "predicted": predicted,
        }
    )
    by_group = frame.groupby("group").agg(
        customers=("actual", "size"), actual=("actual", "mean"), predicted=("predicted", "mean")
    )
    return {
        "duration": float(summary["duration_holdout"].iloc[0]),
        "actual": int(frame["actual"].sum()),
        "predicted": float(frame["predicted"].sum()),
        "by_frequency": [
            {
                "frequency": f"{group}+" if group == _POOLED_FREQUENCY else str(group),
                "customers": int(row.customers),
                "actual": float(row.actual),
                "predicted": float(row.predicted),
            }
            for group, row in by_group.iterrows()
        ],
    }


def _print_tables(result: dict[str, Any]) -> None:
    bgnbd, gamma = result["bgnbd"], result["gamma_gamma"]
    console.print(
        table(
            "BG/NBD (purchases)",
            ["parameter", "value"],
            [
                *((k, f"{bgnbd[k]:.4f}") for k in ("r", "alpha", "a", "b")),
                ("log-likelihood", bgnbd["log_likelihood"]),
                ("customers", result["customers"]),
                ("distinct summaries", bgnbd["groups"]),
            ],
        )
    )
    console.print(
        table(
            "Gamma-Gamma (spend)",
            ["parameter", "value"],
            [
                *((k, f"{gamma[k]:.4f}") for k in ("p", "q", "v")),
                ("log-likelihood", gamma["log_likelihood"]),
                ("repeat customers", gamma["customers"]),
            ],
        )
    )
    clv = result["clv"]
    console.print(
        table(
            f"Lifetime value over {clv['months']} months at {clv['discount_rate']:.2%} a month",
            ["mean", "median", "total"],
            [(clv["mean"], clv.get("median"), clv["total"])],
        )
    )
    if "holdout" in result:
        holdout = result["holdout"]
        console.print(
            table(
                f"Holdout to {holdout['end']}: {holdout['actual']:,} purchases, {holdout['predicted']:,.1f} predicted",
                ["calibration frequency", "customers", "actual per customer", "predicted per customer"],
                [(g["frequency"], g["customers"], g["actual"], g["predicted"]) for g in holdout["by_frequency"]],
            )
        )
