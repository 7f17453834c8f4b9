"""Cloud and LLM API cost pipelines on Dagster and dbt."""
