"""The embedded store: one DuckDB file, versioned, readable while serving."""
