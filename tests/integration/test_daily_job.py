"""Materialize three sample days through Dagster into a temporary DuckDB and check the marts to the last decimal."""

import csv
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from cost_pipelines.definitions import defs
from cost_pipelines.defs.checks import checks
from cost_pipelines.money import usd
from cost_pipelines.resources import (
    CostExplorerResource,
    FocusExportsResource,
    LlmLogSourceResource,
    WarehouseResource,
)
from cost_pipelines.sample_data.cost_explorer import day_groups
from cost_pipelines.sample_data.focus import SAMPLE, write_shifted_sample
from cost_pipelines.sample_data.generate import generate
from cost_pipelines.warehouse import connect
from tests.integration.independent_costs import daily_costs

# Includes the documented anomaly day of the sample (2026-10-14).
DAYS = [date(2026, 10, 13), date(2026, 10, 14), date(2026, 10, 15)]
RANGE_TAGS = {
    "dagster/asset_partition_range_start": DAYS[0].isoformat(),
    "dagster/asset_partition_range_end": DAYS[-1].isoformat(),
}


def run_days(tmp: Path, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    resources = {
        "warehouse": WarehouseResource(path=str(tmp / "warehouse.duckdb")),
        "llm_logs": LlmLogSourceResource(root=str(tmp / "logs")),
        "cost_explorer": CostExplorerResource(source="recorded"),
        "focus_exports": FocusExportsResource(root=str(tmp / "focus")),
    }
    job = defs.resolve_job_def("daily_cost_job")
    return job.execute_in_process(instance=instance, tags=RANGE_TAGS, resources=resources, raise_on_error=False)


def mart_totals(tmp: Path) -> dict[date, tuple[int, int, Decimal]]:
    with connect(tmp / "warehouse.duckdb", read_only=True) as con:
        rows = con.execute(
            "SELECT usage_date, request_count, unpriced_request_count, total_cost_usd FROM marts.cost_summary_daily "
            "ORDER BY usage_date"
        ).fetchall()
    return {day: (requests, unpriced, cost) for day, requests, unpriced, cost in rows}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dg.ExecuteInProcessResult], list[dict]]:
    tmp = tmp_path_factory.mktemp("daily")
    generate(tmp / "logs", DAYS[0], DAYS[-1])
    # The FOCUS sample's 2024-09-13..15 moved onto the test days, so all three sources meet in fct_costs.
    write_shifted_sample(tmp / "focus", (DAYS[0] - date(2024, 9, 13)).days)
    results, totals = [], []
    with dg.DagsterInstance.ephemeral() as instance:
        for _ in range(2):
            results.append(run_days(tmp, instance))
            totals.append(mart_totals(tmp))
    return tmp, results, totals


