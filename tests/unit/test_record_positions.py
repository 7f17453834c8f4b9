"""A record's position in its file, however the file is read.

JSON and CSV files of a large day are first read in parallel without numbering their records (a small day is read
numbered at once; here every day is read as a large one unless a test says otherwise); what is set aside gets its
position from a second scan, and a day that needs more positions than that (a line that is not JSON, a repeated
request id) is read again numbered. Each way, the quarantine shows the line a person must fix, and the first copy
of a repeated id is the first in the file.
"""

import gzip
import json
from datetime import date
from pathlib import Path

import pytest
import zstandard

from cost_pipelines.ingest import load
from cost_pipelines.ingest.load import DayReport, ingest_day
from cost_pipelines.ingest.sources import LocalDirectorySource
from cost_pipelines.warehouse import connect

DAY = date(2026, 8, 1)


@pytest.fixture(autouse=True)
def _read_as_a_large_day(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load, "READ_NUMBERED_BELOW_BYTES", 0)


def _record(rid: str, tokens: int = 100, **changes: object) -> dict:
    return {"request_id": rid, "occurred_at": f"{DAY}T10:00:00Z", "provider": "openai", "model": "gpt-4o-mini",
            "input_tokens": tokens, "output_tokens": 20, "status": "success"} | changes  # fmt: skip


def _ingest(tmp_path: Path, files: dict[str, bytes]) -> tuple[DayReport, list[tuple], list[tuple]]:
    day_dir = tmp_path / "logs" / DAY.isoformat()
    day_dir.mkdir(parents=True)
    for name, content in files.items():
        (day_dir / name).write_bytes(content)
    with connect(tmp_path / "w.duckdb") as con:
        report = ingest_day(con, LocalDirectorySource(tmp_path / "logs"), DAY)
        kept = con.execute("SELECT request_id, input_tokens, source_row FROM raw.llm_requests ORDER BY 1").fetchall()
        quarantined = con.execute(
            "SELECT row_number, reason, raw_record FROM raw.llm_requests_quarantine ORDER BY row_number"
        ).fetchall()
    assert report.rows_in == report.rows_kept + report.quarantined + report.duplicates + report.not_requests
    return report, kept, quarantined


def test_quarantined_lines_keep_their_numbers_in_a_file_read_in_parallel(tmp_path: Path) -> None:
    bad = json.dumps(_record("neg", -5))
    lines = [
        json.dumps(_record("a")),
        "",  # blank lines are not records, but an editor counts them
        bad,
        "\t" + json.dumps(_record("b")),
        bad,  # the same text twice: each copy at its own line
        "   " + json.dumps(_record("no-model", model=None)) + "  ",
        json.dumps(_record("c")),
    ]
    report, kept, quarantined = _ingest(tmp_path, {"a.jsonl": "\n".join(lines).encode() + b"\n"})
    # read in parallel: the kept requests carry no line number
    assert kept == [("a", 100, None), ("b", 100, None), ("c", 100, None)]
    assert quarantined == [
        (3, "negative input_tokens: -5", bad),
        (5, "negative input_tokens: -5", bad),
        (6, "missing model", lines[5]),  # the line as it was written, spaces and all
    ]
    assert report.quarantined == 3


def test_a_small_day_is_read_numbered_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load, "READ_NUMBERED_BELOW_BYTES", 1 << 20)
    reads: list[bool] = []
    read_files = load.readers.read_files
    monkeypatch.setattr(load.readers, "read_files", lambda con, files, numbered=False: (
        reads.append(numbered) or read_files(con, files, numbered)))  # fmt: skip
    lines = [json.dumps(_record("a")), "{not json", json.dumps(_record("a")), json.dumps(_record("b", 7))]
    _, kept, quarantined = _ingest(tmp_path, {"a.jsonl": "\n".join(lines).encode()})
    assert reads == [True]  # neither the line that is not JSON nor the repeated id needs a second read
    assert kept == [("a", 100, 1), ("b", 7, 4)]
    assert [(n, reason) for n, reason, _ in quarantined] == [(2, "invalid JSON")]


