"""Native records: each shape's conventions, and its bad records quarantined with the reason a flat record gets."""

import json
from datetime import date
from pathlib import Path

from cost_pipelines.ingest.load import ingest_day
from cost_pipelines.ingest.record_shapes import RECORD_SHAPES, paths_of
from cost_pipelines.ingest.sources import LocalDirectorySource
from cost_pipelines.warehouse import connect

DAY = date(2026, 8, 1)
COLUMNS = ("request_id", "provider", "model", "input_tokens", "cache_read_tokens", "cache_write_tokens",
           "output_tokens", "status", "latency_ms")  # fmt: skip


def _ingest(tmp_path: Path, name: str, records: list[dict]) -> tuple[dict[str, dict], list[tuple]]:
    day_dir = tmp_path / "logs" / DAY.isoformat()
    day_dir.mkdir(parents=True)
    (day_dir / name).write_text("".join(json.dumps(r) + "\n" for r in records))
    with connect(tmp_path / "w.duckdb") as con:
        ingest_day(con, LocalDirectorySource(tmp_path / "logs"), DAY)
        rows = con.execute(f"SELECT {', '.join(COLUMNS)} FROM raw.llm_requests").fetchall()
        quarantined = con.execute("SELECT row_number, reason FROM raw.llm_requests_quarantine ORDER BY 1").fetchall()
    return {r[0]: dict(zip(COLUMNS, r, strict=True)) for r in rows}, quarantined


def _bedrock(rid: str, **inputs: object) -> dict:
    return {"schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": "2026-08-01T10:00:00Z",
            "requestId": rid, "modelId": "anthropic.claude-3-5-haiku-20241022-v1:0", "operation": "InvokeModel",
            "input": inputs, "output": {"outputTokenCount": 7}}  # fmt: skip


def test_bedrock_cache_counts_are_added_and_bad_counts_quarantined(tmp_path: Path) -> None:
    rows, quarantined = _ingest(tmp_path, "bedrock.json", [
        _bedrock("ok", inputTokenCount=3, cacheReadInputTokenCount=100, cacheWriteInputTokenCount=40),
        _bedrock("text", inputTokenCount="many"),
        _bedrock("none"),
        _bedrock("bad-cache", inputTokenCount=3, cacheReadInputTokenCount=-1),
    ])  # fmt: skip
    assert rows["ok"] | {} == {"request_id": "ok", "provider": "aws-bedrock",
                               "model": "anthropic.claude-3-5-haiku-20241022-v1:0", "input_tokens": 143,
                               "cache_read_tokens": 100, "cache_write_tokens": 40, "output_tokens": 7,
                               "status": "success", "latency_ms": None}  # fmt: skip
    assert quarantined == [
        (2, "non-numeric input_tokens: many"),
        (3, "missing input_tokens"),
        (4, "negative cache_read_tokens: -1"),
    ]


def test_litellm_versions_that_leave_cache_writes_out_of_prompt_tokens(tmp_path: Path) -> None:
    base = {"call_type": "acompletion", "spend": 0.01, "startTime": "2026-08-01T10:00:00Z",
            "endTime": "2026-08-01T10:00:01.250Z", "model": "claude-3-5-sonnet-20241022",
            "custom_llm_provider": "anthropic", "completion_tokens": 10, "status": "success"}  # fmt: skip
    usage = {"cache_read_input_tokens": 5000, "cache_creation_input_tokens": 12304,
             "prompt_tokens_details": {"cached_tokens": 5000}}  # fmt: skip
    rows, quarantined = _ingest(tmp_path, "spend.jsonl", [
        # prompt_tokens = uncached 3 + cache reads: the cache writes are added
        base | {"request_id": "old", "prompt_tokens": 5003, "metadata": {"usage_object": usage}},
        # prompt_tokens hold every input token already
        base | {"request_id": "new", "prompt_tokens": 17307, "metadata": {"usage_object": usage}},
        # the uncached input is reported: exact whatever prompt_tokens hold
        base | {"request_id": "text", "prompt_tokens": 5003, "metadata": {"usage_object": usage | {
            "prompt_tokens_details": {"cached_tokens": 5000, "text_tokens": 3}}}},
    ])  # fmt: skip
    assert quarantined == []
    assert {rid: r["input_tokens"] for rid, r in rows.items()} == {"old": 17307, "new": 17307, "text": 17307}
    assert rows["old"]["latency_ms"] == 1250 and rows["old"]["cache_write_tokens"] == 12304


def test_langfuse_export_rows_name_no_provider(tmp_path: Path) -> None:
    base = {"type": "GENERATION", "start_time": "2026-08-01 10:00:00.000000", "latency": 1.5,
            "usage_details": {"input": 10, "output": 5}}  # fmt: skip
    rows, quarantined = _ingest(tmp_path, "observations.jsonl", [
        base | {"id": "a", "provided_model_name": "gpt-4o-mini"},
        base | {"id": "b", "provided_model_name": "mistralai/mistral-small"},
        base | {"id": "c", "provided_model_name": "my-finetune"},
        base | {"id": "d"},
    ])  # fmt: skip
    assert {rid: r["provider"] for rid, r in rows.items()} == {"a": "openai", "b": "mistral", "c": "unknown"}
    assert rows["a"]["latency_ms"] == 1500
    assert quarantined == [(4, "missing provider")]


def test_langfuse_usage_types_add_up_to_input_and_output(tmp_path: Path) -> None:
    base = {"type": "GENERATION", "startTime": "2026-08-01T10:00:00Z", "model": "gpt-4o-mini"}
    rows, quarantined = _ingest(tmp_path, "observations.jsonl", [
        # every type named `input…` is input and every `output…` output, whatever the integration calls them
        base | {"id": "langchain", "usageDetails": {"input": 10, "input_cache_read": 4, "input_audio": 6,
                                                   "output": 5, "output_reasoning": 20, "total": 45}},
        base | {"id": "openai", "usageDetails": {"input": 10, "input_cached_tokens": 4, "output": 5,
                                                "output_reasoning_tokens": 20, "output_audio_tokens": 2}},
        base | {"id": "no-output", "usageDetails": {"input": 10, "total": 10}},
        base | {"id": "bad", "usageDetails": {"input": 10, "input_audio": "lots", "output": 5}},
        base | {"id": "fraction", "usage_details": {"input": 10, "output": 5, "output_reasoning": 1.5}},
    ])  # fmt: skip
    assert {rid: (r["input_tokens"], r["cache_read_tokens"], r["output_tokens"]) for rid, r in rows.items()} == {
        "langchain": (20, 4, 25), "openai": (14, 4, 27)}  # fmt: skip
    assert quarantined == [
        (3, "missing output_tokens"),
        (4, "non-numeric input_tokens: lots"),
        (5, "non-numeric output_tokens: 1.5"),
    ]


def test_every_shape_reads_its_detection_keys() -> None:
    for shape in RECORD_SHAPES:
        assert shape.detect[0] in paths_of(shape)
        assert shape.schema and set(shape.fields) >= {"request_id", "occurred_at", "model", "input_tokens"}
