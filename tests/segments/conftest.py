"""The segment tests share the Spark fixtures of tests/conftest.py (one session for the whole run)."""
