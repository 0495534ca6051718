"""Data quality: the data dictionary (types, completeness, validity, freshness, a score) and duplicate customers."""
