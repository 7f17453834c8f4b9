"""Each accepted log shape normalises to the same canonical record; cache tokens are never counted twice."""

import json
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cost_pipelines.ingest.load import ingest_day
from cost_pipelines.ingest.sources import LocalDirectorySource
from cost_pipelines.warehouse import connect

DAY = date(2026, 8, 1)
CANONICAL = ("request_id", "provider", "model", "input_tokens", "cache_read_tokens", "cache_write_tokens",
             "output_tokens", "user_id", "team", "task_type", "status")  # fmt: skip


def ingest(tmp_path: Path, files: dict[str, str | bytes]) -> tuple[list[dict], list[tuple]]:
    day_dir = tmp_path / "logs" / DAY.isoformat()
    day_dir.mkdir(parents=True)
    for name, content in files.items():
        target = day_dir / name
        target.write_bytes(content) if isinstance(content, bytes) else target.write_text(content)
    with connect(tmp_path / "w.duckdb") as con:
        ingest_day(con, LocalDirectorySource(tmp_path / "logs"), DAY)
        result = con.execute(f"SELECT {', '.join(CANONICAL)} FROM raw.llm_requests ORDER BY request_id")
        rows = [dict(zip(CANONICAL, r, strict=True)) for r in result.fetchall()]
        quarantine = con.execute("SELECT source, row_number, reason FROM raw.llm_requests_quarantine").fetchall()
    return rows, quarantine


def test_flat_jsonl_with_canonical_names(tmp_path: Path) -> None:
    line = {"request_id": "r1", "occurred_at": "2026-08-01T10:00:00Z", "provider": "OpenAI", "model": "gpt-4o",
            "input_tokens": 1200, "cache_read_tokens": 256, "output_tokens": 350, "user_id": "u-1", "team": "search",
            "task_type": "chat", "status": "success"}  # fmt: skip
    rows, quarantine = ingest(tmp_path, {"a.jsonl": json.dumps(line) + "\n"})
    assert quarantine == []
    assert rows == [{"request_id": "r1", "provider": "openai", "model": "gpt-4o", "input_tokens": 1200,
                     "cache_read_tokens": 256, "cache_write_tokens": 0, "output_tokens": 350, "user_id": "u-1",
                     "team": "search", "task_type": "chat", "status": "success"}]  # fmt: skip


def test_csv_with_aliases(tmp_path: Path) -> None:
    csv = (
        "id,timestamp,provider,model,prompt_tokens,cached_tokens,completion_tokens,user,team,metric_name,status\n"
        "c1,2026-08-01 09:00:00,anthropic,claude-3-5-haiku-20241022,900,100,40,u-2,support,classification,ok\n"
    )
    rows, quarantine = ingest(tmp_path, {"b.csv": csv})
    assert quarantine == []
    assert rows[0] | {} == {"request_id": "c1", "provider": "anthropic", "model": "claude-3-5-haiku-20241022",
                            "input_tokens": 900, "cache_read_tokens": 100, "cache_write_tokens": 0,
                            "output_tokens": 40, "user_id": "u-2", "team": "support", "task_type": "classification",
                            "status": "success"}  # fmt: skip


def test_parquet_typed_and_gzip_jsonl(tmp_path: Path) -> None:
    import gzip

    table = pa.table({
        "request_id": ["p1"], "occurred_at": pa.array([1785578400_000_000], pa.timestamp("us", tz="UTC")),
        "provider": ["google"], "model": ["gemini-2.5-pro"], "input_tokens": pa.array([250_000], pa.int64()),
        "cache_read_tokens": pa.array([0], pa.int64()), "cache_write_tokens": pa.array([0], pa.int64()),
        "output_tokens": pa.array([1000], pa.int64()), "user_id": ["u-3"], "team": ["research"],
        "task_type": ["rag_answer"], "status": ["error"],
    })  # fmt: skip
    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer)
    gz_line = json.dumps({"request_id": "g1", "occurred_at": 1785578400, "provider": "openai", "model": "gpt-4o",
                          "prompt_tokens": 10, "completion_tokens": 5})  # fmt: skip
    rows, quarantine = ingest(
        tmp_path, {"c.parquet": buffer.getvalue().to_pybytes(), "d.jsonl.gz": gzip.compress(gz_line.encode())}
    )
    assert quarantine == []
    assert [(r["request_id"], r["input_tokens"], r["output_tokens"], r["status"]) for r in rows] == [
        ("g1", 10, 5, "success"),
        ("p1", 250_000, 1000, "error"),
    ]