def test_a_compressed_file_counts_as_the_text_it_holds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[bool] = []
    read_files = load.readers.read_files
    monkeypatch.setattr(load.readers, "read_files", lambda con, files, numbered=False: (
        reads.append(numbered) or read_files(con, files, numbered)))  # fmt: skip
    text = "".join(json.dumps(_record(f"r{i}")) + "\n" for i in range(40)).encode()
    packed = gzip.compress(text)
    # small on disk, but ten times its size in text is past the bound: read as a large day, in parallel
    monkeypatch.setattr(load, "READ_NUMBERED_BELOW_BYTES", len(packed) * 5)
    assert len(text) > len(packed) * 5
    _, kept, _ = _ingest(tmp_path / "gz", {"a.jsonl.gz": packed})
    assert reads == [False] and len(kept) == 40
    monkeypatch.setattr(load, "READ_NUMBERED_BELOW_BYTES", len(text) + 1)
    _ingest(tmp_path / "plain", {"a.jsonl": text})
    assert reads == [False, True]


def test_a_line_that_is_not_json_has_the_day_read_numbered(tmp_path: Path) -> None:
    lines = [json.dumps(_record("a")), "{not json", "", json.dumps(_record("b", -1)), json.dumps(_record("c"))]
    _, kept, quarantined = _ingest(tmp_path, {"a.jsonl.gz": gzip.compress("\n".join(lines).encode())})
    assert kept == [("a", 100, 1), ("c", 100, 5)]
    assert [(n, reason) for n, reason, _ in quarantined] == [(2, "invalid JSON"), (4, "negative input_tokens: -1")]


def test_the_first_copy_of_a_repeated_id_is_the_first_line(tmp_path: Path) -> None:
    lines = [json.dumps(_record(rid, tokens)) for rid, tokens in [("x", 1), ("r", 100), ("y", 2), ("r", 999)]]
    _, kept, quarantined = _ingest(tmp_path, {"a.jsonl": "\n".join(lines).encode()})
    assert kept == [("r", 100, 2), ("x", 1, 1), ("y", 2, 3)]
    assert [(n, reason) for n, reason, _ in quarantined] == [
        (4, "request_id r repeats 2026-08-01/a.jsonl:2 with different values")
    ]


def test_a_json_array_of_records_with_a_bad_element(tmp_path: Path) -> None:
    records = [_record("a"), _record("b", output_tokens="many"), _record("c")]
    pretty = json.dumps(records, indent=2).encode()
    _, kept, quarantined = _ingest(tmp_path, {"a.json": pretty})
    assert [(rid, tokens) for rid, tokens, _ in kept] == [("a", 100), ("c", 100)]
    assert [(n, reason) for n, reason, _ in quarantined] == [(2, "non-numeric output_tokens: many")]
    assert json.loads(quarantined[0][2]) == records[1]


def test_zstd_compressed_json_lines_and_csv(tmp_path: Path) -> None:
    jsonl = "".join(json.dumps(_record(f"j{i}")) + "\n" for i in range(3)).encode()
    csv = (
        b"request_id,occurred_at,provider,model,input_tokens,output_tokens\n"
        b"c1,2026-08-01 09:00:00,openai,gpt-4o,10,1\nc2,2026-08-01 09:00:00,openai,gpt-4o,-3,1\n"
    )
    compress = zstandard.ZstdCompressor().compress
    report, kept, quarantined = _ingest(tmp_path, {"a.jsonl.zst": compress(jsonl), "b.csv.zst": compress(csv)})
    assert [rid for rid, *_ in kept] == ["c1", "j0", "j1", "j2"]
    assert [(n, reason) for n, reason, _ in quarantined] == [(2, "negative input_tokens: -3")]
    assert report.rows_by_format == {"jsonl": 3, "csv": 2}


def test_a_truncated_zstd_file_is_unreadable_and_the_rest_of_the_day_kept(tmp_path: Path) -> None:
    whole = zstandard.ZstdCompressor().compress(
        "".join(json.dumps(_record(f"t{i}")) + "\n" for i in range(2000)).encode()
    )
    good = "".join(json.dumps(_record(f"g{i}")) + "\n" for i in range(2)).encode()
    report, kept, _ = _ingest(tmp_path, {"a.jsonl.zst": whole[: len(whole) // 2], "b.jsonl": good})
    assert [rid for rid, *_ in kept] == ["g0", "g1"]
    assert len(report.unreadable_files) == 1
    assert report.unreadable_files[0].reason.startswith("unreadable file: the zstd stream is truncated or corrupt")
