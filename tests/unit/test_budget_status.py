"""Budget status from the cost facts: period sums that reset at UTC boundaries, scopes, forecasts."""

from datetime import date
from decimal import Decimal

import duckdb
import pytest

from cost_pipelines.alerts.budgets import parse_budgets
from cost_pipelines.alerts.status import budget_status
from tests.budget_facts import create_budget_facts

BUDGETS = parse_budgets("""
budgets:
  - {name: all-monthly, period: monthly, limit_usd: 100, forecast_threshold: 100}
  - {name: all-weekly, period: weekly, limit_usd: 40}
  - {name: anthropic-monthly, scope: {provider: anthropic}, period: monthly, limit_usd: 50, forecast_threshold: 90}
  - {name: u-07-daily, scope: {user: u-07}, period: daily, limit_usd: 2}
  - {name: ec2-yearly, scope: {service: Amazon EC2}, period: yearly, limit_usd: 1000}
  - {name: nobody, scope: {team: nobody}, period: monthly, limit_usd: 10}
""")
FACTS = [  # day, provider, service, user, team, cost
    ("2026-10-31", "anthropic", None, "u-07", "research", "500.00"),  # last month: not in November's budgets
    ("2026-11-01", "anthropic", None, "u-07", "research", "30.00"),  # a Sunday: before the week of Nov 2
    ("2026-11-02", "openai", None, "u-01", "search", "20.00"),
    ("2026-11-03", "anthropic", None, "u-07", "research", "1.25"),
    ("2026-11-03", "AWS", "Amazon EC2", None, None, "38.75"),
    ("2026-11-04", "AWS", "Amazon EC2", None, None, "99.00"),  # after the as-of day
]


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    create_budget_facts(con)
    for day, provider, service, user, team, cost in FACTS:
        con.execute("INSERT INTO marts.fct_costs VALUES (?, ?, ?, NULL, ?, ?, NULL, ?)",
                    [day, provider, service, user, team, cost])  # fmt: skip
    return con


def test_spend_is_summed_over_each_budgets_own_period(con: duckdb.DuckDBPyConnection) -> None:
    status = {s.budget.name: s for s in budget_status(con, BUDGETS, date(2026, 11, 3))}
    assert {name: s.spent for name, s in status.items()} == {
        "all-monthly": Decimal("90.00"),  # November only: October's 500 stays in October
        "all-weekly": Decimal("60.00"),  # from Monday Nov 2
        "anthropic-monthly": Decimal("31.25"),
        "u-07-daily": Decimal("1.25"),
        "ec2-yearly": Decimal("38.75"),
        "nobody": Decimal(0),
    }
    monthly = status["all-monthly"]
    assert (monthly.period_start, monthly.period_end, monthly.days_left) == (date(2026, 11, 1), date(2026, 12, 1), 27)
    assert monthly.percent_used == Decimal(90) and monthly.thresholds_crossed == (50, 80)
    assert status["all-weekly"].thresholds_crossed == (50, 80, 95, 100)
    assert status["all-monthly"].forecast_p80 is None and not status["all-monthly"].forecast_crossed


