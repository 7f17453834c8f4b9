"""Ingest: read LLM request logs in every accepted shape and normalise them. Imports no Dagster."""
