"""Dagster wiring, one module per domain. Each module only calls the pure packages beside it."""
