"""Analytics assets over the unified cost fact."""

import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import dagster as dg
import pandas as pd
import pyarrow as pa
from dagster_dbt import get_asset_key_for_model
from pydantic import Field

from cost_pipelines.analytics.anomalies import Anomaly, AnomalyThresholds, detect, explain, series_from_detail
from cost_pipelines.analytics.daily_report import DailyReport, load_report, render_markdown, write_reports
from cost_pipelines.analytics.forecast import ForecastSettings, SeriesForecast, forecast_many
from cost_pipelines.analytics.forecast_store import write_forecasts
from cost_pipelines.analytics.recommendation_inputs import recommend
from cost_pipelines.analytics.recommendation_store import write_recommendations
from cost_pipelines.analytics.recommendations import (
    DEFAULT_BATCH_DISCOUNTS,
    DEFAULT_MODEL_ALTERNATIVES,
    RecommendationSettings,
)
from cost_pipelines.analytics.series import load_cost_series
from cost_pipelines.defs.dbt import cost_dbt_models
from cost_pipelines.defs.metadata import markdown_table, results_by_day, window_label
from cost_pipelines.defs.owners import OWNERS_ANALYTICS
from cost_pipelines.defs.partitions import daily_partitions, last_day, partition_days, single_run
from cost_pipelines.money import usd
from cost_pipelines.report.svg import forecast_markdown
from cost_pipelines.resources import WarehouseResource
from cost_pipelines.warehouse import transaction

COST_ANOMALIES = dg.AssetKey(["analytics", "cost_anomalies"])
SPEND_FORECAST = dg.AssetKey(["analytics", "spend_forecast"])
RECOMMENDATIONS = dg.AssetKey(["analytics", "recommendations"])
DAILY_REPORT = dg.AssetKey(["analytics", "daily_report"])
LLM_SPEND_HOURLY = dg.AssetKey(["analytics", "llm_spend_hourly"])  # defs/intraday.py
FCT_COSTS = get_asset_key_for_model([cost_dbt_models], "fct_costs")
PRICED_REQUESTS = get_asset_key_for_model([cost_dbt_models], "int_llm_requests_priced")
SUMMED_REQUESTS = get_asset_key_for_model([cost_dbt_models], "int_llm_requests_summed")
LLM_PRICES = get_asset_key_for_model([cost_dbt_models], "stg_llm__prices")
_DETAIL_SQL = """
    SELECT usage_date, CAST(billed_cost AS DOUBLE) AS cost, provider_name AS provider, x_team AS team,
           x_user_id AS user_id, x_model AS model,
           CASE WHEN x_source = 'llm_logs' THEN NULL ELSE service_name END AS service
    FROM marts.fct_costs WHERE usage_date >= ? AND usage_date < ?"""


def analytics_asset(key: dg.AssetKey, deps: list[dg.AssetKey], kinds: set[str], description: str):
    """A daily-partitioned asset of the analytics group; a range of days runs once (single-run backfill)."""
    return dg.asset(
        key=key,
        deps=deps,
        partitions_def=daily_partitions,
        backfill_policy=single_run,
        group_name="analytics",
        owners=OWNERS_ANALYTICS,
        kinds=kinds,
        tags={"domain": "analytics"},
        description=description,
    )


class AnomalyConfig(dg.Config):
    robust_z: float = 4.0
    min_relative_change: float = 0.25
    spike_ratio: float = 3.0
    day_over_day: float = 0.5
    week_over_week: float = 1.0
    window_days: int = 28
    level_shift_days: int = 3


