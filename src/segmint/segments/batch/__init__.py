"""Batch evaluation: segment definitions compiled to SQL, run on DuckDB or Spark.

- ``inputs``: the identity mapping at an instant, and the engine-specific
  preparation of typed inputs (``seg_events``, ``seg_traits``);
- ``needs``: which JSON values the definitions read, and their typed columns;
- ``compile``: definitions to one sqlglot query over the typed inputs;
- ``dialects``: what differs between engines, as lookup tables;
- ``duckdb_engine`` / ``spark_engine``: running it.

    >>> from segmint.segments.batch import evaluate_duckdb  # doctest: +SKIP
    >>> evaluate_duckdb(store.connection, load_segments(raw), IdentityConfig(), as_of)  # doctest: +SKIP
    {'big_spenders': ['u1', 'u7'], ...}

pyspark is imported only when a Spark function is called.
"""

from segmint.segments.batch.compile import CompiledSegments, compile_segments
from segmint.segments.batch.duckdb_engine import evaluate_duckdb, run_duckdb
from segmint.segments.batch.inputs import profile_ids
from segmint.segments.batch.spark_engine import SparkInputs, evaluate_spark, export_inputs, local_spark

__all__ = [
    "CompiledSegments",
    "SparkInputs",
    "compile_segments",
    "evaluate_duckdb",
    "evaluate_spark",
    "export_inputs",
    "local_spark",
    "profile_ids",
    "run_duckdb",
]
