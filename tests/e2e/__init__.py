"""Browser tests of the web client (see conftest.py)."""
