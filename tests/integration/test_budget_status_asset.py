"""The budget_status asset through Dagster: a valid budgets file gives status rows; an invalid one fails the run
with every problem named, while the definitions still load and nothing is written."""

import logging
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from cost_pipelines.defs.alerts import budget_status_asset, cost_alerts
from cost_pipelines.resources import NotifierResource, WarehouseResource
from tests.budget_facts import create_budget_facts


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        create_budget_facts(con)
        con.execute("INSERT INTO marts.fct_costs VALUES ('2026-10-30', 'openai', NULL, NULL, 'u-1', 'search', NULL, "
                    "60), ('2026-10-31', 'AWS', 'Amazon S3', NULL, NULL, NULL, NULL, 25.5)")  # fmt: skip
    return path


def use_budgets(text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(text)
    monkeypatch.setenv("COST_PIPELINES_BUDGETS", str(budgets))


def materialize(warehouse: Path, instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [budget_status_asset],
        partition_key="2026-10-31",
        resources={"warehouse": WarehouseResource(path=str(warehouse))},
        instance=instance,
        raise_on_error=False,
    )


def test_a_valid_file_gives_one_status_row_per_budget(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("budgets:\n  - {name: total, period: monthly, limit_usd: 100}\n"
                       "  - {name: s3, scope: {service: Amazon S3}, period: daily, limit_usd: 20}\n")  # fmt: skip
    monkeypatch.setenv("COST_PIPELINES_BUDGETS", str(budgets))
    assert materialize(warehouse).success
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute("SELECT budget, spent_usd, percent_used, thresholds_crossed FROM analytics.budget_status "
                           "ORDER BY budget").fetchall()  # fmt: skip
    assert [(b, str(s), p, t) for b, s, p, t in rows] == [
        ("s3", "25.500000000000000000", 127.5, "50,80,95,100"),
        ("total", "85.500000000000000000", 85.5, "50,80"),
    ]


def test_an_invalid_file_fails_the_run_with_every_problem_and_writes_nothing(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("budgets:\n  - {name: total, period: monthly, limit_usd: 100}\n"
                       "  - {name: bad, period: hourly, limit_usd: -1}\n")  # fmt: skip
    monkeypatch.setenv("COST_PIPELINES_BUDGETS", str(budgets))
    from cost_pipelines.definitions import defs  # the code location loads whatever the file holds

    assert defs.resolve_job_def("daily_cost_job") is not None
    result = materialize(warehouse)
    assert not result.success
    message = str(result.get_step_failure_events()[0].event_specific_data.error)
    assert "budget 'bad' (#2), field 'period'" in message and "budget 'bad' (#2), field 'limit_usd'" in message
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'analytics'")
        assert tables.fetchone()[0] == 0


def test_a_missing_budgets_file_fails_the_assets_and_keeps_the_stored_rows(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_budgets("budgets:\n  - {name: total, period: monthly, limit_usd: 100}\n", tmp_path, monkeypatch)
    assert materialize(warehouse).success
    monkeypatch.setenv("COST_PIPELINES_BUDGETS", str(tmp_path / "budgest.yaml"))
    result = materialize(warehouse)
    assert not result.success
    message = str(result.get_step_failure_events()[0].event_specific_data.error)
    assert f"{tmp_path / 'budgest.yaml'} does not exist (set by COST_PIPELINES_BUDGETS)" in message
    with duckdb.connect(str(warehouse), read_only=True) as con:
        stored = con.execute("SELECT as_of, budget, spent_usd FROM analytics.budget_status").fetchall()
    assert [(str(d), b, str(s)) for d, b, s in stored] == [("2026-10-31", "total", "85.500000000000000000")]
    alerts = dg.materialize(
        [cost_alerts], resources={"warehouse": WarehouseResource(path=str(warehouse)), "notifier": NotifierResource()},
        raise_on_error=False,
    )  # fmt: skip
    assert not alerts.success
    assert "does not exist" in str(alerts.get_step_failure_events()[0].event_specific_data.error)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        schemas = con.execute("SELECT schema_name FROM information_schema.schemata").fetchall()
    assert ("alerts",) not in schemas  # nothing of the alert store was written


def test_a_budget_scope_never_seen_in_the_facts_is_a_warning_with_the_closest_values(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_budgets(
        "budgets:\n  - {name: search-team, scope: {team: serach}, period: monthly, limit_usd: 100}\n",
        tmp_path,
        monkeypatch,
    )
    expected = "budget 'search-team': team 'serach' never appears in the cost data (closest: 'search')"
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize(warehouse, instance)
        assert result.success
        logged = [e for e in instance.all_logs(result.run_id) if expected in e.user_message]
    [event] = result.get_asset_materialization_events()
    assert expected in event.materialization.metadata["unknown_scope_values"].value
    assert [e.level for e in logged] == [logging.WARNING]
