"""Re-pricing history through Dagster: a price change (a genai-prices release, an edited override) reaches only the
day a daily run rebuilds; the history_priced_with_current_prices check names the stored days it has not reached,
and `cost-pipelines reprice` re-prices exactly those days, after which the marts equal a clean run's."""

from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from cost_pipelines.cli import main
from cost_pipelines.definitions import defs
from cost_pipelines.defs.jobs import daily_cost_job
from cost_pipelines.resources import (
    CostExplorerResource,
    FocusExportsResource,
    LlmLogSourceResource,
    WarehouseResource,
)
from cost_pipelines.sample_data.focus import write_shifted_sample
from cost_pipelines.sample_data.generate import generate

DAYS = [date(2026, 10, 13), date(2026, 10, 14), date(2026, 10, 15), date(2026, 10, 16)]
CHECK = dg.AssetCheckKey(dg.AssetKey(["marts", "llm_prices_summed_with"]), "history_priced_with_current_prices")
# Tables that hold the priced history; the analytics recompute from them.
PRICED_TABLES = [
    "intermediate.int_llm_requests_summed", "marts.cost_summary_daily", "marts.llm_cost_by_provider",
    "marts.llm_cost_by_model", "marts.llm_cost_by_metric", "marts.llm_cost_by_user", "marts.cost_by_team",
    "marts.fct_costs", "marts.cost_by_provider", "marts.cost_allocation", "marts.llm_prices_summed_with",
]  # fmt: skip
PRICES = dg.AssetKey(["raw", "llm_prices"])


def upgrade_prices(warehouse: Path) -> None:
    """What a genai-prices release with a gpt-4o-mini price cut from 10-14 on writes into raw.llm_prices."""
    with duckdb.connect(str(warehouse)) as con:
        current = (
            "provider_id = 'openai' AND model_id = 'gpt-4o-mini' AND service_tier = 'standard' "
            "AND effective_until IS NULL"
        )
        con.execute(f"""INSERT INTO raw.llm_prices SELECT * REPLACE (DATE '2026-10-14' AS effective_from,
                        input_usd_per_mtok / 2 AS input_usd_per_mtok, input_usd_per_token / 2 AS input_usd_per_token)
                        FROM raw.llm_prices WHERE {current}""")
        con.execute(f"UPDATE raw.llm_prices SET effective_until = DATE '2026-10-14' WHERE {current} "
                    "AND effective_from < DATE '2026-10-14'")  # fmt: skip


