"""``segmint traits``: list the computed traits and compute them over the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from segmint.cli.common import AsOfOption, ConfigOption, DbOption, FormatOption, as_of_instant, settings
from segmint.cli.output import OutputFormat, console, err_console, print_json, table
from segmint.traits.definition import TraitDefinition
from segmint.traits.parse import load_traits

app = typer.Typer(help="Computed traits: counts, sums, favourites, recency and trends from the events.",
                  no_args_is_help=True)


def describe(definition: TraitDefinition) -> dict[str, Any]:
    """One trait as plain data (what ``list`` prints)."""
    match = definition.match
    return {
        "name": definition.name,
        "kind": definition.kind,
        "of": match.event,
        "property": ".".join(definition.path) if definition.path else None,
        "measure": definition.measure,
        "where": [".".join(f.path) for f in match.where] or None,
        "within": match.within.text if match.within else None,
        "period": definition.period.text if definition.period else None,
        "per": definition.per.text if definition.per else None,
        "description": definition.description,
    }


@app.command("list")
def list_traits(config: Path = ConfigOption, format: OutputFormat = FormatOption) -> None:
    """Every computed trait in the configuration, and the errors of those that cannot be computed."""
    s = settings(config, None)
    loaded = load_traits(s.config.traits, segment_names=s.config.segments.keys())
    rows = [describe(d) for d in loaded.definitions.values()]
    errors = [{"trait": e.trait, "key": e.key, "message": e.message} for e in loaded.errors]
    if format is OutputFormat.json:
        print_json({"traits": rows, "errors": errors})
    else:
        console.print(table(f"Computed traits in {s.config.source_file}",
                            ["trait", "kind", "of", "property", "window", "description"],
                            [(r["name"], r["kind"], r["of"], r["property"] or r["measure"],
                              r["within"] or (f"{r['period']} vs the one before" if r["period"] else "all time"),
                              r["description"] or "") for r in rows]
                            + [(e["trait"], "[red]error[/red]", "", "", "", f"{e['key']}: {e['message']}")
                               for e in errors]))
    if loaded.errors:
        raise typer.Exit(1)


@app.command()
def compute(
    as_of: str = AsOfOption,
    profile: str = typer.Option(None, "--profile", help="Only this profile (its profile id)."),
    limit: int = typer.Option(50, "--limit", help="Rows shown in the table (JSON prints all)."),
    config: Path = ConfigOption,
    db: Path = DbOption,
    format: OutputFormat = FormatOption,
) -> None:
    """Compute every computed trait for every profile at --as-of (batch, SQL over the store)."""
    from segmint.errors import DefinitionError
    from segmint.store.access import reading
    from segmint.store.store import Store
    from segmint.traits.batch import compute_traits

    s = settings(config, db)
    instant = as_of_instant(as_of)
    loaded = load_traits(s.config.traits, segment_names=s.config.segments.keys())
    for error in loaded.errors:
        err_console.print(f"[yellow]not computed:[/yellow] {error}")
    if not loaded.definitions:
        raise DefinitionError(f"no computed traits to compute in {s.config.source_file}: declare some under `traits:`")
    with reading(s.db_path) as store:
        if not isinstance(store, Store):
            raise DefinitionError("the store is held by a running server; stop `segmint serve` to compute traits "
                                  "in batch, or read them from the server")
        frame = compute_traits(store.cursor(), loaded.definitions.values(), s.config.identity, instant)
    if profile is not None:
        frame = frame[frame.profile_id == profile]
        if frame.empty:
            raise DefinitionError(f"no profile {profile!r} at {instant.isoformat()} (give its userId, else its "
                                  "earliest anonymousId)")
    records = [{k: (None if _missing(v) else v) for k, v in row.items()} for row in frame.to_dict("records")]
    if format is OutputFormat.json:
        print_json({"as_of": instant, "profiles": records})
        return
    names = list(loaded.definitions)
    shown = records[:limit]
    console.print(table(f"Computed traits at {instant.isoformat()} ({len(records):,} profiles)",
                        ["profile", *names], [(r["profile_id"], *(r[n] for n in names)) for r in shown]))
    if len(records) > len(shown):
        console.print(f"[dim]… {len(records) - len(shown):,} more; --format json prints all, --profile ID one[/dim]")


def _missing(value: Any) -> bool:
    import pandas as pd

    return value is None or value is pd.NA or (isinstance(value, float) and value != value)
