"""Ordinary faults at ingest: a mistyped logs folder, a day whose logs went missing, files that cannot be read.
None of them may cost a stored day its requests or fail the other files of the day."""

import gzip
import hashlib
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cost_pipelines.ingest import readers
from cost_pipelines.ingest.load import DayShrinkRefused, IngestPolicy, UnreadableLogFiles, ingest_day
from cost_pipelines.ingest.sources import LocalDirectorySource, SourceUnavailable
from cost_pipelines.warehouse import connect

DAY = date(2026, 8, 1)


def _records(ids: range, prefix: str = "r") -> list[dict]:
    return [
        {"request_id": f"{prefix}{i}", "timestamp": f"{DAY}T10:{i % 60:02d}:00Z", "provider": "openai",
         "model": "gpt-4o-mini", "input_tokens": 100 + i, "output_tokens": 20, "status": "success"}
        for i in ids
    ]  # fmt: skip


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r) + "\n" for r in records)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def _day_folder(tmp_path: Path) -> Path:
    return tmp_path / "logs" / DAY.isoformat()


def _stored(tmp_path: Path) -> list[str]:
    with connect(tmp_path / "w.duckdb", read_only=True) as con:
        return [r for (r,) in con.execute("SELECT request_id FROM raw.llm_requests ORDER BY 1").fetchall()]


def test_a_missing_logs_folder_is_an_error_and_the_stored_day_stays(tmp_path: Path) -> None:
    _jsonl(_day_folder(tmp_path) / "a.jsonl", _records(range(5)))
    with connect(tmp_path / "w.duckdb") as con:
        ingest_day(con, LocalDirectorySource(tmp_path / "logs"), DAY)
        with pytest.raises(SourceUnavailable, match=r"logs-typo does not exist.*COST_PIPELINES_LLM_LOGS_DIR"):
            ingest_day(con, LocalDirectorySource(tmp_path / "logs-typo"), DAY)
    assert len(_stored(tmp_path)) == 5


def test_a_day_whose_rows_all_became_unusable_is_refused_naming_the_counts(tmp_path: Path) -> None:
    log = _jsonl(_day_folder(tmp_path) / "a.jsonl", _records(range(8)))
    with connect(tmp_path / "w.duckdb") as con:
        ingest_day(con, LocalDirectorySource(tmp_path / "logs"), DAY)
        log.write_text("not json\n" * 8)
        with pytest.raises(
            DayShrinkRefused, match=r"2026-08-01: the stored day has 8 requests .* leave 0 .*allow_shrink"
        ):
            ingest_day(con, LocalDirectorySource(tmp_path / "logs"), DAY)
        assert con.execute("SELECT count(*) FROM raw.llm_requests").fetchone()[0] == 8
        # quarantine rows of the refused run are not kept either
        assert con.execute("SELECT count(*) FROM raw.llm_requests_quarantine").fetchone()[0] == 0
        report = ingest_day(con, LocalDirectorySource(tmp_path / "logs"), DAY, IngestPolicy(allow_shrink=True))
    assert (report.replaced_requests, report.rows_kept, report.quarantined) == (8, 0, 8)
    assert _stored(tmp_path) == []


def test_a_day_may_shrink_by_the_configured_share_and_no_more(tmp_path: Path) -> None:
    log = _jsonl(_day_folder(tmp_path) / "a.jsonl", _records(range(10)))
    source = LocalDirectorySource(tmp_path / "logs")
    with connect(tmp_path / "w.duckdb") as con:
        ingest_day(con, source, DAY)
        _jsonl(log, _records(range(6)))  # 40 % fewer: within the default 50 %
        assert ingest_day(con, source, DAY).rows_kept == 6
        _jsonl(log, _records(range(4)))  # 33 % fewer, over a bound of 25 %
        with pytest.raises(DayShrinkRefused, match=r"6 requests .* leave 4 .*33% fewer; at most 25%"):
            ingest_day(con, source, DAY, IngestPolicy(max_shrink_share=0.25))
    assert len(_stored(tmp_path)) == 6


