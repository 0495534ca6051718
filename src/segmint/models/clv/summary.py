"""From a transactions table to the per-customer summaries the CLV models fit.

The rules are those of the papers and of lifetimes:

* purchases on the same calendar day are one purchase (their amounts add);
* frequency x = number of purchase days after the first (repeat purchases);
* recency t_x = time from the first to the last purchase day (0 if x = 0);
* T = time from the first purchase day to the end of calibration;
* monetary_value = mean amount of the repeat purchase days, the first one
  excluded (0 if x = 0), as the Gamma-Gamma papers and lifetimes do;
* only purchases on or before the calibration end count; customers whose
  first purchase comes later are not in the summary;
* with a holdout end, frequency_holdout counts purchase days after the
  calibration end up to and including the holdout end, and
  duration_holdout is that span.

Times are whole days, expressed in a ``TimeUnit``. Timestamps with a UTC
offset are counted in UTC days; naive ones in their own wall-clock days.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeAlias

import numpy as np
import pandas as pd

from segmint.errors import IngestError, MappingError

_DAYS_PER_MONTH = 30.0


class TimeUnit(str, enum.Enum):
    """The unit of recency, T and holdout duration.

    W is 7 days, as Fader & Hardie measure CDNOW (T = 38.86 weeks for a
    first purchase on 1997-01-01 and calibration to 1997-09-30). M is 30
    days, the month lifetimes' lifetime value uses for daily data; the same
    30-day month is the step of lifetime value in every unit here.
    """

    D = "D"
    W = "W"
    M = "M"

    @property
    def days(self) -> float:
        return _UNIT_DAYS[self]

    @property
    def per_month(self) -> float:
        """How many of this unit make the 30-day month of lifetime value."""
        return _DAYS_PER_MONTH / self.days


_UNIT_DAYS = {TimeUnit.D: 1.0, TimeUnit.W: 7.0, TimeUnit.M: _DAYS_PER_MONTH}


@dataclass(frozen=True)
class TransactionColumns:
    """Which columns of the table hold what; ``amount=None`` for no spend."""

    customer: str = "customer_id"
    date: str = "date"
    amount: str | None = "amount"


# The command-line flag that renames each column, for error messages.
_FLAGS = {"customer": "--customer-col", "date": "--date-col", "amount": "--amount-col"}

DateLike: TypeAlias = str | date | datetime | pd.Timestamp


def summarise(
    transactions: pd.DataFrame,
    calibration_end: DateLike,
    *,
    holdout_end: DateLike | None = None,
    time_unit: TimeUnit = TimeUnit.W,
    columns: TransactionColumns = TransactionColumns(),
) -> pd.DataFrame:
    """One row per customer (indexed by id): frequency, recency, T[, monetary_value][, holdout].

    Raises ``MappingError`` when a column is missing or holds unreadable
    values, and ``IngestError`` when no purchase falls in calibration.
    """
    cal_end = _day(calibration_end, "calibration end")
    days = purchase_days(transactions, columns)
    calibration = days[days["day"] <= cal_end]
    if calibration.empty:
        first = days["day"].min()
        raise IngestError(
            f"no purchase on or before the calibration end {cal_end.date()} "
            f"(the first purchase is on {first.date() if pd.notna(first) else 'no date: the table is empty'}); "
            "choose a later --calibration-end"
        )
    summary = _calibration_summary(calibration, cal_end, time_unit, with_amount=columns.amount is not None)
    if holdout_end is not None:
        hold_end = _day(holdout_end, "holdout end")
        if hold_end <= cal_end:
            raise ValueError(f"holdout end {hold_end.date()} must come after calibration end {cal_end.date()}")
        in_holdout = days[(days["day"] > cal_end) & (days["day"] <= hold_end)]
        counts = in_holdout.groupby("customer").size()
        summary["frequency_holdout"] = counts.reindex(summary.index, fill_value=0).astype(np.int64)
        summary["duration_holdout"] = (hold_end - cal_end).days / time_unit.days
    summary.index.name = columns.customer
    return summary


def purchase_days(transactions: pd.DataFrame, columns: TransactionColumns = TransactionColumns()) -> pd.DataFrame:
    """One row per customer and purchase day: customer, day[, amount summed over the day]."""
    _require_columns(transactions, columns)
    table = pd.DataFrame(
        {
            "customer": _customers(transactions[columns.customer], columns.customer),
            "day": _days(transactions[columns.date], columns.date),
        }
    )
    if columns.amount is not None:
        table["amount"] = _amounts(transactions[columns.amount], columns.amount)
        return table.groupby(["customer", "day"], as_index=False, sort=True)["amount"].sum()
    return table.drop_duplicates().sort_values(["customer", "day"], ignore_index=True)


def _calibration_summary(
    days: pd.DataFrame, cal_end: pd.Timestamp, unit: TimeUnit, *, with_amount: bool
) -> pd.DataFrame:
    by_customer = days.groupby("customer", sort=True)
    first, last = by_customer["day"].min(), by_customer["day"].max()
    frequency = by_customer.size() - 1
    summary = pd.DataFrame(
        {
            "frequency": frequency.astype(np.int64),
            "recency": (last - first).dt.days / unit.days,
            "T": (cal_end - first).dt.days / unit.days,
        }
    )
    if with_amount:
        # Rows are sorted by day within each customer, so the first row of a
        # customer is their first purchase day, which the spend model leaves out.
        first_amount = by_customer["amount"].first()
        repeat_total = by_customer["amount"].sum() - first_amount
        summary["monetary_value"] = np.where(frequency > 0, repeat_total / frequency.clip(lower=1), 0.0)
    return summary


def _require_columns(transactions: pd.DataFrame, columns: TransactionColumns) -> None:
    present = ", ".join(map(str, transactions.columns)) or "none"
    for role in ("customer", "date", "amount"):
        name = getattr(columns, role)
        if name is not None and name not in transactions.columns:
            raise MappingError(
                f"the transactions have no {role} column {name!r} (columns: {present}); "
                f"name the right one with {_FLAGS[role]} NAME"
            )


def _customers(values: pd.Series, column: str) -> pd.Series:
    _refuse_missing(values, column, "a customer id")
    return values


def _days(values: pd.Series, column: str) -> pd.Series:
    _refuse_missing(values, column, "a date")
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    else:
        # As text, so that 19970101 (an integer in a CSV) reads as the
        # ISO 8601 basic date it is rather than as nanoseconds since 1970.
        parsed = pd.to_datetime(values.astype(str), format="ISO8601", errors="coerce", utc=True)
        _refuse_unparsed(values, parsed, column, "a date", "write dates as ISO 8601, e.g. 1997-01-31")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed.dt.normalize()


def _amounts(values: pd.Series, column: str) -> pd.Series:
    _refuse_missing(values, column, "an amount")
    parsed = pd.to_numeric(values, errors="coerce")
    _refuse_unparsed(values, parsed, column, "an amount", "write amounts as plain numbers, e.g. 29.33")
    return parsed.astype(np.float64)


def _refuse_missing(values: pd.Series, column: str, what: str) -> None:
    missing = values.isna().to_numpy()
    if missing.any():
        row = int(np.argmax(missing))
        raise MappingError(
            f"column {column!r} has no value in data row {row + 1} ({int(missing.sum())} rows in all); "
            f"every transaction needs {what}"
        )


def _refuse_unparsed(original: pd.Series, parsed: pd.Series, column: str, what: str, fix: str) -> None:
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raise MappingError(
            f"column {column!r}, data row {row + 1}: cannot read {original.iloc[row]!r} as {what} "
            f"({int(bad.sum())} rows in all); {fix}"
        )


def _day(value: DateLike, what: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        stamp = pd.NaT
    if pd.isna(stamp):
        raise ValueError(f"cannot read the {what} {value!r} as a date; write it as ISO 8601, e.g. 1997-09-30")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.normalize()