@analytics_asset(
    COST_ANOMALIES,
    [FCT_COSTS],
    {"python", "duckdb"},
    (
        "Unusual days per series (total, provider, team, service, model), rises and drops: a weekday-seasonal "
        "robust score over each series' own history, one alarm per episode, level shifts taken as the new normal, "
        "monthly charges recognised; each with expected vs actual and the contributors that moved."
    ),
)
def cost_anomalies(
    context: dg.AssetExecutionContext, config: AnomalyConfig, warehouse: WarehouseResource
) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
    days = partition_days(context)
    start, end = days[0], days[-1] + timedelta(days=1)
    thresholds = AnomalyThresholds(**config.model_dump())
    with warehouse.connect(read_only=True) as con:
        # twice the window warms each series' baseline up; and it holds the month before (monthly charges)
        history = max(2 * thresholds.window_days, 35)
        detail = con.execute(_DETAIL_SQL, [start - timedelta(days=history), end]).df()
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
    yield from results_by_day(
        days,
        {day: _anomaly_metadata([a for a in found if a.day == day]) for day in days},
        {"days_judged": len(days)} | ({"anomalies_in_window": len(found)} if len(days) > 1 else {}),
        COST_ANOMALIES,
    )


def _anomaly_metadata(found: list[Anomaly]) -> dict[str, object]:
    table = [
        (a.day, a.dimension, a.key, ",".join(a.kinds), a.actual, a.expected,
         "; ".join(f"{d}={v} ({c:+,.2f})" for d, v, c in a.contributors))
        for a in sorted(found, key=lambda a: a.actual - a.expected, reverse=True)[:15]
    ]  # fmt: skip
    columns = ["day", "dimension", "series", "kinds", "actual", "expected", "top contributors"]
    return {"dagster/row_count": len(found), "anomalies": dg.MetadataValue.md(markdown_table(columns, table))}


def _made_once(context: dg.AssetExecutionContext) -> dict[str, str]:
    """A run of many days makes this once, as of its last day; every partition of the run shows that one result."""
    days = partition_days(context)
    return {"window": f"{window_label(days)}, made once as of the last day"} if len(days) > 1 else {}


class ForecastConfig(dg.Config):
    backtest_weeks: int = 4
    min_history_days: int = 14
    history_days: int = 180
    max_series_per_dimension: int = 50
    min_recent_cost_usd: float = 1.0
    outlier_z: float = 5.0
    workers: int = 2
    horizon_days: int | None = None  # forecast exactly this many days; default: to 30 days past the month end


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _forecast_rows(forecasts: list[SeriesForecast]) -> list[tuple]:
    rows = []
    for f in forecasts:
        chosen, naive, end = f.chosen_backtest, f.benchmark, f.month_end or {}
        ratio = chosen.mape / naive.mape if chosen and naive and chosen.mape is not None and naive.mape else None
        rows.append((
            f"{f.dimension}={f.key}", f.method, f.history_days, _pct(chosen.mape if chosen else None),
            _pct(naive.mape if naive else None), "" if ratio is None else f"{ratio:.2f}",
            _pct(chosen.coverage_80 if chosen else None), f"{f.month_to_date:,.2f}",
            f"{end['mean']:,.2f}" if "mean" in end else "",
            f"{end['lower_80']:,.2f} to {end['upper_80']:,.2f}" if "upper_80" in end else "no interval",
        ))  # fmt: skip
    return rows


