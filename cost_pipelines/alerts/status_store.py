"""Budget status in the warehouse: one row per budget and as-of day, replaced when the day is evaluated again, and
when a day of its period is restated."""

from datetime import UTC, date, datetime

import duckdb
import pyarrow as pa

from cost_pipelines.alerts.status import BudgetStatus
from cost_pipelines.warehouse import table_exists, transaction

DDL = """
CREATE TABLE IF NOT EXISTS analytics.budget_status (
    as_of DATE NOT NULL, budget VARCHAR NOT NULL, scope VARCHAR NOT NULL, period VARCHAR NOT NULL,
    period_start DATE NOT NULL, period_end DATE NOT NULL, days_left INTEGER NOT NULL,
    limit_usd DECIMAL(18, 2) NOT NULL, spent_usd DECIMAL(38, 18) NOT NULL, percent_used DOUBLE NOT NULL,
    thresholds_crossed VARCHAR NOT NULL, forecast_p80_usd DECIMAL(18, 6), forecast_threshold INTEGER,
    forecast_crossed BOOLEAN NOT NULL, hard_limit BOOLEAN NOT NULL, evaluated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (as_of, budget)
)"""


def stored_as_of_days_after(con: duckdb.DuckDBPyConnection, day: date) -> list[date]:
    """The as-of days after `day` that have budget status rows."""
    if not table_exists(con, "analytics", "budget_status"):
        return []
    rows = con.execute("SELECT DISTINCT as_of FROM analytics.budget_status WHERE as_of > ? ORDER BY 1", [day])
    return [d for (d,) in rows.fetchall()]


def write_status(
    con: duckdb.DuckDBPyConnection,
    as_of_days: list[date],
    statuses: list[BudgetStatus],
    refreshed: list[BudgetStatus] | None = None,
) -> None:
    """In one transaction: every row of `as_of_days` replaced by `statuses`, and the row of each (as-of day, budget)
    of `refreshed` by its new status (later days whose period holds a restated day)."""
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
        for s in [*statuses, *(refreshed or [])]
    ]  # fmt: skip
    con.execute("CREATE SCHEMA IF NOT EXISTS analytics")
    con.execute(DDL)
    with transaction(con):
        con.execute("DELETE FROM analytics.budget_status WHERE as_of IN (SELECT unnest(?))", [as_of_days])
        if not rows:
            return
        con.register("_status_rows", pa.Table.from_pylist(rows))
        try:
            con.execute("DELETE FROM analytics.budget_status t USING _status_rows r "
                        "WHERE t.as_of = r.as_of AND t.budget = r.budget")  # fmt: skip
            columns = ", ".join(rows[0])
            con.execute(f"INSERT INTO analytics.budget_status ({columns}) SELECT {columns} FROM _status_rows")
        finally:
            con.unregister("_status_rows")
