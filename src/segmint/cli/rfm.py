"""``segmint rfm``: recency, frequency and monetary scores, and the named RFM segments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from segmint.cli.common import AsOfOption, ConfigOption, DbOption, FormatOption, as_of_instant, settings
from segmint.cli.output import OutputFormat, console, print_json, table

# pandas is imported inside the command (through segmint.learn.rfm): this
# module is imported for `segmint --help`, which should not pay for it.


def rfm_command(
    as_of: str = AsOfOption,
    publish: bool = typer.Option(
        False, "--publish", help="Publish the scores and segment as traits (rfm_recency, ..., rfm_segment)."
    ),
    config: Path = ConfigOption,
    db: Path = DbOption,
    format: OutputFormat = FormatOption,
) -> None:
    """Score every customer's orders 1 to 5 and print the RFM segments with their size and value."""
    from segmint.learn.rfm import TRAITS, publish_rfm, rfm_report, rfm_scores
    from segmint.store.access import reading, writing

    s = settings(config, db)
    instant = as_of_instant(as_of)
    opened = writing(s.db_path) if publish else reading(s.db_path)
    with opened as store:
        scores = rfm_scores(store, s.config.rfm, instant)
        report = publish_rfm(store, s.config, scores, instant) if publish else None
    result = rfm_report(scores, s.config, instant) | {"published": report.as_dict() if report else None}
    if format is OutputFormat.json:
        print_json(result)
        return
    print_report(result)
    if report:
        console.print(
            f"Published {', '.join(TRAITS)} for {report.profiles:,} profiles "
            f"({report.accepted:,} new, {report.duplicates:,} already there); segments can use `trait: rfm_segment`."
        )


def print_report(result: dict[str, Any]) -> None:
    segments = table(
        f"RFM segments at {result['as_of']:%Y-%m-%d %H:%M} UTC: {result['customers']:,} customers, "
        f"{result['monetary']:,.2f} in orders",
        ["segment", "buyers", "%", "value", "% value", "days", "orders", "avg value"],
        [
            (r["segment"], r["customers"], f"{r['share']:.0%}", _money(r["monetary"]), f"{r['value_share']:.0%}",
             _number(r["recency_days"], ".0f"), _number(r["frequency"], ".1f"), _money(r["monetary_mean"]))
            for r in result["segments"]
        ],
    )
    for column in (0, 3):  # the names and the value are what people read first: never cut them
        segments.columns[column].no_wrap = True
    segments.caption = "days: median days since the last order; orders: mean per buyer"
    console.print(segments)
    grid = result["recency_by_frequency"]
    frequencies = list(next(iter(grid.values())).keys()) if grid else []
    console.print(
        table(
            "Customers by recency score (rows) and frequency score (columns)",
            ["R \\ F", *frequencies],
            [(r, *(row[f] for f in frequencies)) for r, row in grid.items()],
        )
    )


def _money(value: float | None) -> str | None:
    return None if value is None else f"{value:,.0f}"


def _number(value: float | None, spec: str) -> str | None:
    return None if value is None else format(value, spec)