def test_each_partition_of_one_run_shows_its_own_day(runs: tuple) -> None:
    tmp, results, _ = runs
    latest: dict[tuple[str, str], dict] = {}
    for event in results[0].get_asset_materialization_events():  # in order: the last of a partition is what shows
        latest[(event.asset_key.to_user_string(), event.partition)] = event.materialization.metadata
    with connect(tmp / "warehouse.duckdb", read_only=True) as con:
        for asset, money in (("marts/cost_summary_daily", "total_cost_usd"), ("marts/fct_costs", "billed_cost")):
            relation = asset.replace("/", ".")
            days = {day: (rows, total) for day, rows, total in con.execute(
                f"SELECT usage_date, count(*), sum({money}) FROM {relation} GROUP BY 1").fetchall()}  # fmt: skip
            for day in DAYS:
                shown = latest[(asset, day.isoformat())]
                rows, total = days[day]
                assert shown["partition_row_count"].value == rows, (asset, day)
                assert Decimal(shown["partition_total_cost_usd_exact"].value) == total, (asset, day)
                assert shown["partition_total_cost"].value == f"${total.quantize(Decimal('0.01')):,}"
            # the run's own figures are labelled as the window's, never as one partition's
            window = next(
                e.materialization.metadata
                for e in results[0].get_asset_materialization_events()
                if e.asset_key.to_user_string() == asset and "window_row_count" in e.materialization.metadata
            )
            assert (
                window["window"].value.endswith(f"{len(DAYS)} days in one run") and "partition_row_count" not in window
            )
    # the Python assets: each partition shows its own day, the run's event only the labelled window's figures
    with connect(tmp / "warehouse.duckdb", read_only=True) as con:
        kept = dict(con.execute("SELECT usage_date, count(*) FROM raw.llm_requests GROUP BY 1").fetchall())
        billed = dict(con.execute("SELECT usage_date, sum(billed_cost) FROM marts.fct_costs GROUP BY 1").fetchall())
        ce = dict(
            con.execute("SELECT usage_date, sum(unblended_cost) FROM raw.aws_cost_explorer_daily GROUP BY 1").fetchall()
        )
        found = dict(con.execute("SELECT usage_date, count(*) FROM analytics.cost_anomalies GROUP BY 1").fetchall())
        over = dict(con.execute(
            "SELECT as_of, count(*) FILTER (WHERE percent_used >= 100) FROM analytics.budget_status GROUP BY 1"
        ).fetchall())  # fmt: skip
    for day in DAYS:
        partition = day.isoformat()
        assert latest[("raw/llm_requests", partition)]["rows_kept"].value == kept[day]
        report = latest[("analytics/daily_report", partition)]
        assert report["report_date"].value == partition and report["total"].value == usd(billed[day])
        assert Decimal(latest[("raw/aws_cost_explorer_daily", partition)]["unblended_cost_usd_exact"].value) == ce[day]
        assert latest[("analytics/cost_anomalies", partition)]["dagster/row_count"].value == found.get(day, 0)
        status = latest[("alerts/budget_status", partition)]
        assert status["as_of"].value == partition and status["over_limit"].value == over[day]
    for asset in ("raw/llm_requests", "analytics/daily_report", "analytics/cost_anomalies", "alerts/budget_status"):
        run_event = next(
            e.materialization.metadata for e in results[0].get_asset_materialization_events()
            if e.asset_key.to_user_string() == asset
        )  # fmt: skip
        assert run_event["window"].value.endswith(f"{len(DAYS)} days in one run"), asset
        assert not {"rows_kept", "report_date", "as_of", "dagster/row_count"} & set(run_event), asset
    # money and ratios read as a person reads them, beside the exact values
    shown = {
        e.asset_key.to_user_string(): e.materialization.metadata for e in results[0].get_asset_materialization_events()
    }
    ce = shown["raw/aws_cost_explorer_daily"]
    assert ce["unblended_cost"].value == f"${Decimal(ce['unblended_cost_usd_exact'].value).quantize(Decimal('0.01')):,}"
    assert shown["analytics/daily_report"]["change_vs_day_before_percent"].value.endswith("%")


def test_one_run_materializes_every_day_and_passes_its_checks(runs: tuple) -> None:
    _, results, _ = runs
    first = results[0]
    assert first.success
    failed = [e.asset_check_key for e in first.get_asset_check_evaluations() if not e.passed]
    assert failed == []
    # a partitioned check gives each day of the one run its own result, as the UI lists them per partition
    evaluated: dict[str, list[str | None]] = {}
    for event in first.get_asset_check_evaluations():
        evaluated.setdefault(event.asset_check_key.name, []).append(event.partition)
    days = [day.isoformat() for day in DAYS]
    for python_check in checks:
        assert evaluated[python_check.check_key.name] == days, python_check.check_key
    materialized = {e.asset_key.to_user_string() for e in first.get_asset_materialization_events()}
    assert {
        "raw/llm_requests",
        "raw/llm_prices",
        "marts/cost_summary_daily",
        "marts/llm_cost_by_metric",
    } <= materialized


def test_mart_totals_equal_an_independent_decimal_computation(runs: tuple) -> None:
    tmp, _, totals = runs
    expected = daily_costs(tmp / "logs", DAYS)
    assert set(totals[0]) == set(DAYS)
    for day in DAYS:
        requests, unpriced, cost = totals[0][day]
        assert (requests, unpriced) == (expected[day].requests, expected[day].unpriced), day
        # calc_price and the warehouse both compute exactly; a shared bound of 1e-9 per request still holds.
        assert abs(cost - expected[day].priced_cost) <= Decimal("1e-9") * requests, (day, cost, expected[day])


