"""Transactions to per-customer summaries: the rules of the papers, and Hardie's CDNOW summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.errors import IngestError, MappingError
from segmint.models.clv import TimeUnit, TransactionColumns, purchase_days, summarise

CDNOW = Path(__file__).parents[1] / "fixtures" / "cdnow"


def read_cdnow() -> pd.DataFrame:
    """The raw CDNOW sample as customer_id, date, amount (see the fixture's README)."""
    raw = pd.read_csv(
        CDNOW / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["master_id", "customer_id", "date", "cds", "amount"],
        dtype={"date": str},
    )
    return raw[["customer_id", "date", "amount"]]


def table(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["customer_id", "date", "amount"])


# -- CDNOW: the published summary ---------------------------------------------


def test_cdnow_summary_reproduces_hardies_published_summary() -> None:
    summary = summarise(read_cdnow(), "1997-09-30", time_unit=TimeUnit.W)
    published = pd.read_csv(CDNOW / "cdnow_customers_summary_with_transactions.csv", index_col="ID")

    assert len(summary) == len(published) == 2357
    assert (summary.index.to_numpy() == published.index.to_numpy()).all()
    assert (summary["frequency"].to_numpy() == published["x"].to_numpy()).all()
    # The published file rounds to two decimals.
    np.testing.assert_allclose(summary["recency"], published["t_x"], atol=0.005 + 1e-9)
    np.testing.assert_allclose(summary["T"], published["T"], atol=0.005 + 1e-9)
    np.testing.assert_allclose(summary["monetary_value"], published["zbar"], atol=0.005 + 1e-9)
    assert (summary["frequency"] > 0).sum() == 946


def test_cdnow_holdout_counts_every_purchase_day_of_the_holdout() -> None:
    transactions = read_cdnow()
    summary = summarise(transactions, "1997-09-30", holdout_end="1998-06-30", time_unit=TimeUnit.W)

    dates = pd.to_datetime(transactions["date"], format="%Y%m%d")
    in_holdout = transactions[(dates > "1997-09-30") & (dates <= "1998-06-30")]
    assert summary["frequency_holdout"].sum() == len(in_holdout.drop_duplicates(["customer_id", "date"]))
    # 1997-10-01 .. 1998-06-30 is the papers' 39-week holdout.
    assert (summary["duration_holdout"] == 39.0).all()


# -- the rules, one at a time ------------------------------------------------


def test_same_day_purchases_count_once_and_their_amounts_add() -> None:
    summary = summarise(
        table(
            [
                ("c", "2024-01-01", 10.0),
                ("c", "2024-01-08", 5.0),
                ("c", "2024-01-08", 7.0),
                ("c", "2024-01-15", 30.0),
            ]
        ),
        "2024-01-29",
        time_unit=TimeUnit.D,
    )
    row = summary.loc["c"]
    assert row["frequency"] == 2
    assert row["recency"] == 14.0
    assert row["T"] == 28.0
    # (5 + 7 + 30) / 2: the first day's 10 is left out, the 8th counts as one purchase of 12.
    assert row["monetary_value"] == 21.0


def test_one_time_buyers_have_zero_frequency_recency_and_spend() -> None:
    summary = summarise(
        table([("a", "2024-01-01", 50.0), ("a", "2024-01-01", 5.0)]), "2024-01-11", time_unit=TimeUnit.D
    )
    assert summary.loc["a"].to_dict() == {"frequency": 0, "recency": 0.0, "T": 10.0, "monetary_value": 0.0}


@pytest.mark.parametrize(("unit", "days"), [(TimeUnit.D, 1.0), (TimeUnit.W, 7.0), (TimeUnit.M, 30.0)])
def test_time_units_divide_whole_days(unit: TimeUnit, days: float) -> None:
    summary = summarise(table([("a", "2024-01-01", 1.0), ("a", "2024-03-01", 1.0)]), "2024-04-30", time_unit=unit)
    assert summary.loc["a", "recency"] == pytest.approx(60 / days)
    assert summary.loc["a", "T"] == pytest.approx(120 / days)


def test_calibration_end_is_inclusive_and_later_customers_are_left_out() -> None:
    summary = summarise(
        table(
            [
                ("a", "2024-01-01", 1.0),
                ("a", "2024-01-31 23:59:59", 2.0),  # on the calibration end day: counts
                ("a", "2024-02-01 00:00:00", 4.0),  # the day after: does not
                ("late", "2024-02-02", 8.0),
            ]
        ),
        "2024-01-31",
        time_unit=TimeUnit.D,
    )
    assert list(summary.index) == ["a"]
    assert summary.loc["a", "frequency"] == 1
    assert summary.loc["a", "monetary_value"] == 2.0


def test_holdout_counts_days_after_calibration_up_to_and_including_its_end() -> None:
    summary = summarise(
        table(
            [
                ("a", "2024-01-01", 1.0),
                ("a", "2024-01-11", 1.0),  # calibration
                ("a", "2024-01-12", 1.0),
                ("a", "2024-01-12", 1.0),  # same holdout day: once
                ("a", "2024-01-20", 1.0),  # holdout end: counts
                ("a", "2024-01-21", 1.0),  # after: ignored
                ("b", "2024-01-05", 1.0),
            ]
        ),
        "2024-01-11",
        holdout_end="2024-01-20",
        time_unit=TimeUnit.D,
    )
    assert summary["frequency_holdout"].to_dict() == {"a": 2, "b": 0}
    assert (summary["duration_holdout"] == 9.0).all()


def test_offsets_are_counted_in_utc_days_and_integer_dates_read_as_yyyymmdd() -> None:
    with_offsets = summarise(
        table([("a", "2024-01-01T23:30:00-02:00", 1.0), ("a", "2024-01-02T03:00:00+00:00", 1.0)]),
        "2024-01-10",
        time_unit=TimeUnit.D,
    )
    # 23:30 at -02:00 is 01:30 UTC on the 2nd: the same UTC day as the second purchase.
    assert with_offsets.loc["a", "frequency"] == 0

    integers = pd.DataFrame({"customer_id": [1, 1], "date": [19970101, 19970118], "amount": [1.0, 2.0]})
    summary = summarise(integers, "1997-01-31", time_unit=TimeUnit.D)
    assert summary.loc[1, "recency"] == 17.0


def test_columns_are_configurable_and_amount_optional() -> None:
    frame = pd.DataFrame({"who": ["a", "a"], "when": ["2024-01-01", "2024-01-03"]})
    summary = summarise(frame, "2024-01-05", time_unit=TimeUnit.D, columns=TransactionColumns("who", "when", None))
    assert list(summary.columns) == ["frequency", "recency", "T"]
    assert summary.index.name == "who"


# -- errors name the column and the fix ---------------------------------------


def test_missing_column_names_it_the_columns_present_and_the_flag() -> None:
    frame = table([("a", "2024-01-01", 1.0)]).rename(columns={"date": "day"})
    with pytest.raises(MappingError, match=r"date column 'date' \(columns: customer_id, day, amount\).*--date-col"):
        summarise(frame, "2024-02-01")


def test_unreadable_date_names_column_row_and_value() -> None:
    frame = table([("a", "2024-01-01", 1.0), ("a", "2024-13-45", 1.0), ("b", "yesterday", 1.0)])
    with pytest.raises(MappingError, match=r"column 'date', data row 2: cannot read '2024-13-45' as a date \(2 rows"):
        summarise(frame, "2024-02-01")


def test_missing_and_unreadable_amounts_are_refused() -> None:
    with pytest.raises(MappingError, match=r"column 'amount' has no value in data row 2"):
        summarise(table([("a", "2024-01-01", 1.0), ("a", "2024-01-02", None)]), "2024-02-01")  # type: ignore[list-item]
    frame = pd.DataFrame({"customer_id": ["a"], "date": ["2024-01-01"], "amount": ["12,50 EUR"]})
    with pytest.raises(MappingError, match=r"cannot read '12,50 EUR' as an amount"):
        summarise(frame, "2024-02-01")


def test_no_purchase_before_calibration_end_says_when_the_first_one_is() -> None:
    with pytest.raises(IngestError, match=r"first purchase is on 2024-03-01.*later --calibration-end"):
        summarise(table([("a", "2024-03-01", 1.0)]), "2024-02-01")


def test_holdout_must_end_after_calibration() -> None:
    with pytest.raises(ValueError, match="must come after"):
        summarise(table([("a", "2024-01-01", 1.0)]), "2024-02-01", holdout_end="2024-02-01")


# -- properties over random transaction tables --------------------------------

transactions_strategy = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "d"]),
        st.integers(min_value=0, max_value=60),  # day offset
        st.floats(min_value=0.01, max_value=1000, allow_nan=False),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(rows=transactions_strategy, cut=st.integers(min_value=0, max_value=60), seed=st.integers(0, 2**32 - 1))
