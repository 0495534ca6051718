"""The ``segmint`` command line: one module per command group."""
