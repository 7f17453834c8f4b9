"""Where each budget stands in its current period, computed from the cost facts every time.

Spend is never a running counter: it is the sum of `marts.fct_costs` over the period, so a period resets by
itself at its UTC boundary and a restated day changes the figure instead of being added twice.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import duckdb
import pyarrow as pa

from cost_pipelines.alerts.budgets import Budget, period_bounds
from cost_pipelines.warehouse import table_exists

# budget scope -> fct_costs column it filters on
SCOPE_COLUMNS = {
    "provider": "provider_name",
    "service": "service_name",
    "model": "x_model",
    "user": "x_user_id",
    "team": "x_team",
    "project": "x_project",
}
# budget scope -> spend_forecast_series dimension holding its month-end p80 (monthly budgets)
FORECAST_DIMENSIONS = {"provider": "provider", "team": "team"}


@dataclass(frozen=True)
class BudgetStatus:
    budget: Budget
    as_of: date
    period_start: date
    period_end: date  # exclusive
    spent: Decimal
    forecast_p80: Decimal | None  # spend at period end, 80th percentile, when a forecast covers the scope

    @property
    def percent_used(self) -> Decimal:
        return self.spent * 100 / self.budget.limit_usd

    @property
    def days_left(self) -> int:
        return (self.period_end - self.as_of).days - 1

    @property
    def thresholds_crossed(self) -> tuple[int, ...]:
        return tuple(t for t in self.budget.thresholds if self.percent_used >= t)

    @property
    def forecast_crossed(self) -> bool:
        threshold = self.budget.forecast_threshold
        return (
            threshold is not None
            and self.forecast_p80 is not None
            and self.forecast_p80 * 100 >= threshold * self.budget.limit_usd
        )


def _scope(budget: Budget) -> tuple[str, str | None]:
    return budget.scope[0] if budget.scope else ("total", None)


def _spend(con: duckdb.DuckDBPyConnection, budgets: list[Budget], as_of: date) -> dict[str, Decimal]:
    table = pa.table({
        "name": [b.name for b in budgets],
        "scope_key": [_scope(b)[0] for b in budgets],
        "scope_value": [_scope(b)[1] for b in budgets],
        "period_start": pa.array([period_bounds(b.period, as_of)[0] for b in budgets], pa.date32()),
    })  # fmt: skip
    branches = ["SELECT b.name, f.billed_cost FROM _budgets b JOIN facts f ON b.scope_key = 'total' "
                "AND f.usage_date >= b.period_start"]  # fmt: skip
    branches += [
        f"SELECT b.name, f.billed_cost FROM _budgets b JOIN facts f ON b.scope_key = '{key}' "
        f"AND f.{column} = b.scope_value AND f.usage_date >= b.period_start"
        for key, column in SCOPE_COLUMNS.items()
    ]
    earliest = min((period_bounds(b.period, as_of)[0] for b in budgets), default=as_of)
    con.register("_budgets", table)
    try:
        rows = con.execute(
            f"""WITH facts AS (SELECT * FROM marts.fct_costs WHERE usage_date BETWEEN $earliest AND $as_of)
                SELECT name, sum(billed_cost) FROM ({" UNION ALL ".join(branches)}) GROUP BY name""",
            {"earliest": earliest, "as_of": as_of},
        ).fetchall()
    finally:
        con.unregister("_budgets")
    return {name: total for name, total in rows}


def _month_end_p80(con: duckdb.DuckDBPyConnection, as_of: date) -> dict[tuple[str, str], Decimal]:
    if not table_exists(con, "analytics", "spend_forecast_series"):
        return {}
    rows = con.execute(
        "SELECT dimension, series_key, month_end_p80_usd FROM analytics.spend_forecast_series "
        "WHERE as_of = ? AND month_end_p80_usd IS NOT NULL",
        [as_of],
    ).fetchall()
    return {(dimension, key): p80 for dimension, key, p80 in rows}


def budget_status(con: duckdb.DuckDBPyConnection, budgets: list[Budget], as_of: date) -> list[BudgetStatus]:
    """Every budget's spend from the start of its period to `as_of` (inclusive), with the p80 month-end forecast
    made as of that day for monthly budgets on the total, a provider or a team."""
    spent = _spend(con, budgets, as_of) if budgets else {}
    p80 = _month_end_p80(con, as_of)
    statuses = []
    for b in budgets:
        start, end = period_bounds(b.period, as_of)
        key, value = _scope(b)
        forecast = None
        if b.period == "monthly":
            forecast = p80.get(("total", "all")) if key == "total" else p80.get((FORECAST_DIMENSIONS.get(key), value))
        statuses.append(BudgetStatus(b, as_of, start, end, spent.get(b.name, Decimal(0)), forecast))
    return statuses


def restated_periods(budgets: list[Budget], days: list[date], later_days: list[date]) -> dict[date, list[Budget]]:
    """For each as-of day after `days`, the budgets whose period on that day holds one of `days`: their spend there
    includes those days, so it changes when they are restated (the rest of the month of a monthly budget, the
    rest of the week of a weekly one; never a daily one)."""
    last = max(days)
    held = {later: [b for b in budgets if period_bounds(b.period, later)[0] <= last] for later in later_days}
    return {later: found for later, found in held.items() if later > last and found}