@analytics_asset(
    SPEND_FORECAST,
    [FCT_COSTS],
    {"python", "duckdb", "statsmodels"},
    (
        "Daily spend forecast per series (total, provider, AWS service, team) from the last day of the run to 30 "
        "days past its month end, with 80 % and 95 % intervals and the month-end projection; the model is chosen "
        "per series by a rolling-origin backtest against naive and seasonal-naive, its intervals calibrated on the "
        "backtest's errors. Rows in analytics.spend_forecast, one summary per series in "
        "analytics.spend_forecast_series."
    ),
)
def spend_forecast(
    context: dg.AssetExecutionContext, config: ForecastConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    # A backfill of many days forecasts once, from its last day: earlier as-of days would be forecasts of the past.
    as_of = last_day(context)
    settings = ForecastSettings(
        backtest_weeks=config.backtest_weeks,
        min_history_days=config.min_history_days,
        outlier_z=config.outlier_z,
        horizon_days=config.horizon_days,
    )
    with warehouse.connect(read_only=True) as con:
        series = load_cost_series(
            con, as_of, config.history_days, config.max_series_per_dimension,
            Decimal(str(config.min_recent_cost_usd)),
        )  # fmt: skip
    jobs = [(s.dimension, s.key, s.daily, as_of, s.month_to_date) for s in series]
    forecasts = forecast_many(jobs, settings, workers=config.workers)
    with warehouse.connect() as con:
        write_forecasts(con, [as_of], forecasts)
    total = next((f for f in forecasts if f.dimension == "total"), None)
    methods = pd.Series([f.method for f in forecasts], dtype="object").value_counts().to_dict()
    metadata: dict[str, object] = {
        **_made_once(context),
        "as_of": as_of.isoformat(),
        "series": len(forecasts),
        "methods": dg.MetadataValue.json(methods),
        "fallbacks": sum(1 for f in forecasts if f.intervals is None),
        "forecasts": dg.MetadataValue.md(
            markdown_table(
                [
                    "series",
                    "method",
                    "days",
                    "MAPE",
                    "seasonal-naive MAPE",
                    "ratio",
                    "80% coverage before calibration",
                    "month to date",
                    "month end",
                    "month end 80%",
                ],
                _forecast_rows(forecasts),
            )
        ),
    }
    total_series = next((s for s in series if s.dimension == "total"), None)
    if total is not None and total_series is not None:
        metadata["total_spend_and_forecast"] = dg.MetadataValue.md(forecast_markdown(total_series, total))
    if total is not None and total.month_end:
        metadata["total_month_end_usd"] = dg.MetadataValue.float(round(total.month_end["mean"], 2))
        metadata["total_month_end"] = usd(Decimal(str(round(total.month_end["mean"], 2))))
        if total.chosen_backtest and total.benchmark and total.chosen_backtest.mape and total.benchmark.mape:
            metadata["total_backtest_mape"] = dg.MetadataValue.float(round(total.chosen_backtest.mape, 4))
            metadata["total_seasonal_naive_mape"] = dg.MetadataValue.float(round(total.benchmark.mape, 4))
            metadata["backtest_error"] = (f"{total.chosen_backtest.mape:.1%} MAPE, against {total.benchmark.mape:.1%} "
                                          "for the seasonal-naive forecast")  # fmt: skip
    return dg.MaterializeResult(metadata=metadata)


class RecommendationConfig(dg.Config):
    lookback_days: int = 28
    min_monthly_savings_usd: float = 1.0
    model_alternatives: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_MODEL_ALTERNATIVES.items()},
        description="genai-prices model id -> cheaper model ids of the same provider to compare with",
    )
    simple_output_tokens: int = 64
    cacheable_share: float = Field(0.5, description="share of a long prompt's uncached input that repeats")
    cache_write_share: float = Field(0.1, description="share of the cacheable tokens written rather than read")
    min_cacheable_input_tokens: int = 1024
    max_cache_read_share: float = 0.10
    batch_task_types: list[str] = Field(
        default_factory=lambda: ["summarization", "extraction"], description="task types that are not interactive"
    )
    batch_discounts: dict[str, float] = Field(
        default_factory=lambda: {k: float(v) for k, v in DEFAULT_BATCH_DISCOUNTS.items()}
    )
    cold_storage_share: float = 0.3
    min_storage_growth: float = 0.05
    new_spend_days: int = 7

    def settings(self) -> RecommendationSettings:
        def exact(value: float) -> Decimal:
            return Decimal(str(value))

        return RecommendationSettings(
            lookback_days=self.lookback_days,
            min_monthly_savings=exact(self.min_monthly_savings_usd),
            model_alternatives={k: tuple(v) for k, v in self.model_alternatives.items()},
            simple_output_tokens=self.simple_output_tokens,
            cacheable_share=exact(self.cacheable_share),
            cache_write_share=exact(self.cache_write_share),
            min_cacheable_input_tokens=self.min_cacheable_input_tokens,
            max_cache_read_share=exact(self.max_cache_read_share),
            batch_task_types=tuple(self.batch_task_types),
            batch_discounts={k: exact(v) for k, v in self.batch_discounts.items()},
            cold_storage_share=exact(self.cold_storage_share),
            min_storage_growth=exact(self.min_storage_growth),
            new_spend_days=self.new_spend_days,
        )


