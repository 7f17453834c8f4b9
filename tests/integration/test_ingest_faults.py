"""A stored day through the daily job under ordinary faults: a mistyped logs folder, logs that went missing, a
file cut short. The run fails or quarantines the file, and the day's requests and dollars stay in every mart."""

import shutil
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from cost_pipelines.definitions import defs
from cost_pipelines.resources import CostExplorerResource, FocusExportsResource, LlmLogSourceResource, WarehouseResource
from cost_pipelines.sample_data.generate import generate
from cost_pipelines.warehouse import connect

DAY = date(2026, 10, 13)


class Warehouse:
    def __init__(self, tmp: Path, instance: dg.DagsterInstance):
        self.tmp, self.instance = tmp, instance
        self.logs = tmp / "logs"

    def run(self, logs: Path | None = None, **ingest_config: object) -> dg.ExecuteInProcessResult:
        resources = {
            "warehouse": WarehouseResource(path=str(self.tmp / "warehouse.duckdb")),
            "llm_logs": LlmLogSourceResource(root=str(logs or self.logs)),
            "cost_explorer": CostExplorerResource(source="recorded"),
            "focus_exports": FocusExportsResource(root=str(self.tmp / "focus")),
        }
        return defs.resolve_job_def("daily_cost_job").execute_in_process(
            instance=self.instance, partition_key=DAY.isoformat(), resources=resources, raise_on_error=False,
            run_config={"ops": {"llm_requests": {"config": ingest_config}}} if ingest_config else None,
        )  # fmt: skip

    def totals(self) -> tuple[int, Decimal, Decimal]:
        """Requests stored, LLM dollars in the daily summary, LLM dollars in the cost fact."""
        with connect(self.tmp / "warehouse.duckdb", read_only=True) as con:
            return con.execute(
                "SELECT (SELECT count(*) FROM raw.llm_requests WHERE usage_date = $day), "
                "(SELECT sum(total_cost_usd) FROM marts.cost_summary_daily WHERE usage_date = $day), "
                "(SELECT sum(billed_cost) FROM marts.fct_costs WHERE usage_date = $day AND x_source = 'llm_logs')",
                {"day": DAY},
            ).fetchone()


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    """The failed steps' errors with their causes."""
    failures = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    return "\n".join(e.event_specific_data.error.to_string() for e in failures)


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Warehouse, tuple]]:
    tmp = tmp_path_factory.mktemp("faults")
    generate(tmp / "logs", DAY, DAY)
    with dg.DagsterInstance.ephemeral() as instance:
        warehouse = Warehouse(tmp, instance)
        assert warehouse.run().success
        yield warehouse, warehouse.totals()


def test_a_mistyped_logs_folder_fails_the_run_and_keeps_the_stored_day(stored: tuple) -> None:
    warehouse, before = stored
    assert before[0] > 1000 and before[1] > 0
    result = warehouse.run(logs=warehouse.tmp / "logz")
    assert not result.success
    assert "logz does not exist" in _failure_message(result)
    assert warehouse.totals() == before


def test_a_day_whose_logs_went_missing_is_refused_until_the_run_allows_it(stored: tuple, tmp_path: Path) -> None:
    warehouse, before = stored
    emptied = tmp_path / "logs"
    (emptied / DAY.isoformat()).mkdir(parents=True)
    result = warehouse.run(logs=emptied)
    assert not result.success and "no log files" in _failure_message(result)
    assert warehouse.totals() == before


def test_a_file_cut_short_is_left_out_loudly_and_the_day_keeps_the_rest(stored: tuple, tmp_path: Path) -> None:
    warehouse, before = stored
    logs = tmp_path / "logs"
    shutil.copytree(warehouse.logs, logs)
    (logs / DAY.isoformat() / "late-arrival.jsonl.gz").write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03")
    result = warehouse.run(logs=logs)
    assert result.success
    [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == "log_files_are_readable"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["unreadable_files"].value == 1
    assert warehouse.totals() == before
    # a run that prefers to refuse such a day may say so
    refused = warehouse.run(logs=logs, refuse_unreadable_files=True)
    assert not refused.success and "late-arrival.jsonl.gz: unreadable file" in _failure_message(refused)
