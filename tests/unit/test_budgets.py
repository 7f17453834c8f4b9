"""budgets.yaml: what loads, the errors that name the budget and the field, and the UTC budget periods."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from cost_pipelines import settings
from cost_pipelines.alerts.budgets import (
    BudgetConfigError,
    load_budgets,
    load_config,
    parse_budgets,
    period_bounds,
    severity,
)

VALID = """
budgets:
  - name: llm-monthly
    scope: {provider: anthropic}
    period: monthly
    limit_usd: 2000
    thresholds: [80, 50, 95, 100]
    forecast_threshold: 100
    hard_limit: false
    notify: [slack, email]
  - name: everything
    scope: {}
    period: weekly
    limit_usd: "1234.56"
  - name: u-17-daily
    scope: {user: u-17}
    period: daily
    limit_usd: 5.5
    hard_limit: true
    notify: [webhook]
"""


def test_a_valid_file_loads_with_defaults_and_exact_limits() -> None:
    llm, total, user = parse_budgets(VALID)
    assert (llm.scope, llm.thresholds, llm.forecast_threshold, llm.notify) == (
        (("provider", "anthropic"),),
        (50, 80, 95, 100),
        100,
        ("slack", "email"),
    )
    assert (total.scope_label, total.limit_usd, total.thresholds, total.hard_limit) == (
        "total", Decimal("1234.56"), (50, 80, 95, 100), False
    )  # fmt: skip
    assert (user.limit_usd, user.hard_limit) == (Decimal("5.5"), True)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("period: monthly", "budget 'llm-monthly' (#1), field 'period': 'fortnightly' is not one of"),
        ("limit_usd: 2000", "budget 'llm-monthly' (#1), field 'limit_usd': -3 is not a positive amount"),
        ("thresholds: [80, 50, 95, 100]", "budget 'llm-monthly' (#1), field 'thresholds': [50, 50]"),
        ("scope: {provider: anthropic}", "budget 'llm-monthly' (#1), field 'scope': unknown dimension 'region'"),
        ("notify: [slack, email]", "budget 'llm-monthly' (#1), field 'notify': ['slack', 'pager']"),
        ("hard_limit: false", "budget 'llm-monthly' (#1), field 'hard_limit': 'yes please' is not true or false"),
        ("forecast_threshold: 100", "budget 'llm-monthly' (#1), field 'forecast_threshold': 0.5 is not"),
    ],
)
def test_each_bad_field_is_named_with_its_budget(change: str, expected: str) -> None:
    replacement = {
        "period: monthly": "period: fortnightly",
        "limit_usd: 2000": "limit_usd: -3",
        "thresholds: [80, 50, 95, 100]": "thresholds: [50, 50]",
        "scope: {provider: anthropic}": "scope: {region: eu-west-1}",
        "notify: [slack, email]": "notify: [slack, pager]",
        "hard_limit: false": "hard_limit: yes please",
        "forecast_threshold: 100": "forecast_threshold: 0.5",
    }[change]
    with pytest.raises(BudgetConfigError) as error:
        parse_budgets(VALID.replace(change, replacement, 1))
    assert expected in str(error.value)
    assert len(error.value.problems) == 1  # the other budgets are fine, and nothing is half-applied


def test_every_problem_is_reported_at_once() -> None:
    text = """
budgets:
  - scope: {team: search, user: u-1}
    period: monthly
    limit_usd: abc
  - name: dup
    period: daily
    limit_usd: 1
  - name: dup
    period: daily
    limit_usd: 1
    colour: red
"""
    with pytest.raises(BudgetConfigError) as error:
        parse_budgets(text, "conf/budgets.yaml")
    problems = error.value.problems
    assert str(error.value).startswith("conf/budgets.yaml: 5 problem(s)")
    assert [p.split(":")[0] for p in problems] == [
        "budget #1, field 'name'",
        "budget #1, field 'scope'",
        "budget #1, field 'limit_usd'",
        "budget 'dup' (#3), field 'colour'",
        "budget 'dup' (#3), field 'name'",
    ]


def test_files_that_are_not_budget_lists() -> None:
    assert parse_budgets("") == []
    for text in ("budgets: 3", "- a\n- b", "budgets: [\n"):
        with pytest.raises(BudgetConfigError):
            parse_budgets(text)


@pytest.mark.parametrize(
    ("period", "day", "bounds"),
    [
        ("daily", date(2026, 12, 31), (date(2026, 12, 31), date(2027, 1, 1))),
        ("weekly", date(2026, 11, 23), (date(2026, 11, 23), date(2026, 11, 30))),  # a Monday starts its week
        ("weekly", date(2026, 11, 29), (date(2026, 11, 23), date(2026, 11, 30))),  # Sunday ends it
        ("monthly", date(2026, 2, 28), (date(2026, 2, 1), date(2026, 3, 1))),
        ("monthly", date(2026, 12, 1), (date(2026, 12, 1), date(2027, 1, 1))),
        ("quarterly", date(2026, 11, 23), (date(2026, 10, 1), date(2027, 1, 1))),
        ("quarterly", date(2026, 3, 31), (date(2026, 1, 1), date(2026, 4, 1))),
        ("yearly", date(2026, 7, 4), (date(2026, 1, 1), date(2027, 1, 1))),
    ],
)
def test_budget_periods_in_utc_calendar(period: str, day: date, bounds: tuple[date, date]) -> None:
    assert period_bounds(period, day) == bounds


def test_severity_levels_by_threshold() -> None:
    assert [severity(t) for t in (50, 79, 80, 94, 95, 100, 150)] == [
        "info", "info", "warning", "warning", "critical", "critical", "critical"
    ]  # fmt: skip


def test_a_missing_budgets_file_is_an_error_naming_the_path_and_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "budgets.yml"
    monkeypatch.setenv("COST_PIPELINES_BUDGETS", str(missing))
    with pytest.raises(BudgetConfigError) as error:
        load_config(settings.budgets_path())
    assert f"the budgets file {missing} does not exist (set by COST_PIPELINES_BUDGETS)" in str(error.value)
    # the default path, when the variable is not set
    monkeypatch.delenv("COST_PIPELINES_BUDGETS")
    monkeypatch.setattr(settings, "PROJECT_ROOT", tmp_path)
    with pytest.raises(BudgetConfigError, match="the default: COST_PIPELINES_BUDGETS is not set"):
        load_budgets(settings.budgets_path())


def test_no_budgets_at_all_is_an_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "budgets.yaml"
    empty.write_text("# no budgets yet\n")
    assert load_config(empty).budgets == [] and load_budgets(empty) == []
