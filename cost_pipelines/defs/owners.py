"""Who answers for each part of the pipeline (shown as owners in the Dagster UI)."""

OWNERS_INGEST = ["team:platform"]  # sources, credentials, log shapes
OWNERS_TRANSFORM = ["team:analytics-engineering"]  # the dbt project
OWNERS_ANALYTICS = ["team:finops"]  # forecasts, anomalies, recommendations, the report
OWNERS_ALERTS = ["team:finops"]  # budgets and notifications
