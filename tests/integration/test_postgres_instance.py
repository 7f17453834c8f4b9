"""daily_cost_job on a Dagster instance whose runs and events live in a real PostgreSQL server."""

import json
import socket
from datetime import date
from pathlib import Path

import dagster as dg
import psycopg2
import pytest

from cost_pipelines.resources import CostExplorerResource, LlmLogSourceResource, WarehouseResource
from tests.postgres_server import PostgresParams, PostgresUnavailable, postgres_server

pytestmark = pytest.mark.postgres
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAY = date(2026, 8, 1)


def _write_logs(root: Path) -> None:
    (root / DAY.isoformat()).mkdir(parents=True)
    rows = [{"request_id": f"r{i}", "occurred_at": f"{DAY}T{10 + i}:00:00Z", "provider": "openai",
             "model": "gpt-4o-2024-08-06", "input_tokens": 1200, "output_tokens": 350, "user_id": "u-01",
             "team": "search", "task_type": "chat"} for i in range(3)]  # fmt: skip
    (root / DAY.isoformat() / "requests.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_daily_job_run_and_materializations_are_stored_in_postgres(
    postgres: PostgresParams, postgres_dagster_home: Path, tmp_path: Path
) -> None:
    home = postgres_dagster_home
    _write_logs(tmp_path / "logs")
    from cost_pipelines.definitions import defs

    resources = {
        "warehouse": WarehouseResource(path=str(tmp_path / "warehouse.duckdb")),
        "llm_logs": LlmLogSourceResource(root=str(tmp_path / "logs")),
        "cost_explorer": CostExplorerResource(source="recorded"),
    }
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = defs.resolve_job_def("daily_cost_job").execute_in_process(
            instance=instance, partition_key=DAY.isoformat(), resources=resources
        )
        assert result.success
        run = instance.get_run_by_id(result.run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        for key in (["raw", "llm_requests"], ["marts", "cost_summary_daily"]):
            event = instance.get_latest_materialization_event(dg.AssetKey(key))
            assert event is not None and event.run_id == result.run_id
            assert event.asset_materialization.partition == DAY.isoformat()

    with psycopg2.connect(host=postgres.host, port=postgres.port, user=postgres.user, password=postgres.password,
                          dbname=postgres.dbname) as con, con.cursor() as cur:  # fmt: skip
        cur.execute("SELECT status FROM runs WHERE run_id = %s", (result.run_id,))
        assert cur.fetchone() == ("SUCCESS",)
        cur.execute(
            "SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION'",
            (result.run_id,),
        )
        assert cur.fetchone()[0] >= 10


def test_the_throwaway_server_is_stopped_on_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COST_PIPELINES_TEST_POSTGRES_URL", raising=False)
    try:
        with postgres_server() as params, socket.create_connection((params.host, params.port), timeout=5):
            pass
    except PostgresUnavailable as exc:
        pytest.skip(f"NO POSTGRESQL SERVER: {exc}")
    with pytest.raises(OSError):
        socket.create_connection((params.host, params.port), timeout=2).close()
