"""Budget status in the warehouse: one row per budget and as-of day, replaced when the day is evaluated again."""

from datetime import UTC, date, datetime

import duckdb
import pyarrow as pa

from cost_pipelines.alerts.status import BudgetStatus
from cost_pipelines.analytics.store import replace_rows

DDL = """
CREATE TABLE IF NOT EXISTS analytics.budget_status (
    as_of DATE NOT NULL, budget VARCHAR NOT NULL, scope VARCHAR NOT NULL, period VARCHAR NOT NULL,
    period_start DATE NOT NULL, period_end DATE NOT NULL, days_left INTEGER NOT NULL,
    limit_usd DECIMAL(18, 2) NOT NULL, spent_usd DECIMAL(38, 18) NOT NULL, percent_used DOUBLE NOT NULL,
    thresholds_crossed VARCHAR NOT NULL, forecast_p80_usd DECIMAL(18, 6), forecast_threshold INTEGER,
    forecast_crossed BOOLEAN NOT NULL, hard_limit BOOLEAN NOT NULL, evaluated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (as_of, budget)
)"""


def write_status(con: duckdb.DuckDBPyConnection, as_of_days: list[date], statuses: list[BudgetStatus]) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "as_of": s.as_of, "budget": s.budget.name, "scope": s.budget.scope_label, "period": s.budget.period,
            "period_start": s.period_start, "period_end": s.period_end, "days_left": s.days_left,
            "limit_usd": str(s.budget.limit_usd), "spent_usd": str(s.spent), "percent_used": float(s.percent_used),
            "thresholds_crossed": ",".join(map(str, s.thresholds_crossed)),
            "forecast_p80_usd": None if s.forecast_p80 is None else str(s.forecast_p80),
            "forecast_threshold": s.budget.forecast_threshold, "forecast_crossed": s.forecast_crossed,
            "hard_limit": s.budget.hard_limit, "evaluated_at": now,
        }
        for s in statuses
    ]  # fmt: skip
    table = pa.Table.from_pylist(rows) if rows else None
    replace_rows(con, {"budget_status": DDL}, "as_of", as_of_days, {"budget_status": table})