@analytics_asset(
    RECOMMENDATIONS,
    [FCT_COSTS, PRICED_REQUESTS, LLM_PRICES],
    {"python", "duckdb"},
    (
        "What to change to pay less, ranked by monthly savings in USD computed exactly from the last 28 days: "
        "a cheaper model per task type (repriced at the alternative's point-in-time genai-prices), prompt "
        "caching, batch APIs for non-interactive tasks, Savings Plans / reservations for steady AWS spend, "
        "storage tiering for growing storage, new spend to confirm. Each with its evidence and effort; rows in "
        "analytics.recommendations."
    ),
)
def recommendations(
    context: dg.AssetExecutionContext, config: RecommendationConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    as_of = last_day(context)
    with warehouse.connect(read_only=True) as con:
        window, found = recommend(con, as_of, config.settings())
    with warehouse.connect() as con:
        write_recommendations(con, as_of, window, found)
    total = sum((r.monthly_savings_usd for r in found), Decimal(0))
    by_kind = pd.Series([r.kind for r in found], dtype="object").value_counts().to_dict()
    table = [
        (rank, r.kind, r.title, r.effort, f"${r.monthly_savings_usd:,.2f}")
        for rank, r in enumerate(found[:15], start=1)
    ]
    return dg.MaterializeResult(
        metadata={
            **_made_once(context),
            "as_of": as_of.isoformat(),
            "lookback": f"{window.start} .. {window.end} ({window.days} days)",
            "dagster/row_count": len(found),
            "by_kind": dg.MetadataValue.json(by_kind),
            # overlapping recommendations (model switch and batch on the same requests) are not additive
            "top_monthly_savings_usd": dg.MetadataValue.float(float(found[0].monthly_savings_usd) if found else 0.0),
            "top_monthly_savings": usd(found[0].monthly_savings_usd) if found else usd(Decimal(0)),
            "listed_monthly_savings_usd": str(total),
            "recommendations": dg.MetadataValue.md(
                markdown_table(["rank", "kind", "recommendation", "effort", "monthly savings"], table)
            ),
        }
    )


@analytics_asset(
    DAILY_REPORT,
    [FCT_COSTS, SUMMED_REQUESTS, COST_ANOMALIES, SPEND_FORECAST, RECOMMENDATIONS],
    {"python", "duckdb"},
    (
        "The daily cost report of each day: total vs the day before and the same weekday a week before, spend by "
        "provider and task type, top movers, anomalies, the month-end projection and the top recommendations. "
        "Markdown in the materialization, one row per day in analytics.daily_report."
    ),
)
def daily_report(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
    days = partition_days(context)
    with warehouse.connect(read_only=True) as con:
        reports = [load_report(con, day) for day in days]
    with warehouse.connect() as con:
        write_reports(con, reports)
    yield from results_by_day(
        days, {r.day: _report_metadata(r) for r in reports}, {"reports_written": len(reports)}, DAILY_REPORT
    )


def _report_metadata(report: DailyReport) -> dict[str, object]:
    metadata: dict[str, object] = {
        "report_date": report.day.isoformat(),
        "total_usd": dg.MetadataValue.float(float(report.total)),
        "total": usd(report.total),
        "anomalies": len(report.anomalies),
        "report": dg.MetadataValue.md(render_markdown(report)),
    }
    change = report.change(report.total, report.day_before)
    if change is not None:
        metadata["change_vs_day_before"] = dg.MetadataValue.float(round(float(change), 4))
        metadata["change_vs_day_before_percent"] = f"{float(change):+.1%}"
    return metadata
