"""Requests are stored as Parquet beside the warehouse: canonical files are kept as they arrived, the rest
normalised; a day is replaced by one transaction, and nothing half-written is ever read."""

import filecmp
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cost_pipelines.ingest import request_store
from cost_pipelines.ingest.load import IngestPolicy, ingest_day
from cost_pipelines.ingest.sources import LocalDirectorySource
from cost_pipelines.warehouse import connect, ensure_raw_tables

DAY = date(2026, 8, 1)


def _canonical(ids: list[str], **columns: list) -> pa.Table:
    rows = len(ids)
    data = {
        "request_id": pa.array(ids),
        "occurred_at": pa.array([datetime(2026, 8, 1, 9, i % 60, tzinfo=UTC) for i in range(rows)],
                                pa.timestamp("us", tz="UTC")),
        "provider": pa.array(["openai"] * rows),
        "model": pa.array(["gpt-4o-mini"] * rows),
        "input_tokens": pa.array([1_000 + i for i in range(rows)], pa.int64()),
        "cache_read_tokens": pa.array([0] * rows, pa.int64()),
        "output_tokens": pa.array([10] * rows, pa.int32()),
        "user_id": pa.array([f"u{i % 3}" for i in range(rows)]),
        "latency_ms": pa.array([250] * rows, pa.int64()),
        "status": pa.array(["success"] * (rows - 1) + ["error"]),
    }  # fmt: skip
    data.update({name: pa.array(values) for name, values in columns.items()})
    return pa.table(data)


def _write(tmp_path: Path, name: str, table: pa.Table) -> Path:
    target = tmp_path / "logs" / DAY.isoformat() / name
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, target)
    return target


def _stored(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        f"SELECT source, stored_as, requests FROM {request_store.FILES} WHERE usage_date = ? ORDER BY file_no", [DAY]
    ).fetchall()


def _versions(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "w.llm_requests" / f"usage_date={DAY}").iterdir())