def test_rerunning_the_same_days_gives_identical_totals(runs: tuple) -> None:
    _, results, totals = runs
    assert results[1].success
    assert totals[0] == totals[1]


def test_the_anomaly_day_stands_out(runs: tuple) -> None:
    _, _, totals = runs
    normal = (totals[0][DAYS[0]][2] + totals[0][DAYS[2]][2]) / 2
    assert totals[0][DAYS[1]][2] > normal * Decimal("1.2")


def test_marts_break_costs_down_consistently(runs: tuple) -> None:
    tmp, _, totals = runs
    with connect(tmp / "warehouse.duckdb", read_only=True) as con:
        per_mart = con.execute(
            """SELECT 'provider', sum(total_cost_usd) FROM marts.llm_cost_by_provider
               UNION ALL SELECT 'model', sum(total_cost_usd) FROM marts.llm_cost_by_model
               UNION ALL SELECT 'metric', sum(total_cost_usd) FROM marts.llm_cost_by_metric
               UNION ALL SELECT 'user', sum(total_cost_usd) FROM marts.llm_cost_by_user
               UNION ALL SELECT 'team', sum(total_cost_usd) FROM marts.cost_by_team"""
        ).fetchall()
    grand_total = sum(cost for _, _, cost in totals[0].values())
    assert {name: total for name, total in per_mart} == dict.fromkeys(
        ["provider", "model", "metric", "user", "team"], grand_total
    )
    assert timedelta(days=len(DAYS) - 1) == DAYS[-1] - DAYS[0]


def test_aws_spend_by_service_equals_the_recorded_cost_explorer_answers(runs: tuple) -> None:
    tmp, _, _ = runs
    # The run re-pulls two days before its first partition (Cost Explorer restates recent days).
    days = [DAYS[0] - timedelta(days=2), DAYS[0] - timedelta(days=1), *DAYS]
    expected = {day: sum(Decimal(g["Metrics"]["UnblendedCost"]["Amount"]) for g in day_groups(day)) for day in days}
    with connect(tmp / "warehouse.duckdb", read_only=True) as con:
        actual = dict(
            con.execute(
                "SELECT usage_date, sum(unblended_cost_usd) FROM marts.aws_cost_by_service GROUP BY 1 ORDER BY 1"
            ).fetchall()
        )
        services = con.execute("SELECT count(DISTINCT service_name) FROM marts.aws_cost_by_service").fetchone()[0]
    assert actual == expected
    assert services >= 20


def _focus_billed_on(days: list[str]) -> Decimal:
    with SAMPLE.open(newline="") as f:
        return sum(Decimal(r["BilledCost"]) for r in csv.DictReader(f) if r["ChargePeriodStart"][:10] in days)


def test_fct_costs_is_cost_explorer_plus_priced_llm_plus_focus_exactly(runs: tuple) -> None:
    tmp, results, totals = runs
    days = [DAYS[0] - timedelta(days=2), DAYS[0] - timedelta(days=1), *DAYS]
    cloud = sum(Decimal(g["Metrics"]["UnblendedCost"]["Amount"]) for day in days for g in day_groups(day))
    llm = sum(cost for _, _, cost in totals[0].values())
    focus = _focus_billed_on(["2024-09-13", "2024-09-14", "2024-09-15"])
    assert focus > 0
    with connect(tmp / "warehouse.duckdb", read_only=True) as con:
        fact_total, fact_days = con.execute(
            "SELECT sum(billed_cost), count(DISTINCT usage_date) FROM marts.fct_costs"
        ).fetchone()
        by_provider = con.execute("SELECT sum(billed_cost) FROM marts.cost_by_provider").fetchone()[0]
        categories = dict(
            con.execute(
                "SELECT service_category, sum(billed_cost) FROM marts.fct_costs WHERE x_source = 'llm_logs' GROUP BY 1"
            ).fetchall()
        )
    assert fact_total == cloud + llm + focus == by_provider
    # the reconciliation check shows each day's own figures
    with connect(tmp / "warehouse.duckdb", read_only=True) as con:
        llm_by_day = dict(con.execute(
            "SELECT usage_date, sum(billed_cost) FROM marts.fct_costs WHERE x_source = 'llm_logs' GROUP BY 1"
        ).fetchall())  # fmt: skip
    shown = {
        e.partition: Decimal(e.metadata["fact_llm_billed_usd"].value)
        for e in results[0].get_asset_check_evaluations()
        if e.asset_check_key.name == "fct_costs_reconcile"
    }
    assert shown == {day.isoformat(): llm_by_day[day] for day in DAYS}
    assert fact_days == len(days)
    assert categories == {"AI and Machine Learning": llm}


