"""``segmint profiles``: look at resolved profiles."""

from __future__ import annotations

from pathlib import Path

import typer

from segmint.cli.common import ConfigOption, DbOption, FormatOption, settings
from segmint.cli.output import OutputFormat, console, print_json, table
from segmint.identity.profiles import find_profile, rebuild
from segmint.store.access import reading, writing
from segmint.store.remote import RemoteStore

app = typer.Typer(help="Resolved customer profiles.", no_args_is_help=True)


@app.command()
def show(
    id: str = typer.Argument(..., help="Any of the profile's ids: userId, anonymousId, email, ..."),
    config: Path = ConfigOption,
    db: Path = DbOption,
    format: OutputFormat = FormatOption,
) -> None:
    """Print one profile: its ids, traits, conflicts and latest events."""
    s = settings(config, db)
    with reading(s.db_path) as store:
        view = find_profile(store, id)
    if format is OutputFormat.json:
        print_json(view.as_dict())
        return
    console.print(f"[bold]Profile {view.id}[/bold]  first seen {view.first_seen:%Y-%m-%d %H:%M}, "
                  f"last seen {view.last_seen:%Y-%m-%d %H:%M}, {view.messages:,} messages"
                  if view.first_seen and view.last_seen else f"[bold]Profile {view.id}[/bold]")
    console.print(table("Identifiers", ["kind", "values"], [(k, ", ".join(v)) for k, v in view.ids.items()]))
    console.print(table("Traits", ["trait", "value"], sorted(view.traits.items())))
    if view.conflicts:
        console.print(
            table(
                "Refused joins",
                ["id", "other id", "when", "why"],
                [(f"{c['kind_a']}:{c['value_a']}", f"{c['kind_b']}:{c['value_b']}", c["event_time"], c["reason"])
                 for c in view.conflicts],
            )
        )
    console.print(
        table("Latest events", ["when", "type", "name"],
              [(e["event_time"], e["type"], e["name"]) for e in view.recent_events])
    )


@app.command("list")
def list_profiles(
    limit: int = typer.Option(20, "--limit", "-n"),
    config: Path = ConfigOption,
    db: Path = DbOption,
    format: OutputFormat = FormatOption,
) -> None:
    """List profiles, most recently seen first."""
    s = settings(config, db)
    with reading(s.db_path) as store:
        rows = store.query(
            "SELECT profile_id, user_id, first_seen, last_seen, messages FROM profiles "
            "ORDER BY last_seen DESC, profile_id LIMIT ?",
            [limit],
        ).to_pylist()
        total = store.query("SELECT count(*) AS n FROM profiles").column("n")[0].as_py()
    if format is OutputFormat.json:
        print_json({"total": total, "profiles": rows})
        return
    console.print(table(f"Profiles ({total:,} in all)", ["profile", "user id", "first seen", "last seen", "messages"],
                        [tuple(r.values()) for r in rows]))


@app.command("rebuild")
def rebuild_command(config: Path = ConfigOption, db: Path = DbOption) -> None:
    """Recompute identities and profiles from the stored events."""
    s = settings(config, db)
    with writing(s.db_path) as store:
        if isinstance(store, RemoteStore):
            store.rebuild_profiles()
        else:
            graph = rebuild(store.connection, s.config.identity)
            console.print(f"{sum(1 for _ in graph.profiles()):,} profiles, {sum(1 for _ in graph.conflicts()):,} refused joins")
