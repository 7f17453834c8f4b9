"""AWS spend: Cost Explorer requests, pagination and response parsing. Imports no Dagster."""
