"""Analytics assets over the unified cost fact."""

import json
from datetime import timedelta

import dagster as dg
import pandas as pd
import pyarrow as pa
from dagster_dbt import get_asset_key_for_model

from cost_pipelines.analytics.anomalies import AnomalyThresholds, detect, explain, series_from_detail
from cost_pipelines.defs.dbt import cost_dbt_models
from cost_pipelines.defs.metadata import markdown_table
from cost_pipelines.defs.partitions import daily_partitions, single_run
from cost_pipelines.resources import WarehouseResource
from cost_pipelines.warehouse import transaction

COST_ANOMALIES = dg.AssetKey(["analytics", "cost_anomalies"])
_DETAIL_SQL = """
    SELECT usage_date, CAST(billed_cost AS DOUBLE) AS cost, provider_name AS provider, x_team AS team,
           x_user_id AS user_id, x_model AS model,
           CASE WHEN x_source = 'llm_logs' THEN NULL ELSE service_name END AS service
    FROM marts.fct_costs WHERE usage_date >= ? AND usage_date < ?"""


class AnomalyConfig(dg.Config):
    robust_z: float = 4.0
    min_relative_change: float = 0.25
    spike_ratio: float = 3.0
    day_over_day: float = 0.5
    week_over_week: float = 1.0
    window_days: int = 28


@dg.asset(
    key=COST_ANOMALIES,
    deps=[get_asset_key_for_model([cost_dbt_models], "fct_costs")],
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    group_name="analytics",
    kinds={"python", "duckdb"},
    tags={"domain": "analytics"},
    description=(
        "Unusual days per series (total, provider, team, service, model): seasonal robust score, spikes, "
        "day-over-day and week-average jumps, new spend; each with expected vs actual and the contributors."
    ),
)
def cost_anomalies(
    context: dg.AssetExecutionContext, config: AnomalyConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date()
    thresholds = AnomalyThresholds(**config.model_dump())
    with warehouse.connect(read_only=True) as con:
        detail = con.execute(_DETAIL_SQL, [start - timedelta(days=thresholds.window_days), end]).df()
    days = [start + timedelta(days=i) for i in range((end - start).days)]
    detail["usage_date"] = pd.to_datetime(detail["usage_date"])
    found = explain(detail, detect(series_from_detail(detail), days, thresholds)) if len(detail) else []
    rows = pa.table({
        "usage_date": pa.array([a.day for a in found], pa.date32()),
        "dimension": pa.array([a.dimension for a in found], pa.string()),
        "series_key": pa.array([a.key for a in found], pa.string()),
        "kinds": pa.array([",".join(a.kinds) for a in found], pa.string()),
        "actual_usd": pa.array([str(a.actual) for a in found], pa.string()),
        "expected_usd": pa.array([str(a.expected) for a in found], pa.string()),
        "score": pa.array([None if a.score == float("inf") else a.score for a in found], pa.float64()),
        "contributors": pa.array([json.dumps([[d, v, str(c)] for d, v, c in a.contributors]) for a in found]),
    })  # fmt: skip
    with warehouse.connect() as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS analytics")
        con.execute(
            "CREATE TABLE IF NOT EXISTS analytics.cost_anomalies (usage_date DATE, dimension VARCHAR, "
            "series_key VARCHAR, kinds VARCHAR, actual_usd DECIMAL(38, 18), expected_usd DECIMAL(38, 18), "
            "score DOUBLE, contributors VARCHAR, detected_at TIMESTAMPTZ)"
        )
        con.register("_anomalies", rows)
        with transaction(con):
            con.execute("DELETE FROM analytics.cost_anomalies WHERE usage_date >= ? AND usage_date < ?", [start, end])
            con.execute(
                "INSERT INTO analytics.cost_anomalies SELECT usage_date, dimension, series_key, kinds, "
                "CAST(actual_usd AS DECIMAL(38, 18)), CAST(expected_usd AS DECIMAL(38, 18)), score, contributors, "
                "now() FROM _anomalies"
            )
        con.unregister("_anomalies")
    table = [
        (a.day, a.dimension, a.key, ",".join(a.kinds), a.actual, a.expected,
         "; ".join(f"{d}={v} (+{c:,.2f})" for d, v, c in a.contributors))
        for a in sorted(found, key=lambda a: a.actual - a.expected, reverse=True)[:15]
    ]  # fmt: skip
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(found),
            "days_judged": len(days),
            "anomalies": dg.MetadataValue.md(
                markdown_table(["day", "dimension", "series", "kinds", "actual", "expected", "top contributors"], table)
            ),
        }
    )