def test_allocation_shows_the_unallocated_share(runs: tuple) -> None:
    tmp, _, _ = runs
    with connect(tmp / "warehouse.duckdb", read_only=True) as con:
        rows = con.execute(
            "SELECT tag_value, sum(billed_cost), sum(share_of_day) FROM marts.cost_allocation "
            "WHERE tag_key = 'team' AND usage_date = ? GROUP BY 1",
            [DAYS[1]],
        ).fetchall()
        day_total = con.execute("SELECT sum(billed_cost) FROM marts.fct_costs WHERE usage_date = ?", [DAYS[1]])
        total = day_total.fetchone()[0]
    by_team = {team: cost for team, cost, _ in rows}
    # AWS spend carries no team tag: it is the unallocated part, shown, not dropped.
    assert by_team["(unallocated)"] > 0 and sum(by_team.values()) == total
    assert abs(sum(share for *_, share in rows) - 1) < 1e-9


def test_three_days_of_history_get_a_labelled_forecast_without_intervals(runs: tuple) -> None:
    tmp, results, _ = runs
    forecast_events = [
        e
        for e in results[1].get_asset_materialization_events()
        if e.asset_key.to_user_string() == "analytics/spend_forecast"
    ]
    assert len(forecast_events) == len(DAYS)  # one event per partition; the forecast itself is made once
    with connect(tmp / "warehouse.duckdb", read_only=True) as con:
        series = con.execute(
            "SELECT as_of, dimension, method, history_days, month_end_usd, month_to_date_usd, note "
            "FROM analytics.spend_forecast_series"
        ).fetchall()
        daily = con.execute(
            "SELECT count(*), count(lower_80_usd), min(forecast_date), max(forecast_date), count(DISTINCT as_of) "
            "FROM analytics.spend_forecast"
        ).fetchone()
        month_to_date = con.execute(
            "SELECT sum(billed_cost) FROM marts.fct_costs WHERE usage_date BETWEEN '2026-10-01' AND ?", [DAYS[-1]]
        ).fetchone()[0]
    assert {row[0] for row in series} == {DAYS[-1]}
    assert {row[2] for row in series} == {"short_history"}
    assert all(row[3] <= len(DAYS) + 2 for row in series)  # Cost Explorer also re-pulls the 2 days before
    total = next(row for row in series if row[1] == "total")
    assert total[5] == month_to_date  # exact, from the facts
    assert total[4] > month_to_date
    count, with_interval, first, last, as_of_days = daily
    assert (with_interval, as_of_days) == (0, 1)
    assert (first, last) == (DAYS[-1] + timedelta(days=1), date(2026, 11, 30))
    assert count == len(series) * (last - first).days + len(series)


def test_summary_reports_the_forecast_of_the_last_day(runs: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    from cost_pipelines.cli import summary

    tmp, _, _ = runs
    monkeypatch.setenv("COST_PIPELINES_DUCKDB_PATH", str(tmp / "warehouse.duckdb"))
    text = summary(DAYS[0], DAYS[-1])
    assert f"forecast as of {DAYS[-1]} (short_history)" in text
    assert "October to date $" in text and "projected month end $" in text
    assert "80% interval" not in text  # a fallback has no interval, and the summary does not invent one


def test_summary_leaves_out_analytics_that_were_never_materialized(
    runs: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from cost_pipelines.cli import summary

    tmp, _, _ = runs
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(tmp / "warehouse.duckdb", copy)
    with connect(copy) as con:
        con.execute("DROP SCHEMA analytics CASCADE")
    monkeypatch.setenv("COST_PIPELINES_DUCKDB_PATH", str(copy))
    text = summary(DAYS[0], DAYS[-1])
    assert "LLM requests" in text and "forecast as of" not in text and "top recommendations" not in text