@pytest.fixture
def keep_small_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test files are small: keep canonical ones as they arrived whatever their size."""
    monkeypatch.setattr(request_store, "KEEP_AS_IS_MIN_ROWS", 1)


@pytest.mark.usefixtures("keep_small_files")
def test_canonical_parquet_is_kept_as_it_arrived(tmp_path: Path) -> None:
    log = _write(tmp_path, "a.parquet", _canonical(["r1", "r2", "r3"]))
    with connect(tmp_path / "w.duckdb") as con:
        report = ingest_day(con, LocalDirectorySource(tmp_path / "logs"), DAY)
        rows = con.execute(
            "SELECT request_id, usage_date, input_tokens, cache_write_tokens, output_tokens, latency_ms, status, "
            "source, source_row, reported_cost_usd FROM raw.llm_requests ORDER BY request_id"
        ).fetchall()
        stored = _stored(con)
    kept = tmp_path / "w.llm_requests" / f"usage_date={DAY}" / "version=1" / "file=0" / "requests.parquet"
    assert filecmp.cmp(log, kept, shallow=False)
    assert stored == [(f"{DAY}/a.parquet", "kept", 3)] and report.files_kept_as_is == 1
    assert report.rows_kept == 3 and report.quarantined == 0
    assert rows == [
        (f"r{i}", DAY, 999 + i, 0, 10, 250, "success" if i < 3 else "error", f"{DAY}/a.parquet", i, None)
        for i in (1, 2, 3)
    ]


@pytest.mark.parametrize(
    "columns",
    [
        {"provider": ["OpenAI", "openai", "openai"]},
        {"status": ["ok", "success", "success"]},
        {"user_id": [" u1", "u2", "u3"]},
        {"user_id": ["", "u2", "u3"]},
        {"prompt": ["secret text", "b", "c"]},  # a column the warehouse does not keep
    ],
)
@pytest.mark.usefixtures("keep_small_files")
def test_other_parquet_is_normalised(tmp_path: Path, columns: dict) -> None:
    _write(tmp_path, "a.parquet", _canonical(["r1", "r2", "r3"], **columns))
    with connect(tmp_path / "w.duckdb") as con:
        ingest_day(con, LocalDirectorySource(tmp_path / "logs"), DAY)
        rows = con.execute(
            "SELECT provider, status, user_id, source_row FROM raw.llm_requests ORDER BY request_id"
        ).fetchall()
        stored = _stored(con)
    assert stored == [(f"{DAY}/a.parquet", "normalised", 3)]
    assert rows[0][:2] == ("openai", "success") and rows[0][2] in ("u1", "u0", None)
    assert [r[3] for r in rows] == [1, 2, 3]
    stored_columns = pq.read_schema(next((tmp_path / "w.llm_requests").glob(f"usage_date={DAY}/*/*/*.parquet")))
    assert "prompt" not in stored_columns.names


@pytest.mark.usefixtures("keep_small_files")
def test_a_request_repeated_across_files_is_stored_once(tmp_path: Path) -> None:
    requests = _canonical(["r1", "r2", "r3"])
    _write(tmp_path, "a.parquet", requests.slice(0, 2))
    _write(tmp_path, "b.parquet", requests.slice(1, 2))  # r2 in both files, the same request
    with connect(tmp_path / "w.duckdb") as con:
        report = ingest_day(con, LocalDirectorySource(tmp_path / "logs"), DAY)
        ids = con.execute("SELECT request_id, source FROM raw.llm_requests ORDER BY 1").fetchall()
        stored = _stored(con)
    assert ids == [("r1", f"{DAY}/a.parquet"), ("r2", f"{DAY}/a.parquet"), ("r3", f"{DAY}/b.parquet")]
    assert report.duplicates == 1 and report.rows_kept == 3
    assert [s[1] for s in stored] == ["normalised", "normalised"]


def test_small_files_are_written_together_as_one_file(tmp_path: Path) -> None:
    requests = _canonical([f"r{i}" for i in range(6)])
    for k in range(3):
        _write(tmp_path, f"part-{k}.parquet", requests.slice(2 * k, 2))
    with connect(tmp_path / "w.duckdb") as con:
        report = ingest_day(con, LocalDirectorySource(tmp_path / "logs"), DAY)
        rows = con.execute("SELECT request_id, source, source_row FROM raw.llm_requests ORDER BY 1").fetchall()
        stored = _stored(con)
    files = list((tmp_path / "w.llm_requests").glob(f"usage_date={DAY}/*/*/*.parquet"))
    assert [f.relative_to(tmp_path / "w.llm_requests").as_posix() for f in files] == [
        f"usage_date={DAY}/version=1/file=3/requests.parquet"
    ]
    assert report.files_kept_as_is == 0 and [s[1:] for s in stored] == [("normalised", 2)] * 3
    assert rows == [(f"r{i}", f"{DAY}/part-{i // 2}.parquet", i % 2 + 1) for i in range(6)]


def test_rerun_replaces_the_day_and_removes_the_old_files(tmp_path: Path) -> None:
    log = _write(tmp_path, "a.parquet", _canonical(["r1", "r2"]))
    source = LocalDirectorySource(tmp_path / "logs")
    with connect(tmp_path / "w.duckdb") as con:
        ingest_day(con, source, DAY)
        ingest_day(con, source, DAY)
        assert con.execute("SELECT count(*) FROM raw.llm_requests").fetchone()[0] == 2
        assert _versions(tmp_path) == ["version=2"]
        log.unlink()
        # emptying a stored day takes both permissions: no log file, and fewer requests than stored
        ingest_day(con, source, DAY, IngestPolicy(allow_empty_days=True, allow_shrink=True))
        assert con.execute("SELECT count(*) FROM raw.llm_requests").fetchone()[0] == 0
        assert _stored(con) == []


def test_a_failed_run_leaves_the_day_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, "a.parquet", _canonical(["r1", "r2"]))
    source = LocalDirectorySource(tmp_path / "logs")
    with connect(tmp_path / "w.duckdb") as con:
        ingest_day(con, source, DAY)
        _write(tmp_path, "b.parquet", _canonical(["r3"]))

        def fail(*_: object) -> None:
            raise RuntimeError("disk full")

        monkeypatch.setattr(request_store, "point_day_at", fail)
        with pytest.raises(RuntimeError, match="disk full"):
            ingest_day(con, source, DAY)
        ids = con.execute("SELECT request_id FROM raw.llm_requests ORDER BY 1").fetchall()
    assert ids == [("r1",), ("r2",)]
    assert _versions(tmp_path) == ["version=1"]


def test_files_of_a_run_that_never_committed_are_not_read(tmp_path: Path) -> None:
    _write(tmp_path, "a.parquet", _canonical(["r1"]))
    with connect(tmp_path / "w.duckdb") as con:
        ingest_day(con, LocalDirectorySource(tmp_path / "logs"), DAY)
        stray = tmp_path / "w.llm_requests" / f"usage_date={DAY}" / "version=7" / "file=0" / "x.parquet"
        stray.parent.mkdir(parents=True)
        pq.write_table(_canonical(["stray"]), stray)
        assert con.execute("SELECT request_id FROM raw.llm_requests").fetchall() == [("r1",)]


def test_an_empty_store_reads_as_no_requests_with_every_column(tmp_path: Path) -> None:
    with connect(tmp_path / "w.duckdb") as con:
        ensure_raw_tables(con)
        columns = [r[0] for r in con.execute("DESCRIBE raw.llm_requests").fetchall()]
        assert con.execute("SELECT count(*) FROM raw.llm_requests").fetchone()[0] == 0
    assert columns[:3] == ["request_id", "occurred_at", "usage_date"] and columns[-1] == "ingested_at"


def test_requests_stored_as_a_table_move_into_the_store(tmp_path: Path) -> None:
    with connect(tmp_path / "w.duckdb") as con:
        con.execute("CREATE SCHEMA raw")
        con.execute(
            """CREATE TABLE raw.llm_requests AS SELECT 'r' || i AS request_id,
                   TIMESTAMPTZ '2026-08-01 10:00:00+00' + to_days(i % 2) AS occurred_at,
                   CAST(TIMESTAMPTZ '2026-08-01 10:00:00+00' + to_days(i % 2) AS DATE) AS usage_date,
                   'openai' AS provider, 'gpt-4o' AS model, 100 + i AS input_tokens, 0 AS cache_read_tokens,
                   0 AS cache_write_tokens, 5 AS output_tokens, 'u' AS user_id, NULL AS team, NULL AS project,
                   NULL AS environment, NULL AS task_type, CAST(10 AS INTEGER) AS latency_ms, 'success' AS status,
                   CAST(0.5 AS DECIMAL(38, 18)) AS reported_cost_usd, 'f' || (i % 3) AS source,
                   i AS source_row, now() AS ingested_at
               FROM range(12) t(i)"""
        )
        columns = [d[0] for d in con.execute("SELECT * EXCLUDE (ingested_at) FROM raw.llm_requests").description]
        query = f"SELECT {', '.join(columns)} FROM raw.llm_requests ORDER BY request_id"
        before = con.execute(query).fetchall()
        ensure_raw_tables(con)
        after = con.execute(query).fetchall()
        # the columns added since read as their defaults: one standard-tier request, no 1-hour cache writes
        defaults = con.execute(
            "SELECT DISTINCT cache_write_1h_tokens, service_tier, record_kind, request_count, tier_input_tokens "
            "FROM raw.llm_requests"
        ).fetchall()
        assert defaults == [(0, "standard", "request", 1, None)]
        kind = con.execute("SELECT table_type FROM information_schema.tables WHERE table_name = 'llm_requests'")
        assert kind.fetchone()[0] == "VIEW"
    assert after == before and len(after) == 12


def test_an_in_memory_warehouse_is_refused_clearly() -> None:
    with duckdb.connect() as con, pytest.raises(ValueError, match="DuckDB file"):
        ensure_raw_tables(con)


@pytest.mark.parametrize("partial", [b"", b"PAR1\x15\x04"], ids=["empty file", "truncated file"])
def test_a_half_written_version_of_another_day_never_breaks_later_runs(tmp_path: Path, partial: bytes) -> None:
    """What a run killed while writing a day leaves behind: a version that never committed, its file cut short."""
    _write(tmp_path, "a.parquet", _canonical(["r1", "r2"]))
    with connect(tmp_path / "w.duckdb") as con:
        ingest_day(con, LocalDirectorySource(tmp_path / "logs"), DAY)
    killed_day = tmp_path / "w.llm_requests" / "usage_date=2026-08-02" / "version=1" / "file=0"
    killed_day.mkdir(parents=True)
    (killed_day / "requests.parquet").write_bytes(partial)
    with connect(tmp_path / "w.duckdb") as con:
        ensure_raw_tables(con)  # what every writer (prices, Cost Explorer, FOCUS) does first
        assert con.execute("SELECT request_id FROM raw.llm_requests ORDER BY 1").fetchall() == [("r1",), ("r2",)]
    # the abandoned version is gone without that day being ingested again
    assert not killed_day.parent.exists()


def test_a_stray_file_inside_the_store_is_not_read(tmp_path: Path) -> None:
    _write(tmp_path, "a.parquet", _canonical(["r1"]))
    with connect(tmp_path / "w.duckdb") as con:
        ingest_day(con, LocalDirectorySource(tmp_path / "logs"), DAY)
        committed = tmp_path / "w.llm_requests" / f"usage_date={DAY}" / "version=1"
        (committed / "file=9").mkdir()
        (committed / "file=9" / "notes.parquet").write_bytes(b"not parquet")
        assert con.execute("SELECT request_id FROM raw.llm_requests").fetchall() == [("r1",)]
