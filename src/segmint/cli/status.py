"""``segmint status``: what the store holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from segmint.cli.common import ConfigOption, DbOption, FormatOption, settings
from segmint.cli.output import OutputFormat, console, print_json, table
from segmint.store.access import reading
from segmint.store.store import StoreReader


def store_summary(store: StoreReader) -> dict[str, Any]:
    one = store.query(
        """SELECT (SELECT count(*) FROM events) AS messages,
                  (SELECT count(*) FROM profiles) AS profiles,
                  (SELECT count(*) FROM profiles WHERE user_id IS NOT NULL) AS known_profiles,
                  (SELECT count(*) FROM failed_messages WHERE status = 'failed') AS failed_messages,
                  (SELECT count(*) FROM identity_conflicts) AS refused_joins,
                  (SELECT min(event_time) FROM events) AS first_event,
                  (SELECT max(event_time) FROM events) AS last_event,
                  (SELECT value FROM segmint_meta WHERE key = 'schema_version') AS schema_version"""
    ).to_pylist()[0]
    by_type = store.query(
        "SELECT type, coalesce(event, name, '') AS name, count(*) AS messages FROM events "
        "GROUP BY ALL ORDER BY messages DESC"
    ).to_pylist()
    return one | {"by_event": by_type}


def status_command(config: Path = ConfigOption, db: Path = DbOption, format: OutputFormat = FormatOption) -> None:
    """Summarise the store: messages, profiles, failures, event mix."""
    s = settings(config, db)
    with reading(s.db_path) as store:
        summary = store_summary(store)
    if format is OutputFormat.json:
        print_json(summary)
        return
    console.print(table(f"Store {s.db_path}", ["", "value"],
                        [(k, v) for k, v in summary.items() if k != "by_event"]))
    console.print(table("Messages by event", ["type", "event / name", "messages"],
                        [tuple(r.values()) for r in summary["by_event"]]))
