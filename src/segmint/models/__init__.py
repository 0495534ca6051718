"""Predictive models: fitted on customer summaries, pure numerics, no I/O."""
