"""Segments: one definition language, evaluated in batch (SQL) and in real time.

- ``definition``: the language as typed values; ``parse``: YAML to definitions.
- ``values``: the comparison rules every evaluator follows.
- ``batch/``: compile definitions to SQL, run on DuckDB or Spark.
- ``realtime/``: incremental evaluation as events arrive and time passes.
"""