def test_the_month_end_forecast_p80_is_attached_to_monthly_budgets(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA analytics")
    con.execute("CREATE TABLE analytics.spend_forecast_series (as_of DATE, dimension VARCHAR, series_key VARCHAR, "
                "month_end_p80_usd DECIMAL(18, 6))")  # fmt: skip
    con.execute("INSERT INTO analytics.spend_forecast_series VALUES ('2026-11-03', 'total', 'all', 99.5), "
                "('2026-11-03', 'provider', 'anthropic', 45), ('2026-11-02', 'total', 'all', 500)")  # fmt: skip
    status = {s.budget.name: s for s in budget_status(con, BUDGETS, date(2026, 11, 3))}
    assert status["all-monthly"].forecast_p80 == Decimal("99.5") and not status["all-monthly"].forecast_crossed
    assert status["anthropic-monthly"].forecast_p80 == Decimal(45) and status["anthropic-monthly"].forecast_crossed
    assert status["all-weekly"].forecast_p80 is None  # the month-end forecast says nothing about a week


def test_no_budgets_no_query(con: duckdb.DuckDBPyConnection) -> None:
    assert budget_status(con, [], date(2026, 11, 3)) == []


def test_pre_spend_check_of_a_hard_limit_budget(con: duckdb.DuckDBPyConnection) -> None:
    from cost_pipelines.alerts.prespend import check_spend

    hard = parse_budgets("budgets: [{name: org, period: monthly, limit_usd: 100, hard_limit: true},"
                         " {name: team, scope: {team: search}, period: monthly, limit_usd: 1000}]")  # fmt: skip
    statuses = budget_status(con, hard, date(2026, 11, 3))  # 90 spent on the total this month
    refused = check_spend(statuses, {"team": "research"}, Decimal(15))
    assert not refused.allowed and [v.budget for v in refused.violations] == ["org"]
    assert refused.violations[0].projected_usd == Decimal("105.00")
    allowed = check_spend(statuses, {"team": "research"}, Decimal(5))
    assert allowed.allowed and allowed.violations == []
    assert [(w.budget, w.projected_percent) for w in allowed.warnings] == [("org", Decimal("95.00"))]
    # the search budget applies too but is far from full; the total is at 90 % already
    small = check_spend(statuses, {"team": "search"}, Decimal("0.5"))
    assert small.allowed and [w.budget for w in small.warnings] == ["org"]
    with pytest.raises(ValueError, match="must not be negative"):
        check_spend(statuses, {}, Decimal(-1))


def test_scope_values_never_seen_are_named_with_the_closest_known(con: duckdb.DuckDBPyConnection) -> None:
    from cost_pipelines.alerts.scope_values import budget_scopes, unknown_scope_values

    budgets = parse_budgets("""
budgets:
  - {name: typo, scope: {team: reserach}, period: weekly, limit_usd: 60}
  - {name: ok, scope: {team: research}, period: weekly, limit_usd: 60}
  - {name: cloud, scope: {provider: aws}, period: monthly, limit_usd: 9}
  - {name: nothing-like-it, scope: {user: zz-top}, period: daily, limit_usd: 1}
""")
    unknown = unknown_scope_values(con, [*budget_scopes(budgets), ("--team", "team", "serch")])
    assert [(u.subject, u.dimension, u.value, u.closest) for u in unknown] == [
        ("budget 'typo'", "team", "reserach", ("research", "search")),
        ("budget 'cloud'", "provider", "aws", ("AWS",)),  # case aside
        ("budget 'nothing-like-it'", "user", "zz-top", ()),
        ("--team", "team", "serch", ("search", "research")),
    ]
    assert (
        unknown[0].message
        == "budget 'typo': team 'reserach' never appears in the cost data (closest: 'research', 'search')"
    )
    con.execute("DELETE FROM marts.fct_costs")
    assert unknown_scope_values(con, budget_scopes(budgets)) == []  # no facts yet: nothing to judge by


def test_a_restated_day_is_held_by_the_later_periods_that_start_on_or_before_it() -> None:
    from cost_pipelines.alerts.status import restated_periods

    budgets = parse_budgets("""
budgets:
  - {name: d, period: daily, limit_usd: 1}
  - {name: w, period: weekly, limit_usd: 1}
  - {name: m, period: monthly, limit_usd: 1}
  - {name: q, period: quarterly, limit_usd: 1}
  - {name: y, period: yearly, limit_usd: 1}
""")
    later = [date(2026, 3, 29), date(2026, 3, 30), date(2026, 3, 31), date(2026, 4, 1), date(2027, 1, 1)]
    held = restated_periods(budgets, [date(2026, 3, 27), date(2026, 3, 28)], later)  # a Friday and a Saturday
    assert {day: [b.name for b in found] for day, found in held.items()} == {
        date(2026, 3, 29): ["w", "m", "q", "y"],  # Sunday: the same week
        date(2026, 3, 30): ["m", "q", "y"],  # Monday starts a new week
        date(2026, 3, 31): ["m", "q", "y"],
        date(2026, 4, 1): ["y"],  # a new month and quarter
    }  # 2027 is a new year: nothing there holds a day of 2026
    assert restated_periods(budgets, [date(2026, 3, 28)], [date(2026, 3, 27)]) == {}  # earlier days never
