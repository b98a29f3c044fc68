"""Root conftest: tests/ is on sys.path from here, so `import rmqtest` works in every test."""
