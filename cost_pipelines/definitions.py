"""Everything Dagster loads: assets, checks, jobs, schedules and resources."""

import dagster as dg

from cost_pipelines.defs import (
    alert_sensors,
    alerts,
    analytics,
    aws,
    checks,
    dbt,
    focus,
    ingest,
    intraday,
    jobs,
    provider_usage,
    report,
    reprice,
)
from cost_pipelines.resources import default_resources

defs = dg.Definitions(
    assets=[
        provider_usage.provider_usage_pages,
        ingest.llm_requests,
        ingest.llm_prices,
        aws.aws_cost_explorer_daily,
        focus.focus_charges,
        dbt.cost_dbt_models,
        analytics.cost_anomalies,
        analytics.spend_forecast,
        analytics.recommendations,
        analytics.daily_report,
        alerts.budget_status_asset,
        alerts.cost_alerts,
        intraday.llm_requests_intraday,
        intraday.llm_spend_hourly,
        report.cost_report,
        report.prometheus_metrics,
    ],
    asset_checks=[*checks.checks, reprice.history_priced_with_current_prices],
    jobs=[jobs.daily_cost_job, alerts.alerts_job, intraday.intraday_llm_job, reprice.reprice_job],
    schedules=[jobs.daily_cost_schedule],
    sensors=[
        alert_sensors.budget_alert_sensor,
        alert_sensors.daily_job_failure_sensor,
        intraday.llm_logs_arrival_sensor,
    ],
    resources={**default_resources(), "quality_thresholds": checks.QualityThresholds()},
    # DuckDB takes one writer per file and dbt writes from a subprocess: steps run one after another in one
    # process, each opening and closing its own connection, so no step ever holds the lock another needs.
    executor=dg.in_process_executor,
)