def run_daily(tmp: Path, warehouse: Path, first: date, last: date, prices: str = "refresh"):
    """daily_cost_job over [first, last]. prices: "refresh" (the whole job), "keep" (all but raw/llm_prices, so the
    price table stays as the test left it) or "only" (raw/llm_prices alone)."""
    resources = {
        "warehouse": WarehouseResource(path=str(warehouse)),
        "llm_logs": LlmLogSourceResource(root=str(tmp / "logs")),
        "cost_explorer": CostExplorerResource(source="recorded"),
        "focus_exports": FocusExportsResource(root=str(tmp / "focus")),
    }
    selection = {
        "refresh": daily_cost_job.selection,
        "keep": daily_cost_job.selection - dg.AssetSelection.assets(PRICES),
        "only": dg.AssetSelection.assets(PRICES),
    }[prices]
    job = dg.Definitions(
        assets=defs.assets, asset_checks=defs.asset_checks, jobs=[dg.define_asset_job("daily", selection=selection)],
        resources={**defs.resources, **resources}, executor=dg.in_process_executor,
    ).resolve_job_def("daily")  # fmt: skip
    tags = {"dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat()}  # fmt: skip
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
    assert result.success
    return next((e for e in result.get_asset_check_evaluations() if e.asset_check_key == CHECK), None)


def priced_history(warehouse: Path) -> dict[str, list[tuple]]:
    """Every row of the priced tables; the dollars exact. cost_allocation's share_of_day is a float ratio whose last
    digit depends on the order DuckDB sums a day in: it is compared apart, to 1e-12."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = {
            table: con.execute(f"SELECT * EXCLUDE (share_of_day) FROM {table} ORDER BY ALL").fetchall()
            if table == "marts.cost_allocation" else con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
            for table in PRICED_TABLES
        }  # fmt: skip
        rows["share_of_day"] = con.execute(
            "SELECT usage_date, tag_key, tag_value, share_of_day FROM marts.cost_allocation ORDER BY ALL"
        ).fetchall()
    return rows


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("reprice")
    generate(tmp / "logs", DAYS[0], DAYS[-1])
    write_shifted_sample(tmp / "focus", (DAYS[0] - date(2024, 9, 13)).days)
    return tmp


def test_a_price_change_is_found_in_history_and_repriced_to_equal_a_clean_run(
    sources: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    assert run_daily(sources, warehouse, DAYS[0], DAYS[-1]).passed
    upgrade_prices(warehouse)
    # The next daily run (10-16 again) prices its own day with the new rows, and only that day.
    evaluation = run_daily(sources, warehouse, DAYS[-1], DAYS[-1], prices="keep")
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["days_to_reprice"].value == ["2026-10-14", "2026-10-15"]
    assert "openai/gpt-4o-mini-2024-07-18" in evaluation.metadata["models"].value

    monkeypatch.setenv("COST_PIPELINES_DUCKDB_PATH", str(warehouse))
    monkeypatch.setenv("COST_PIPELINES_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    main(["reprice", "--dry-run"])
    listed = capsys.readouterr().out
    assert "2 day(s) priced with other prices" in listed
    assert "  2026-10-14..2026-10-15: openai/gpt-4o-mini-2024-07-18\n" in listed
    main(["reprice"])
    assert "re-priced 2 day(s)" in capsys.readouterr().out

    with dg.DagsterInstance.get() as instance:
        [run] = instance.get_runs(dg.RunsFilter(job_name="reprice_job"))
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert (run.tags["dagster/asset_partition_range_start"], run.tags["dagster/asset_partition_range_end"]) == (
            "2026-10-14", "2026-10-15"
        )  # fmt: skip
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key([CHECK])[CHECK]
        assert record.run_id == run.run_id and record.event.asset_check_evaluation.passed

    # A clean run: the new prices in place before any day is summed.
    clean = tmp_path / "clean" / "warehouse.duckdb"
    run_daily(sources, clean, DAYS[0], DAYS[-1], prices="only")
    upgrade_prices(clean)
    assert run_daily(sources, clean, DAYS[0], DAYS[-1], prices="keep").passed
    repriced, expected = priced_history(warehouse), priced_history(clean)
    for table in PRICED_TABLES:
        assert repriced[table] == expected[table], table
    assert [row[:3] for row in repriced["share_of_day"]] == [row[:3] for row in expected["share_of_day"]]
    assert [row[3] for row in repriced["share_of_day"]] == pytest.approx([row[3] for row in expected["share_of_day"]],
                                                                          rel=1e-12, nan_ok=True)  # fmt: skip
    main(["reprice"])
    assert "every stored day is priced with the current" in capsys.readouterr().out

    # An edited override reaches the same check: a negotiated Gemini Flash rate from 10-15 on.
    from cost_pipelines.pricing.history import days_to_reprice

    with duckdb.connect(str(warehouse)) as con:
        con.execute("INSERT INTO seeds.llm_price_overrides VALUES ('google', 'gemini-2.5-flash', '2026-10-15', NULL, "
                    "0.1, 0.3, NULL, NULL, 'negotiated'), ('google', 'gemini-2.5-flash', '2026-01-01', '2026-10-13', "
                    "0.1, 0.3, NULL, NULL, 'ended before the stored days')")  # fmt: skip
        con.execute("UPDATE raw.llm_prices SET source_version = '0.0.1'")  # exported by an older genai-prices
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert days_to_reprice(con) == {DAYS[2]: ["google/gemini-2.5-flash"], DAYS[3]: ["google/gemini-2.5-flash"]}
    main(["reprice", "--dry-run"])  # and says which price tables lag behind what is installed and on disk
    listed = capsys.readouterr().out
    assert "  2026-10-15..2026-10-16: google/gemini-2.5-flash\n" in listed
    assert "note: raw.llm_prices holds genai-prices 0.0.1;" in listed
    assert "llm_price_overrides.csv differs from the overrides loaded in the warehouse" in listed
