"""Daily cost series per dimension, read from the unified cost fact (`marts.fct_costs`)."""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import duckdb
import pandas as pd

from cost_pipelines.analytics.forecast import month_bounds

# dimension -> SQL expression over marts.fct_costs; NULL rows are left out of that dimension
DIMENSIONS: dict[str, str] = {
    "total": "'all'",
    "provider": "provider_name",
    "service": "CASE WHEN x_source = 'llm_logs' THEN NULL ELSE provider_name || ' / ' || service_name END",
    "team": "coalesce(x_team, '(unallocated)')",
}


@dataclass(frozen=True)
class CostSeries:
    dimension: str
    key: str
    daily: pd.Series  # float USD per usage_date (for fitting); exact money stays in `month_to_date`
    month_to_date: Decimal


def load_cost_series(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    history_days: int = 180,
    max_series_per_dimension: int = 50,
    min_recent_cost: Decimal = Decimal("1.00"),
) -> list[CostSeries]:
    """The series worth forecasting as of `as_of`: per dimension, those with at least `min_recent_cost` over the
    last 28 days, the largest first, at most `max_series_per_dimension` of them."""
    month_start = month_bounds(as_of)[0]
    start = as_of - timedelta(days=history_days - 1)
    selects = " UNION ALL ".join(
        f"SELECT '{name}' AS dimension, {expression} AS key, usage_date, billed_cost FROM marts.fct_costs "
        f"WHERE usage_date BETWEEN $start AND $as_of"
        for name, expression in DIMENSIONS.items()
    )
    rows = con.execute(
        f"""
        WITH facts AS ({selects}),
        daily AS (
            SELECT dimension, key, usage_date, sum(billed_cost) AS cost
            FROM facts WHERE key IS NOT NULL GROUP BY ALL
        ),
        ranked AS (
            SELECT dimension, key,
                   sum(cost) FILTER (WHERE usage_date > $as_of - INTERVAL 28 DAY) AS recent,
                   sum(cost) FILTER (WHERE usage_date >= $month_start) AS month_to_date
            FROM daily GROUP BY dimension, key
            QUALIFY recent >= $min_recent
                AND row_number() OVER (PARTITION BY dimension ORDER BY recent DESC, key) <= $max_series
        )
        SELECT d.dimension, d.key, d.usage_date, CAST(d.cost AS DOUBLE) AS cost,
               CAST(coalesce(r.month_to_date, 0) AS VARCHAR) AS month_to_date
        FROM daily d JOIN ranked r USING (dimension, key)
        ORDER BY d.dimension, d.key, d.usage_date
        """,
        {
            "start": start,
            "as_of": as_of,
            "month_start": month_start,
            "min_recent": min_recent_cost,
            "max_series": max_series_per_dimension,
        },
    ).df()
    result = []
    for (dimension, key), group in rows.groupby(["dimension", "key"], sort=False):
        daily = pd.Series(group["cost"].to_numpy(), index=pd.to_datetime(group["usage_date"]))
        result.append(CostSeries(dimension, key, daily, Decimal(group["month_to_date"].iloc[0])))
    return result