def test_openai_body_cached_tokens_are_inside_prompt_tokens(tmp_path: Path) -> None:
    body = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1785578400, "model": "gpt-4o-2024-08-06",
            "choices": [], "usage": {"prompt_tokens": 1200, "completion_tokens": 350, "total_tokens": 1550,
                                     "prompt_tokens_details": {"cached_tokens": 256},
                                     "completion_tokens_details": {"reasoning_tokens": 100}}}  # fmt: skip
    envelope = {"user_id": "u-4", "team": "growth", "task_type": "chat", "response": body}
    rows, quarantine = ingest(tmp_path, {"openai.jsonl": json.dumps(envelope) + "\n" + json.dumps(body) + "\n"})
    # The bare body repeats the id without the envelope's allocation: kept once, the other kept aside, not lost.
    assert [q[2] for q in quarantine] == [
        "request_id chatcmpl-1 repeats 2026-08-01/openai.jsonl:1 with different values"
    ]
    first = rows[0]
    # 1200 total input, of which 256 cached: nothing added, nothing subtracted twice.
    assert (first["input_tokens"], first["cache_read_tokens"], first["output_tokens"]) == (1200, 256, 350)
    assert (first["provider"], first["user_id"], first["team"]) == ("openai", "u-4", "growth")


def test_anthropic_body_cache_tokens_are_added_to_input(tmp_path: Path) -> None:
    body = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
            "content": [], "usage": {"input_tokens": 100, "cache_read_input_tokens": 1000,
                                     "cache_creation_input_tokens": 200, "output_tokens": 50}}  # fmt: skip
    envelope = {"occurred_at": "2026-08-01T11:00:00Z", "provider": "anthropic", "team": "research", "response": body}
    rows, quarantine = ingest(tmp_path, {"anthropic.jsonl": json.dumps(envelope) + "\n"})
    assert quarantine == []
    row = rows[0]
    # Anthropic's input_tokens excludes cache reads and writes: the canonical total is 100 + 1000 + 200.
    assert (row["input_tokens"], row["cache_read_tokens"], row["cache_write_tokens"]) == (1300, 1000, 200)
    assert (row["request_id"], row["model"], row["output_tokens"]) == ("msg_1", "claude-sonnet-4-5-20250929", 50)


def test_bare_anthropic_body_without_timestamp_is_quarantined(tmp_path: Path) -> None:
    body = {"id": "msg_2", "type": "message", "model": "claude-3-5-haiku-20241022",
            "usage": {"input_tokens": 1, "output_tokens": 1}}  # fmt: skip
    rows, quarantine = ingest(tmp_path, {"a.jsonl": json.dumps(body) + "\n"})
    assert rows == []
    assert [q[2] for q in quarantine] == ["missing occurred_at"]


@pytest.mark.parametrize("status", ["success", "ok", "200", None])
def test_success_spellings(tmp_path: Path, status: str | None) -> None:
    line = {"request_id": "s", "occurred_at": "2026-08-01T00:00:00Z", "provider": "openai", "model": "gpt-4o",
            "input_tokens": 1, "output_tokens": 1, "status": status}  # fmt: skip
    rows, _ = ingest(tmp_path, {"a.jsonl": json.dumps(line) + "\n"})
    assert rows[0]["status"] == "success"


def test_one_provider_id_whatever_a_tool_calls_it(tmp_path: Path) -> None:
    names = ["bedrock", "Amazon-Bedrock", "aws-bedrock", "vertex_ai", "Gemini", "xai", "OpenAI"]
    lines = [
        json.dumps(
            {
                "request_id": f"r{i}",
                "occurred_at": "2026-08-01T10:00:00Z",
                "provider": name,
                "model": "m",
                "input_tokens": 1,
                "output_tokens": 1,
            }
        )
        for i, name in enumerate(names)
    ]
    rows, quarantine = ingest(tmp_path, {"a.jsonl": "\n".join(lines) + "\n"})
    assert quarantine == []
    assert [r["provider"] for r in rows] == [
        "aws-bedrock", "aws-bedrock", "aws-bedrock", "google-vertex", "google", "x-ai", "openai",
    ]  # fmt: skip
