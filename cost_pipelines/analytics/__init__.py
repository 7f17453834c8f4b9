"""Analytics on daily cost series: anomalies (and, next, forecasts and recommendations). Imports no Dagster."""
