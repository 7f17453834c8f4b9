"""Every way a day's text files are read gives the same day.

A large day is first read in parallel without numbering its records, and what is set aside finds its position
afterwards; a day where positions decide more (a line that is not JSON, a repeated request id) is read again
numbered. A small day is read numbered at once. Whichever way a day went, the requests stored, the quarantine
(position, reason, the record as written) and the counts must be the same.
"""

import gzip
import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from cost_pipelines.ingest import load
from cost_pipelines.ingest.load import ingest_day
from cost_pipelines.ingest.sources import LocalDirectorySource
from cost_pipelines.warehouse import connect

DAY = date(2026, 8, 1)
NATIVE = Path(__file__).parents[1] / "data" / "native_logs"
BEDROCK = "AWSLogs/*/BedrockModelInvocationLogs/*/{yyyy}/{mm}/{dd}/**/*"


def _record(rid: str, tokens: int = 100, **changes: object) -> dict:
    return {"request_id": rid, "occurred_at": f"{DAY}T10:00:00Z", "provider": "openai", "model": "gpt-4o-mini",
            "input_tokens": tokens, "output_tokens": 20, "status": "success"} | changes  # fmt: skip


def _flat_day(folder: Path, *extra: str) -> None:
    lines = [json.dumps(_record(f"r{i}", 100 + i, cache_read_tokens=i % 7)) for i in range(50)]
    (folder / DAY.isoformat()).mkdir(parents=True)
    (folder / DAY.isoformat() / "a.jsonl.gz").write_bytes(gzip.compress("\n".join([*lines, *extra]).encode()))


_BODY = json.dumps({
    "request_id": "body-1", "occurred_at": f"{DAY}T11:00:00Z", "provider": "openai",
    "response": {"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini",
                 "usage": {"prompt_tokens": 1200, "completion_tokens": 30,
                           "prompt_tokens_details": {"cached_tokens": 1024}}},
})  # fmt: skip

DAYS = {
    # (how the day's folder is made, its file pattern, whether each read of a large day numbered its records)
    "bedrock": (lambda d: shutil.copytree(NATIVE / "bedrock", d), BEDROCK, [False]),
    "litellm": (lambda d: shutil.copytree(NATIVE / "litellm", d), "*", [False]),
    "flat": (_flat_day, "{date}/*", [False]),
    "a bad row": (lambda d: _flat_day(d, json.dumps(_record("neg", -5))), "{date}/*", [False]),
    "a body": (lambda d: _flat_day(d, _BODY), "{date}/*", [False]),
    "not an object": (lambda d: _flat_day(d, "null", "[1, 2]"), "{date}/*", [False]),
    "a value of another type": (
        # LiteLLM's `metadata` is read as an object: a text there is no LiteLLM record
        lambda d: _flat_day(d, json.dumps(_record("odd", metadata="not an object"))),
        "{date}/*",
        [False],
    ),
    "not JSON": (lambda d: _flat_day(d, "{not json"), "{date}/*", [False, True]),
    "a repeated id": (lambda d: _flat_day(d, json.dumps(_record("r3", 999))), "{date}/*", [False, True]),
}


def _ingest(folder: Path, pattern: str) -> tuple[tuple, list, list]:
    with connect(folder.parent / f"{folder.name}.duckdb") as con:
        report = ingest_day(con, LocalDirectorySource(folder, pattern), DAY)
        stored = con.execute(
            "SELECT * EXCLUDE (source_row, ingested_at) FROM raw.llm_requests ORDER BY request_id, source"
        ).fetchall()
        quarantined = con.execute(
            # a repeated id's later copy is quarantined as stored, with the time this run stored it
            """SELECT source, row_number, reason, regexp_replace(raw_record, '"ingested_at":"[^"]*"', '')
            FROM raw.llm_requests_quarantine ORDER BY ALL"""
        ).fetchall()
    counts = (report.rows_in, report.rows_kept, report.quarantined, report.duplicates, report.not_requests)
    return counts, stored, quarantined


@pytest.mark.parametrize("name", list(DAYS))
def test_a_large_day_is_the_same_day_as_a_small_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    make, pattern, expected_reads = DAYS[name]
    make(tmp_path / "small")
    make(tmp_path / "large")
    reads: list[bool] = []
    read_files = load.readers.read_files
    monkeypatch.setattr(load.readers, "read_files", lambda con, files, numbered=False: (
        reads.append(numbered) or read_files(con, files, numbered)))  # fmt: skip
    small = _ingest(tmp_path / "small", pattern)
    assert reads == [True]
    monkeypatch.setattr(load, "READ_NUMBERED_BELOW_BYTES", 0)
    reads.clear()
    large = _ingest(tmp_path / "large", pattern)
    assert reads == expected_reads
    assert large[0] == small[0] and large[0][1] > 0
    assert large[1] == small[1]
    assert large[2] == small[2]
