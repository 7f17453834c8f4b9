"""A file mixing good and bad rows: good rows land exactly, every bad row is quarantined with its reason."""

import json
from datetime import date
from pathlib import Path

import pytest

from cost_pipelines.ingest.load import IngestPolicy, NoLogFiles, ingest_day
from cost_pipelines.ingest.sources import LocalDirectorySource
from cost_pipelines.warehouse import connect

DAY = date(2026, 8, 1)


def _row(request_id: str, **overrides: object) -> str:
    row = {"request_id": request_id, "occurred_at": "2026-08-01T12:00:00Z", "provider": "openai",
           "model": "gpt-4o-mini", "input_tokens": 100, "cache_read_tokens": 0, "output_tokens": 10}  # fmt: skip
    row.update(overrides)
    return json.dumps({k: v for k, v in row.items() if v is not ...})


HOSTILE_JSONL = [
    (_row("good-1"), None),
    (_row("neg", input_tokens=-5), "negative input_tokens"),
    (_row("text", output_tokens="lots"), "non-numeric output_tokens"),
    (_row("frac", input_tokens="12.5"), "non-numeric input_tokens"),
    (_row("nomodel", model=...), "missing model"),
    (_row("blankprov", provider="  "), "missing provider"),
    (_row("badts", occurred_at="yesterday-ish"), "unparseable occurred_at"),
    (_row("otherday", occurred_at="2026-08-02T00:00:00Z"), "occurred_at outside partition 2026-08-01"),
    (_row("cache", cache_read_tokens=500), "cache_read_tokens + cache_write_tokens exceed input_tokens"),
    (_row("noinput", input_tokens=...), "missing input_tokens"),
    (_row("audio", input_audio_tokens=101), "input_audio_tokens exceed input_tokens"),
    (_row("audioout", output_audio_tokens=11), "output_audio_tokens exceed output_tokens"),
    (_row("audioneg", input_audio_tokens=-1), "negative input_audio_tokens"),
    (_row("lat", latency_ms="fast"), "non-numeric latency_ms"),
    (_row("status", status="maybe"), "unknown status"),
    ('{"request_id": "trunc", "occurred_at": "2026-08-01T1', "invalid JSON"),
    ("[1, 2, 3]", "JSON line is not an object"),
    (_row("good-2", input_tokens="2048", output_tokens=7.0, occurred_at="2026-08-01T23:59:59.999+00:00"), None),
    (_row("good-1"), "duplicate"),
    (_row("good-1", output_tokens=11), "request_id good-1 repeats"),
    ('{"response": {"object": "something.else"}}', "unrecognised provider body"),
    (
        '{"response": {"object": "chat.completion", "model": "gpt-4o", "usage": {"completion_tokens": 1}}}',
        "no usable usage in openai body",
    ),
]
HOSTILE_CSV = (
    "id,timestamp,provider,model,prompt_tokens,completion_tokens\n"
    "csv-good,2026-08-01 08:00:00,anthropic,claude-3-5-haiku-20241022,300,30\n"
    "csv-wide,2026-08-01 08:00:00,anthropic,claude-3-5-haiku-20241022,300,30,surprise\n"
    "csv-bad,2026-08-01 08:00:00,anthropic,claude-3-5-haiku-20241022,-1,30\n"
)


def test_good_rows_exact_and_every_bad_row_quarantined_with_reason(tmp_path: Path) -> None:
    day_dir = tmp_path / "logs" / DAY.isoformat()
    day_dir.mkdir(parents=True)
    (day_dir / "mixed.jsonl").write_text("\n".join(line for line, _ in HOSTILE_JSONL) + "\n\n")
    (day_dir / "mixed.csv").write_text(HOSTILE_CSV)
    (day_dir / "notes.txt").write_text("not a log file")

    with connect(tmp_path / "w.duckdb") as con:
        report = ingest_day(con, LocalDirectorySource(tmp_path / "logs"), DAY)
        kept = con.execute(
            "SELECT request_id, input_tokens, output_tokens, occurred_at::VARCHAR FROM raw.llm_requests ORDER BY 1"
        ).fetchall()
        quarantined = con.execute(
            "SELECT source, row_number, reason, raw_record FROM raw.llm_requests_quarantine ORDER BY source, row_number"
        ).fetchall()

    assert kept == [
        ("csv-good", 300, 30, "2026-08-01 08:00:00+00"),
        ("good-1", 100, 10, "2026-08-01 12:00:00+00"),
        ("good-2", 2048, 7, "2026-08-01 23:59:59.999+00"),
    ]
    expected_reasons = [reason for _, reason in HOSTILE_JSONL if reason not in (None, "duplicate")]
    jsonl_reasons = [reason for source, _, reason, _ in quarantined if source.endswith("mixed.jsonl")]
    assert len(jsonl_reasons) == len(expected_reasons)
    for expected in expected_reasons:
        assert any(reason.startswith(expected) for reason in jsonl_reasons), (expected, jsonl_reasons)
    csv_reasons = sorted(reason for source, _, reason, _ in quarantined if source.endswith("mixed.csv"))
    assert csv_reasons[0].startswith("malformed CSV line") and csv_reasons[1].startswith("negative input_tokens")
    # The original record travels with every rejection.
    assert all(raw for *_, raw in quarantined)
    assert report.duplicates == 1
    assert report.skipped_files == ["2026-08-01/notes.txt"]
    assert report.rows_in == report.rows_kept + report.quarantined + report.duplicates == len(HOSTILE_JSONL) + 3


def test_rerunning_a_partition_replaces_it(tmp_path: Path) -> None:
    day_dir = tmp_path / "logs" / DAY.isoformat()
    day_dir.mkdir(parents=True)
    (day_dir / "a.jsonl").write_text(_row("r1") + "\n" + _row("bad", input_tokens=-1) + "\n")
    source = LocalDirectorySource(tmp_path / "logs")
    with connect(tmp_path / "w.duckdb") as con:
        ingest_day(con, source, DAY)
        ingest_day(con, source, DAY)
        counts = con.execute(
            "SELECT (SELECT count(*) FROM raw.llm_requests), (SELECT count(*) FROM raw.llm_requests_quarantine)"
        ).fetchone()
        (day_dir / "a.jsonl").write_text(_row("r2") + "\n")
        ingest_day(con, source, DAY)
        after = con.execute("SELECT request_id FROM raw.llm_requests").fetchall()
        quarantine_after = con.execute("SELECT count(*) FROM raw.llm_requests_quarantine").fetchone()[0]
    assert counts == (1, 1)
    assert after == [("r2",)] and quarantine_after == 0


def test_a_day_without_files_is_an_error_unless_the_run_allows_it(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    with connect(tmp_path / "w.duckdb") as con:
        with pytest.raises(NoLogFiles, match=f"{DAY}: no log files under .*allow_empty_days"):
            ingest_day(con, LocalDirectorySource(tmp_path / "logs"), DAY)
        report = ingest_day(con, LocalDirectorySource(tmp_path / "logs"), DAY, IngestPolicy(allow_empty_days=True))
    assert (report.files, report.rows_in, report.rows_kept) == (0, 0, 0)
