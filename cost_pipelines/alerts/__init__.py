"""Budgets, their evaluation, alert messages and the channels that deliver them (no Dagster here)."""
