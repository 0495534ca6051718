"""The ``segmint serve`` job that keeps the predictive models fresh.

Enabled by a ``models:`` section in ``segmint.yaml``. Every
``models.score_every`` it runs :func:`segmint.models.lifecycle.maintain`:
retrain what is missing, stale (drift above its threshold) or older than
its ``retrain_every``, then score every profile and publish the scores as
traits. The heavy libraries load only when the job first runs, so a
server without models starts as fast as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from segmint.config.model import Config, span_seconds

if TYPE_CHECKING:
    from segmint.server.maintenance import Job, JobContext


def _run(context: JobContext) -> Any:
    from segmint.models.lifecycle import maintain

    return maintain(context.store, context.config, context.now)


def models_job(config: Config) -> Job | None:
    """The maintenance job for the predictive models, when the configuration has a ``models`` section."""
    from segmint.server.maintenance import Job

    if config.models is None:
        return None
    return Job(name="predictive models", every_s=float(span_seconds(config.models.score_every)), run=_run)
