"""Deterministic sample LLM logs for the demo and the tests. Imports no Dagster."""
