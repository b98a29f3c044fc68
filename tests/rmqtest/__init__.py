"""Shared test support (process spawning, ports, stores). Importable from any test because
tests/conftest.py puts tests/ on sys.path (pytest's prepend import mode)."""
