"""Batch evaluation on Apache Spark 4, from events exported by the store.

The handoff is two relations, as Spark DataFrames (:class:`SparkInputs`):
the raw events (the store's columns that ``inputs.py`` lists, JSON as text)
and ``profile_ids(kind, value, profile_id)``, resolved by the store at the
evaluation instant. :func:`export_inputs` writes both as Parquet from a
DuckDB store and reads them back in Spark; any other way of producing the
same two DataFrames works too. The JSON typing then runs in Spark (VARIANT
functions), and the segment logic is the same sqlglot tree as on DuckDB,
generated in Spark's dialect.

pyspark is imported only here, and only when a function is called.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow.parquet as pq
from sqlglot import exp

from segmint.config.model import IdentityConfig
from segmint.segments.batch.compile import Relations, compile_segments
from segmint.segments.batch.dialects import DuckDB, Spark
from segmint.segments.batch.inputs import iso, profile_ids
from segmint.segments.batch.run import evaluation_query, memberships
from segmint.segments.changes import Memberships
from segmint.segments.parse import LoadedSegments

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

EVENT_COLUMNS = ("seq", "type", "event", "user_id", "anonymous_id", "event_time", "properties", "traits")
_names = itertools.count()


# For a few rows (tests): compiling generated code and re-planning
# adaptively cost far more than they save. Session settings, so a running
# session can switch them too.
SMALL_DATA_SETTINGS = {
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.sql.adaptive.enabled": "false",
}


def local_spark(
    cores: int = 2, app_name: str = "segmint", driver_memory: str = "1g", small_data: bool = False
) -> SparkSession:
    """A small local SparkSession (UTC, no UI), or the one already running.

    ``small_data`` applies :data:`SMALL_DATA_SETTINGS`, which halve the time
    of a query over a few rows.
    """
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName(app_name)
        .config("spark.sql.shuffle.partitions", str(cores))
        .config("spark.default.parallelism", str(cores))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", driver_memory)
    )
    for key, value in (SMALL_DATA_SETTINGS if small_data else {}).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


@dataclass(frozen=True)
class SparkInputs:
    """The raw events and the identity mapping at the evaluation instant."""

    events: DataFrame
    profile_ids: DataFrame


def export_inputs(
    spark: SparkSession,
    con: duckdb.DuckDBPyConnection,
    identity: IdentityConfig,
    as_of: datetime,
    directory: Path,
) -> SparkInputs:
    """Write the store's events up to ``as_of`` and its ``profile_ids`` then as Parquet; read them in Spark."""
    directory.mkdir(parents=True, exist_ok=True)
    events_path, ids_path = directory / "events.parquet", directory / "profile_ids.parquet"
    dialect = DuckDB()
    select = (
        exp.select(
            *[
                exp.alias_(exp.cast(exp.column(c), "VARCHAR"), c) if c in ("properties", "traits") else exp.column(c)
                for c in EVENT_COLUMNS
            ]
        )
        .from_("events")
        .where(exp.LTE(this=exp.column("event_time"), expression=dialect.instant(iso(as_of))))
        .order_by("seq")
    )
    con.sql(dialect.sql(select)).write_parquet(str(events_path))
    pq.write_table(profile_ids(con, identity, as_of), ids_path)
    return SparkInputs(spark.read.parquet(str(events_path)), spark.read.parquet(str(ids_path)))


def evaluate_spark(spark: SparkSession, inputs: SparkInputs, segments: LoadedSegments, as_of: datetime) -> Memberships:
    """Every usable segment's members at ``as_of``, computed by Spark."""
    definitions = list(segments.definitions.values())
    if not definitions:
        return {}
    suffix = next(_names)
    events, ids = f"segmint_events_{suffix}", f"segmint_profile_ids_{suffix}"
    compiled = compile_segments(definitions, as_of, Relations(profile_ids=ids), segments.computed)
    inputs.events.createOrReplaceTempView(events)
    inputs.profile_ids.createOrReplaceTempView(ids)
    try:
        sql = Spark().sql(evaluation_query(compiled, Spark(), as_of, events))
        rows = spark.sql(sql).toArrow()
    finally:
        spark.catalog.dropTempView(events)
        spark.catalog.dropTempView(ids)
    return memberships(rows, compiled.columns)
