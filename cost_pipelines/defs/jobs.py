"""The daily job and its schedule."""

import os

import dagster as dg

daily_cost_job = dg.define_asset_job(
    "daily_cost_job",
    # not daily partitions: alerts/cost_alerts (budget_alert_sensor runs it in alerts_job) and the intraday assets
    # (llm_logs_arrival_sensor runs them in intraday_llm_job)
    selection=dg.AssetSelection.groups("ingest", "transform", "analytics", "alerts", "reports")
    - dg.AssetSelection.assets(
        dg.AssetKey(["alerts", "cost_alerts"]),
        dg.AssetKey(["raw", "llm_requests_intraday"]),
        dg.AssetKey(["analytics", "llm_spend_hourly"]),
    ),
    description=(
        "Refresh prices, ingest one UTC day of LLM logs and cloud costs, rebuild that day in dbt, analyse it and "
        "evaluate the budgets, write the cost report and the metrics file."
    ),
)

# Every day at 06:00 UTC, for the day that just ended; running as soon as a daemon runs (`dagster dev`), unless
# COST_PIPELINES_DAILY_SCHEDULE=off (or it is stopped in the UI, which the instance then remembers).
SCHEDULE_SWITCH = "COST_PIPELINES_DAILY_SCHEDULE"
daily_cost_schedule = dg.build_schedule_from_partitioned_job(
    daily_cost_job,
    hour_of_day=6,
    minute_of_hour=0,
    default_status=dg.DefaultScheduleStatus.STOPPED
    if os.environ.get(SCHEDULE_SWITCH, "").strip().lower() in ("off", "false", "0", "no")
    else dg.DefaultScheduleStatus.RUNNING,
)
