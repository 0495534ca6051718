"""``segmint segments``: check, evaluate, list, explain and preview segments."""

from __future__ import annotations

from pathlib import Path

import typer

from segmint.cli.common import AsOfOption, ConfigOption, DbOption, FormatOption, as_of_instant, settings
from segmint.cli.output import OutputFormat, console, err_console, print_json, table
from segmint.segments.parse import load_segments

app = typer.Typer(help="Segments: check definitions, evaluate them, see who is in them and why.", no_args_is_help=True)


@app.command()
def check(config: Path = ConfigOption, format: OutputFormat = FormatOption) -> None:
    """Validate the segment definitions without touching the store (exit 1 on errors)."""
    s = settings(config, None)
    loaded = load_segments(s.config.segments, s.config.traits)
    if format is OutputFormat.json:
        print_json(
            {
                "valid": list(loaded.definitions),
                "errors": [{"segment": e.segment, "key": e.key, "message": e.message} for e in loaded.errors],
            }
        )
    else:
        rows = [(name, "ok", d.description or "") for name, d in loaded.definitions.items()]
        rows += [(e.segment, "[red]error[/red]", f"{e.key}: {e.message}") for e in loaded.errors]
        console.print(table(f"Segments in {s.config.source_file}", ["segment", "status", "detail"], rows))
    if loaded.errors:
        raise typer.Exit(1)


@app.command()
def evaluate(
    as_of: str = AsOfOption,
    config: Path = ConfigOption,
    db: Path = DbOption,
    format: OutputFormat = FormatOption,
) -> None:
    """Evaluate every segment over the stored events at --as-of (batch, SQL)."""
    from segmint.segments.evaluation import evaluate_store
    from segmint.store.access import reading

    s = settings(config, db)
    instant = as_of_instant(as_of)
    loaded = load_segments(s.config.segments, s.config.traits)
    for error in loaded.errors:
        err_console.print(f"[yellow]not evaluated:[/yellow] {error}")
    with reading(s.db_path) as store:
        memberships = evaluate_store(store, loaded, s.config.identity, instant)
    if format is OutputFormat.json:
        print_json(memberships)
        return
    console.print(table(f"Segments at {instant.isoformat()}", ["segment", "members", "description"],
                        [(n, len(m), loaded.definitions[n].description or "") for n, m in memberships.items()]))


@app.command("list")
def list_segments(config: Path = ConfigOption, db: Path = DbOption, format: OutputFormat = FormatOption) -> None:
    """Every segment with its status, size, last error and age (never silently stale)."""
    from segmint.clock import SystemClock
    from segmint.segments.inspect import statuses
    from segmint.store.access import reading

    s = settings(config, db)
    loaded = load_segments(s.config.segments, s.config.traits)
    recorded: dict = {}
    if s.db_path.exists():
        with reading(s.db_path) as store:
            recorded = statuses(store)
    now = SystemClock().now()
    rows = []
    for name in list(loaded.definitions) + sorted({e.segment for e in loaded.errors}):
        errors = loaded.errors_of(name)
        seen = recorded.get(name, {})
        evaluated_at = seen.get("evaluated_at")
        rows.append(
            {
                "name": name,
                "status": "error" if errors else seen.get("status", "not evaluated yet"),
                "size": None if errors else seen.get("members"),
                "evaluated_at": evaluated_at,
                "age_seconds": (now - evaluated_at).total_seconds() if evaluated_at else None,
                "last_error": str(errors[0]) if errors else seen.get("last_error"),
                "description": loaded.definitions[name].description if name in loaded.definitions else None,
            }
        )
    if format is OutputFormat.json:
        print_json({"segments": rows})
        return
    console.print(table("Segments", ["segment", "status", "size", "evaluated", "age", "last error"],
                        [(r["name"], r["status"], r["size"], r["evaluated_at"],
                          _age(r["age_seconds"]), r["last_error"]) for r in rows]))


