"""The list of command groups; adding a group is one line here."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from segmint.cli import clv, demo, failed, ingest, profiles, replay, segments, serve, status

    app.command("demo")(demo.demo_command)
    app.command("import")(ingest.import_command)
    app.command("serve")(serve.serve_command)
    app.command("replay")(replay.replay_command)
    app.command("status")(status.status_command)
    app.add_typer(profiles.app, name="profiles")
    app.add_typer(failed.app, name="failed")
    app.add_typer(segments.app, name="segments")
    from segmint.cli import traits

    app.add_typer(traits.app, name="traits")
    app.add_typer(clv.app, name="clv")
    from segmint.cli import models

    app.add_typer(models.app, name="models")
    from segmint.cli import rfm

    app.command("rfm")(rfm.rfm_command)
    from segmint.cli import quality

    app.add_typer(quality.app, name="quality")
    from segmint.cli.cluster import cluster_command

    app.command("cluster")(cluster_command)
