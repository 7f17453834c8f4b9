"""Re-running a past day through Dagster: the current report and metrics stay as of the latest day, and the budget
status of every later stored day whose period holds the restated day is evaluated again."""

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cost_pipelines.defs.alerts import budget_status_asset
from cost_pipelines.defs.report import cost_report, prometheus_metrics
from cost_pipelines.resources import WarehouseResource
from tests.budget_facts import create_budget_facts

FIRST, LAST, RESTATED = date(2026, 8, 1), date(2026, 8, 14), date(2026, 8, 5)  # 08-05 is a Wednesday
BUDGETS = """
budgets:
  - {name: month, period: monthly, limit_usd: 1000}
  - {name: research-week, scope: {team: research}, period: weekly, limit_usd: 100}
  - {name: day, period: daily, limit_usd: 50}
"""


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        create_budget_facts(con)
        for i in range((LAST - FIRST).days + 1):
            con.execute("INSERT INTO marts.fct_costs VALUES (?, 'openai', 'LLM API', 'gpt-4o', 'u-1', 'research', "
                        "NULL, 10), (?, 'AWS', 'Amazon EC2', NULL, NULL, NULL, NULL, 5)",
                        [FIRST + timedelta(days=i)] * 2)  # fmt: skip
    (tmp_path / "budgets.yaml").write_text(BUDGETS)
    monkeypatch.setenv("COST_PIPELINES_BUDGETS", str(tmp_path / "budgets.yaml"))
    monkeypatch.setenv("COST_PIPELINES_DATA_DIR", str(tmp_path))
    return tmp_path


def run(data_dir: Path, first: date, last: date) -> None:
    result = dg.materialize(
        [budget_status_asset, cost_report, prometheus_metrics],
        resources={"warehouse": WarehouseResource(path=str(data_dir / "warehouse.duckdb"))},
        tags={"dagster/asset_partition_range_start": first.isoformat(),
              "dagster/asset_partition_range_end": last.isoformat()},
    )  # fmt: skip
    assert result.success


def counters(data_dir: Path) -> dict[tuple, float]:
    text = (data_dir / "metrics" / "cost_pipelines.prom").read_text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        if family.type == "counter"
        for s in family.samples
    }


def statuses(data_dir: Path) -> dict[tuple[date, str], tuple[Decimal, object]]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT as_of, budget, spent_usd, evaluated_at FROM analytics.budget_status").fetchall()
    return {(as_of, budget): (spent, evaluated_at) for as_of, budget, spent, evaluated_at in rows}


def test_restating_a_past_day_never_rewinds_the_report_or_the_metrics(data_dir: Path) -> None:
    run(data_dir, FIRST, LAST)
    before = counters(data_dir)
    assert before[("cost_billed_usd_total", (("provider", "openai"), ("service", "LLM API")))] == 140
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as con:  # the day is restated: $7 more
        con.execute("UPDATE marts.fct_costs SET billed_cost = 17 WHERE usage_date = ? AND provider_name = 'openai'",
                    [RESTATED])  # fmt: skip
    run(data_dir, RESTATED, RESTATED)
    current = (data_dir / "reports" / "cost_report.html").read_text()
    assert f"<title>Cost report {LAST}</title>" in current and "$217.00" in current  # August to date, with the $7
    assert (
        f"<title>Cost report {RESTATED}</title>" in (data_dir / "reports" / f"cost_report_{RESTATED}.html").read_text()
    )
    after = counters(data_dir)
    assert after.keys() == before.keys() and all(after[k] >= before[k] for k in before)
    assert after[("cost_billed_usd_total", (("provider", "openai"), ("service", "LLM API")))] == 147


def test_restating_a_past_day_refreshes_every_later_period_that_holds_it(data_dir: Path) -> None:
    run(data_dir, FIRST, LAST)
    before = statuses(data_dir)
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as con:
        con.execute("UPDATE marts.fct_costs SET billed_cost = 17 WHERE usage_date = ? AND provider_name = 'openai'",
                    [RESTATED])  # fmt: skip
    run(data_dir, RESTATED, RESTATED)
    after = statuses(data_dir)
    assert after.keys() == before.keys()
    changed = {key for key in after if after[key][0] != before[key][0]}
    month = {(FIRST + timedelta(days=i), "month") for i in range(4, 14)}  # as of 08-05 to 08-14
    week = {(date(2026, 8, d), "research-week") for d in range(5, 10)}  # as of 08-05 to Sunday 08-09
    assert changed == month | week | {(RESTATED, "day")}
    assert all(after[key][0] == before[key][0] + 7 for key in changed)
    # The rest is left as it was: not evaluated again (the next week's, the other days' daily budget).
    untouched = set(after) - changed
    assert len(untouched) == 3 * 14 - len(changed) and all(after[key][1] == before[key][1] for key in untouched)