def _age(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


@app.command()
def explain(
    profile: str = typer.Argument(..., help="Any of the profile's ids."),
    segment: str = typer.Argument(..., help="The segment."),
    as_of: str = AsOfOption,
    config: Path = ConfigOption,
    db: Path = DbOption,
    format: OutputFormat = FormatOption,
) -> None:
    """Show which conditions held for a profile and which events made them hold."""
    from segmint.segments.inspect import explain as explain_profile
    from segmint.store.access import reading

    s = settings(config, db)
    instant = as_of_instant(as_of)
    with reading(s.db_path) as store:
        result = explain_profile(store, load_segments(s.config.segments, s.config.traits), s.config.identity, profile, segment, instant)
    if format is OutputFormat.json:
        print_json(result)
        return
    print_explanation(result)


def print_explanation(result: dict) -> None:
    """Print an explanation (as the real-time evaluator's ``explain`` returns it) as a tree."""
    from rich.tree import Tree

    def label(node: dict) -> str:
        mark = "[green]✔[/green]" if node.get("holds") else "[red]✘[/red]"
        text = f"{mark} {node.get('condition')}"
        if "value" in node:
            text += f"  [dim](value: {node['value']!r})[/dim]"
        return text

    def grow(tree: Tree, node: dict) -> None:
        events = node.get("events") or []
        for event in events[:8]:
            tree.add(f"[dim]{event.get('event_time')}  {event.get('event')}  (seq {event.get('seq')})[/dim]")
        if len(events) > 8:
            tree.add(f"[dim]… and {len(events) - 8} more events[/dim]")
        for child in node.get("conditions", []):
            grow(tree.add(label(child)), child)

    verdict = "is in" if result.get("member") else "is not in"
    tree = Tree(f"[bold]{result.get('profile_id')} {verdict} {result.get('segment')}[/bold] at {result.get('at')}")
    grow(tree.add(label(result["condition"])), result["condition"])
    console.print(tree)


@app.command()
def preview(
    name: str = typer.Argument(..., help="The segment to preview (from the configuration, or --definition)."),
    definition: str = typer.Option(None, "--definition", help="The definition as YAML, before it is saved."),
    as_of: str = AsOfOption,
    sample: int = typer.Option(10, "--sample", help="How many members to show."),
    config: Path = ConfigOption,
    db: Path = DbOption,
    format: OutputFormat = FormatOption,
) -> None:
    """The size a definition would have now, without saving it."""
    import yaml

    from segmint.errors import DefinitionError
    from segmint.segments.evaluation import evaluate_store
    from segmint.store.access import reading

    s = settings(config, db)
    raw = dict(s.config.segments)
    if definition is not None:
        try:
            raw[name] = yaml.safe_load(definition)
        except yaml.YAMLError as error:
            raise DefinitionError(f"--definition is not valid YAML: {error}") from None
    elif name not in raw:
        raise DefinitionError(f"no segment named {name!r} in {s.config.source_file}; pass --definition to try one")
    loaded = load_segments(raw, s.config.traits)
    if name not in loaded.definitions:
        problems = loaded.errors_of(name)
        raise DefinitionError("; ".join(str(p) for p in problems) or f"segment {name!r} cannot be evaluated")
    needed = _with_dependencies(loaded, name)
    loaded.definitions = {n: d for n, d in loaded.definitions.items() if n in needed}
    instant = as_of_instant(as_of)
    with reading(s.db_path) as store:
        members = evaluate_store(store, loaded, s.config.identity, instant)[name]
    if format is OutputFormat.json:
        print_json({"segment": name, "as_of": instant, "size": len(members), "sample": members[:sample]})
        return
    console.print(f"[bold]{name}[/bold] would have [bold]{len(members):,}[/bold] members at {instant.isoformat()}")
    if members:
        console.print("e.g. " + ", ".join(members[:sample]))


def _with_dependencies(loaded, name: str) -> set[str]:  # type: ignore[no-untyped-def]
    from segmint.segments.definition import referenced_segments

    needed, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in needed:
            continue
        needed.add(current)
        todo.extend(referenced_segments(loaded.definitions[current].condition))
    return needed


@app.command()
def history(
    name: str = typer.Argument(..., help="The segment."),
    every: str = typer.Option("1 day", "--every", help="Period, e.g. '1 hour', '1 day', '7 days'."),
    config: Path = ConfigOption,
    db: Path = DbOption,
    format: OutputFormat = FormatOption,
) -> None:
    """The segment's size over time, from the recorded entries and exits."""
    from segmint.segments.inspect import sizes_over_time
    from segmint.store.access import reading

    s = settings(config, db)
    with reading(s.db_path) as store:
        rows = sizes_over_time(store, name, every)
    if format is OutputFormat.json:
        print_json({"segment": name, "every": every, "sizes": rows})
        return
    console.print(table(f"{name}: size over time", ["period", "entries", "exits", "size"],
                        [(r["period"], r["entries"], r["exits"], r["size"]) for r in rows]))
