"""What the cost report shows, read from the warehouse as of a day. Tables that do not exist yet (an analytics
asset never materialized) give empty sections rather than errors."""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import duckdb

from cost_pipelines.warehouse import existing_tables, fetch_dicts, scalar

HISTORY_DAYS = 90
TOP_DAYS = 30


@dataclass
class ReportData:
    as_of: date
    daily_by_provider: list[tuple[date, str, Decimal]] = field(default_factory=list)
    daily_by_team: list[tuple[date, str, Decimal]] = field(default_factory=list)
    forecast: list[tuple[date, Decimal, Decimal | None, Decimal | None, Decimal | None, Decimal | None]] = field(
        default_factory=list
    )  # day, point, lower 80, upper 80, lower 95, upper 95 (total spend)
    forecast_method: str | None = None
    anomalies: list[tuple[date, str, str, Decimal, Decimal, str]] = field(default_factory=list)
    budgets: list[dict] = field(default_factory=list)
    month_daily_total: list[tuple[date, Decimal]] = field(default_factory=list)
    top: dict[str, list[tuple[str, Decimal]]] = field(default_factory=dict)  # section -> (label, cost)
    recommendations: list[dict] = field(default_factory=list)
    month_to_date: Decimal = Decimal(0)
    month_end: dict[str, Decimal | None] = field(default_factory=dict)
    day_total: Decimal = Decimal(0)
    day_before_total: Decimal = Decimal(0)


def latest_cost_day(con: duckdb.DuckDBPyConnection) -> date | None:
    """The latest day with costs: what the current report and metrics are as of, whichever day a run restated."""
    if "marts.fct_costs" not in existing_tables(con):
        return None
    return scalar(con, "SELECT max(usage_date) FROM marts.fct_costs")


def load_report_data(con: duckdb.DuckDBPyConnection, as_of: date) -> ReportData:
    tables = existing_tables(con)
    data = ReportData(as_of)
    start, month_start = as_of - timedelta(days=HISTORY_DAYS - 1), as_of.replace(day=1)
    since = as_of - timedelta(days=TOP_DAYS - 1)  # the top-N sections' window
    if "marts.fct_costs" in tables:
        data.daily_by_provider = con.execute(
            "SELECT usage_date, provider_name, sum(billed_cost) FROM marts.fct_costs "
            "WHERE usage_date BETWEEN ? AND ? GROUP BY ALL ORDER BY 1, 2",
            [start, as_of],
        ).fetchall()
        data.daily_by_team = con.execute(
            "SELECT usage_date, coalesce(x_team, '(unallocated)'), sum(billed_cost) FROM marts.fct_costs "
            "WHERE usage_date BETWEEN ? AND ? GROUP BY ALL ORDER BY 1, 2",
            [start, as_of],
        ).fetchall()
        data.month_daily_total = con.execute(
            "SELECT usage_date, sum(billed_cost) FROM marts.fct_costs WHERE usage_date BETWEEN ? AND ? "
            "GROUP BY 1 ORDER BY 1",
            [month_start, as_of],
        ).fetchall()
        data.month_to_date = sum((c for _, c in data.month_daily_total), Decimal(0))
        by_day = dict(data.month_daily_total)
        data.day_total = by_day.get(as_of, Decimal(0))
        data.day_before_total = scalar(
            con,
            "SELECT coalesce(sum(billed_cost), 0) FROM marts.fct_costs WHERE usage_date = ?",
            [as_of - timedelta(1)],
        )
        queries = {
            "Services and LLM providers": "provider_name || ' / ' || service_name",
            "Models": "x_model",
            "Teams": "coalesce(x_team, '(unallocated)')",
            "Users": "x_user_id",
        }
        for section, label in queries.items():
            data.top[section] = con.execute(
                f"SELECT {label} AS label, sum(billed_cost) AS cost FROM marts.fct_costs "
                f"WHERE usage_date BETWEEN ? AND ? AND {label} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
                [since, as_of],
            ).fetchall()
    if "intermediate.int_llm_requests_summed" in tables:
        data.top["Task types"] = con.execute(
            "SELECT coalesce(task_type, '(none)'), coalesce(sum(total_cost_usd), 0) "
            "FROM intermediate.int_llm_requests_summed WHERE usage_date BETWEEN ? AND ? "
            "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
            [since, as_of],
        ).fetchall()
    if "analytics.spend_forecast" in tables:
        made = scalar(
            con, "SELECT max(as_of) FROM analytics.spend_forecast WHERE dimension = 'total' AND as_of <= ?", [as_of]
        )
        if made is not None:
            data.forecast = con.execute(
                "SELECT forecast_date, forecast_usd, lower_80_usd, upper_80_usd, lower_95_usd, upper_95_usd "
                "FROM analytics.spend_forecast WHERE as_of = ? AND dimension = 'total' ORDER BY forecast_date",
                [made],
            ).fetchall()
            data.forecast_method = scalar(
                con,
                "SELECT any_value(method) FROM analytics.spend_forecast WHERE as_of = ? AND dimension = 'total'",
                [made],
            )
    if "analytics.spend_forecast_series" in tables:
        row = fetch_dicts(
            con,
            "SELECT month_end_usd, month_end_lower_80_usd, month_end_upper_80_usd, month_end_p80_usd "
            "FROM analytics.spend_forecast_series WHERE dimension = 'total' AND as_of = ?",
            [as_of],
        )
        data.month_end = row[0] if row else {}
    if "analytics.cost_anomalies" in tables:
        data.anomalies = con.execute(
            "SELECT usage_date, dimension, series_key, actual_usd, expected_usd, kinds FROM analytics.cost_anomalies "
            "WHERE usage_date BETWEEN ? AND ? AND dimension IN ('total', 'provider') ORDER BY 1, 2, 3",
            [start, as_of],
        ).fetchall()
    if "analytics.budget_status" in tables:
        data.budgets = fetch_dicts(
            con,
            "SELECT budget, scope, period, period_start, limit_usd, spent_usd, percent_used, forecast_p80_usd, "
            "days_left FROM analytics.budget_status WHERE as_of = ? ORDER BY percent_used DESC, budget",
            [as_of],
        )
    if "analytics.recommendations" in tables:
        data.recommendations = fetch_dicts(
            con,
            "SELECT rank, kind, title, effort, monthly_savings_usd FROM analytics.recommendations "
            "WHERE as_of = (SELECT max(as_of) FROM analytics.recommendations WHERE as_of <= ?) ORDER BY rank LIMIT 10",
            [as_of],
        )
    return data