def test_summary_invariants_hold_for_any_table(rows: list[tuple[str, int, float]], cut: int, seed: int) -> None:
    start = pd.Timestamp("2024-01-01")
    frame = pd.DataFrame(
        {
            "customer_id": [c for c, _, _ in rows],
            "date": [start + pd.Timedelta(days=d) for _, d, _ in rows],
            "amount": [a for _, _, a in rows],
        }
    )
    calibration_end = start + pd.Timedelta(days=cut)
    if (frame["date"] > calibration_end).all():
        return
    summary = summarise(frame, calibration_end, time_unit=TimeUnit.D)

    assert (summary["recency"] >= 0).all() and (summary["recency"] <= summary["T"]).all()
    assert (summary.loc[summary["frequency"] == 0, ["recency", "monetary_value"]] == 0).all().all()
    in_calibration = frame[frame["date"] <= calibration_end]
    assert (summary["frequency"] + 1).sum() == len(in_calibration.drop_duplicates(["customer_id", "date"]))
    # Spend of repeat days plus the first day's spend is everything spent in calibration.
    first_day = purchase_days(in_calibration).groupby("customer").first()["amount"]
    total = summary["monetary_value"] * summary["frequency"] + first_day.reindex(summary.index)
    np.testing.assert_allclose(total, in_calibration.groupby("customer_id")["amount"].sum().reindex(summary.index))
    # Row order does not matter.
    shuffled = frame.sample(frac=1.0, random_state=seed % 2**32)
    pd.testing.assert_frame_equal(summarise(shuffled, calibration_end, time_unit=TimeUnit.D), summary)
