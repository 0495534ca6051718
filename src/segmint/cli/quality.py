"""``segmint quality``: the data dictionary with quality scores, and duplicate customer records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from segmint.cli.common import AsOfOption, ConfigOption, DbOption, FormatOption, as_of_instant, settings
from segmint.cli.output import OutputFormat, console, print_json, table

app = typer.Typer(
    help="Data quality: every event, property and trait scored; duplicate customers.",
    invoke_without_command=True,
)



@app.callback()
def report(
    ctx: typer.Context,
    as_of: str = AsOfOption,
    half_life: float = typer.Option(30.0, "--half-life", min=0.001, help="Days after which freshness halves."),
    config: Path = ConfigOption,
    db: Path = DbOption,
    format: OutputFormat = FormatOption,
) -> None:
    """The data dictionary: source, types, completeness, validity, freshness and a score for everything."""
    if ctx.invoked_subcommand is not None:
        return
    from segmint.quality.dictionary import data_dictionary
    from segmint.quality.duplicates import find_duplicates
    from segmint.quality.outliers import find_outliers
    from segmint.quality.report import quality_report
    from segmint.store.access import reading

    s = settings(config, db)
    instant = as_of_instant(as_of)
    with reading(s.db_path) as store:
        dictionary = data_dictionary(store, instant, half_life_days=half_life)
        duplicates = find_duplicates(store)
        outliers = find_outliers(store, instant)
    result = quality_report(dictionary, duplicates, instant, outliers=outliers)
    if format is OutputFormat.json:
        print_json(result)
        return
    print_quality(result)


def _pct(value: float | None) -> str | None:
    return None if value is None else f"{value:.0%}"


def print_quality(result: dict[str, Any]) -> None:
    from rich.markup import escape  # names such as [page] are not markup

    items = result["items"]
    when = f"{result['as_of']:%Y-%m-%d %H:%M} UTC"
    for kind, title in (("source", "Sources"), ("event", "Events"), ("property", "Properties"), ("trait", "Traits")):
        rows = [i for i in items if i["kind"] == kind]
        if not rows:
            continue
        first = {"source": [], "event": ["source"], "property": ["source", "types"], "trait": ["source", "types"]}[kind]
        label = {"property": "event · property"}.get(kind, kind)
        out = table(
            f"{title} at {when}" if kind == "source" else title,
            [label, *first, "complete", "valid", "last seen", "score", "issues"],
            [
                (escape(f"{r['event']} · {r['name']}" if kind == "property" else r["name"]),
                 *([r["source"]] if first else []), *([", ".join(r["types"])] if len(first) > 1 else []),
                 _pct(r["completeness"]), _pct(r["validity"]),
                 f"{r['last_seen']:%Y-%m-%d}" if r["last_seen"] else None, f"{r['score']:.0f}",
                 escape("; ".join(r["issues"])))
                for r in rows
            ],  # fmt: skip
        )
        out.columns[0].no_wrap = True
        console.print(out)
    print_duplicates(result["duplicates"])
    if "outliers" in result:
        print_outliers(result["outliers"])


def print_outliers(data: dict[str, Any]) -> None:
    from segmint.quality.outliers import describe

    console.print(f"[bold]Outliers[/bold]: {data['count']:,} unusual profiles, flagged (never dropped) by {data['source']}")
    if data["profiles"]:
        console.print(table(None, ["profile", "distance (sd)", "why"],
                            [(p["profile_id"], f"{p['distance']:.1f}", describe(p["reasons"])) for p in data["profiles"]]))


def print_duplicates(data: dict[str, Any]) -> None:
    from rich.markup import escape

    console.print(
        f"[bold]Duplicate candidates[/bold]: {data['candidates']:,} "
        f"({data['merge']:,} can merge into a customer, {data['review']:,} for review); `segmint quality duplicates`"
    )
    if data["pairs"]:
        console.print(
            table(
                None,
                ["profile", "other", "score", "email", "name", "action"],
                [(p["profile_a"], p["profile_b"], f"{p['score']:.2f}", escape(f"{p['email_a']} ~ {p['email_b']}"),
                  escape(f"{p['name_a']} ~ {p['name_b']}"), p["action"]) for p in data["pairs"]],
            )
        )


@app.command()
def duplicates(
    threshold: float = typer.Option(0.85, "--threshold", min=0.0, max=1.0, help="Lowest score to report (0 to 1)."),
    apply: bool = typer.Option(
        False, "--apply", help="Merge the pairs identity resolution allows (a customer and an anonymous profile)."
    ),
    out: Path = typer.Option(None, "--out", help="Write every candidate pair to this CSV file, for review."),
    as_of: str = AsOfOption,
    config: Path = ConfigOption,
    db: Path = DbOption,
    format: OutputFormat = FormatOption,
) -> None:
    """Duplicate customer records by fuzzy matching: merge what the identity rules allow, list the rest for review."""
    from segmint.quality.duplicates import apply_merges, find_duplicates
    from segmint.quality.report import duplicates_summary
    from segmint.store.access import reading, writing

    s = settings(config, db)
    instant = as_of_instant(as_of)
    applied = None
    with (writing(s.db_path) if apply else reading(s.db_path)) as store:
        pairs = find_duplicates(store, threshold=threshold)
        if apply:
            applied = apply_merges(store, s.config.identity, pairs, instant)
    if out is not None:
        pairs.to_csv(out, index=False)
    result = {
        "threshold": threshold,
        **duplicates_summary(pairs),
        "applied": applied,
        "review_file": str(out) if out else None,
    }
    if format is OutputFormat.json:
        print_json(result)
        return
    print_duplicates(result)
    if applied is not None:
        console.print(
            f"Merged {applied['accepted']:,} anonymous profiles into customers "
            f"({applied['duplicates']:,} already merged); pairs of customers are never merged: review them"
            + (f" in {out}" if out else " with --out FILE.csv")
        )