def _truncated_gzip(path: Path) -> None:
    """Half of a gzip file, as a copy cut short leaves it."""
    records = [{**r, "user_id": hashlib.sha256(r["request_id"].encode()).hexdigest()} for r in _records(range(5000))]
    whole = gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode())
    path.write_bytes(whole[: len(whole) // 2])


def _corrupt_parquet(path: Path) -> Path:
    """A Parquet file whose footer reads but whose first data page does not: found only when its rows are read."""
    table = pa.table({"request_id": [f"p{i}" for i in range(1000)], "x": list(range(1000))})
    pq.write_table(table, path, compression="snappy")
    data = bytearray(path.read_bytes())
    data[4:200] = b"\xff" * 196
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    ("name", "write", "reason"),
    [
        ("broken.jsonl.gz", lambda p: _truncated_gzip(p), "gzip stream is truncated"),
        ("garbage.parquet", lambda p: p.write_bytes(b"PAR1 this is not parquet at all PAR1"), "not a readable Parquet"),
        ("bad_page.parquet", _corrupt_parquet, "not a readable Parquet"),
        ("empty.parquet", lambda p: p.write_bytes(b""), "not a readable Parquet"),
    ],
    ids=["truncated gzip", "garbage parquet", "corrupt data page", "0-byte parquet"],
)
def test_an_unreadable_file_is_quarantined_and_the_rest_of_the_day_is_ingested(
    tmp_path: Path, name: str, write, reason: str
) -> None:
    _jsonl(_day_folder(tmp_path) / "a.jsonl", _records(range(3)))
    _jsonl(_day_folder(tmp_path) / "c.jsonl.gz", _records(range(3, 5)))
    write(_day_folder(tmp_path) / name)
    with connect(tmp_path / "w.duckdb") as con:
        report = ingest_day(con, LocalDirectorySource(tmp_path / "logs"), DAY)
        rows = con.execute("SELECT partition_date, source, reason FROM raw.llm_unreadable_files").fetchall()
    assert _stored(tmp_path) == ["r0", "r1", "r2", "r3", "r4"]
    assert [(u.source, reason in u.reason) for u in report.unreadable_files] == [(f"{DAY}/{name}", True)]
    assert [(d, s) for d, s, _ in rows] == [(DAY, f"{DAY}/{name}")] and rows[0][2].startswith("unreadable file: ")
    assert (report.files, report.rows_in, report.rows_kept) == (3, 5, 5)


def test_a_line_longer_than_the_limit_makes_its_file_unreadable_not_the_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 4096)
    _jsonl(_day_folder(tmp_path) / "a.jsonl", _records(range(3)))
    _jsonl(_day_folder(tmp_path) / "b.jsonl", [{**_records(range(3, 4))[0], "prompt": "x" * 10_000}])
    with connect(tmp_path / "w.duckdb") as con:
        report = ingest_day(con, LocalDirectorySource(tmp_path / "logs"), DAY)
    [unreadable] = report.unreadable_files
    assert unreadable.source == f"{DAY}/b.jsonl" and "a line is longer than 4,096 bytes" in unreadable.reason
    assert "xxxx" not in unreadable.reason and _stored(tmp_path) == ["r0", "r1", "r2"]


def test_a_run_may_refuse_a_day_with_an_unreadable_file_instead(tmp_path: Path) -> None:
    _jsonl(_day_folder(tmp_path) / "a.jsonl", _records(range(3)))
    with connect(tmp_path / "w.duckdb") as con:
        ingest_day(con, LocalDirectorySource(tmp_path / "logs"), DAY)
        _corrupt_parquet(_day_folder(tmp_path) / "b.parquet")
        with pytest.raises(UnreadableLogFiles, match=r"b\.parquet: unreadable file: not a readable Parquet"):
            ingest_day(con, LocalDirectorySource(tmp_path / "logs"), DAY, IngestPolicy(refuse_unreadable_files=True))
    assert _stored(tmp_path) == ["r0", "r1", "r2"]


def test_quarantined_files_of_a_day_are_replaced_when_it_is_ingested_again(tmp_path: Path) -> None:
    _jsonl(_day_folder(tmp_path) / "a.jsonl", _records(range(3)))
    broken = _day_folder(tmp_path) / "b.parquet"
    broken.write_bytes(b"")
    with connect(tmp_path / "w.duckdb") as con:
        ingest_day(con, LocalDirectorySource(tmp_path / "logs"), DAY)
        pq.write_table(
            pa.table({"request_id": ["b1"], "occurred_at": [datetime(2026, 8, 1, 12, tzinfo=UTC)],
                      "provider": ["openai"], "model": ["gpt-4o-mini"], "input_tokens": [10], "output_tokens": [1]}),
            broken,
        )  # fmt: skip
        report = ingest_day(con, LocalDirectorySource(tmp_path / "logs"), DAY)
        left = con.execute("SELECT count(*) FROM raw.llm_unreadable_files").fetchone()[0]
    assert report.unreadable_files == [] and left == 0 and _stored(tmp_path) == ["b1", "r0", "r1", "r2"]
