"""Provider bodies read in SQL give exactly what genai-prices' extractors give in Python, body by body; the bodies
SQL does not vouch for are read by Python and counted."""

import json
from datetime import date
from pathlib import Path

from cost_pipelines.ingest.canonical import FIELDS
from cost_pipelines.ingest.load import ingest_day
from cost_pipelines.ingest.provider_bodies import UnreadableBody, body_to_fields
from cost_pipelines.ingest.sources import LocalDirectorySource
from cost_pipelines.warehouse import connect

DAY = date(2026, 8, 1)
CREATED = 1785578400  # 2026-08-01T10:00:00Z


def _chat(i: int, **usage: object) -> dict:
    choices = [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]
    return {"id": f"chatcmpl-{i}", "object": "chat.completion", "created": CREATED + i, "model": "gpt-4o-2024-08-06",
            "choices": choices, "usage": {"prompt_tokens": 1200 + i, "completion_tokens": 350, **usage}}  # fmt: skip


def _responses(i: int, **usage: object) -> dict:
    return {"id": f"resp_{i}", "object": "response", "created_at": CREATED + i, "model": "gpt-4.1-2025-04-14",
            "output": [], "usage": {"input_tokens": 900 + i, "output_tokens": 80, "total_tokens": 980 + i,
                                    "input_tokens_details": {"cached_tokens": 512},
                                    "output_tokens_details": {"reasoning_tokens": 0}, **usage}}  # fmt: skip


def _message(i: int, **usage: object) -> dict:
    return {"id": f"msg_{i}", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
            "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn",
            "usage": {"input_tokens": 100 + i, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 200,
                      "output_tokens": 50, **usage}}  # fmt: skip


def _envelope(body: dict, key: str = "response", **fields: object) -> dict:
    return {"occurred_at": "2026-08-01T12:00:00Z", "user_id": "u-1", "team": "search", "task_type": "chat",
            key: body, **fields}  # fmt: skip


# SQL reads these itself: whole counts, text attributes, epoch seconds.
SQL_READS = [
    _chat(1),
    _chat(
        2,
        prompt_tokens_details={"cached_tokens": 1024, "audio_tokens": 0},
        completion_tokens_details={"reasoning_tokens": 64, "audio_tokens": 0},
    ),
    {**_chat(3), "object": "chat.completion.chunk"},
    _envelope(_chat(4, prompt_tokens_details=None)),
    _envelope(_chat(5), "body", provider="Azure", project="p-1", latency_ms=812, status="ok"),
    _envelope(_responses(6)),
    _envelope(_responses(7, input_tokens_details={"cached_tokens": 0, "cache_write_tokens": 64})),
    _envelope(_message(8), provider="anthropic", request_id="own-id-8"),
    _envelope(_message(9, cache_read_input_tokens=None, cache_creation_input_tokens=0)),
    _envelope({**_message(10), "usage": {"input_tokens": 7, "output_tokens": 3}}, environment="prod"),
    _envelope(_message(11), user_id=42, occurred_at="2026-08-01T23:59:59.999+00:00"),
    _envelope(_chat(12, prompt_tokens_details={"cached_tokens": "many"})),  # ignored by the extractor: not a count
    {**_chat(13), "model": None},
    {
        **_chat(
            14,
            prompt_tokens_details={"cached_tokens": 0, "audio_tokens": 600},
            completion_tokens_details={"audio_tokens": 300},
        ),
        "model": "gpt-audio-2025-08-28",
    },
]
# Python reads these: values whose reading SQL does not vouch for, or shapes it does not know.
PYTHON_READS = [
    _envelope(_chat(20, completion_tokens=12.0)),
    _envelope(_chat(21, prompt_tokens_details={"cached_tokens": -1})),
    _envelope(_chat(22, prompt_tokens_details={"cached_tokens": True})),
    _envelope(_chat(23), team=True),
    {**_chat(24), "created": CREATED + 24.5},
    _envelope(_message(25, input_tokens="100")),
    _envelope({**_message(26), "usage": {"output_tokens": 5}}),
    _envelope({"object": "embedding.list", "usage": {"prompt_tokens": 5}}),
    {"type": "message_delta", "usage": {"output_tokens": 15}},
    _envelope(_chat(27), provider=0),
]


def _python_fields(line: str) -> dict[str, str | None] | str:
    try:
        fields = body_to_fields(line)
    except UnreadableBody as exc:
        return str(exc)
    return {f: (v.strip() or None) if v is not None else None for f, v in fields.items()}


def _ingest(tmp_path: Path, name: str, lines: list[str]) -> tuple[dict[int, tuple], dict[int, str], int]:
    day_dir = tmp_path / name / "logs" / DAY.isoformat()
    day_dir.mkdir(parents=True)
    (day_dir / "bodies.jsonl").write_text("".join(line + "\n" for line in lines))
    with connect(tmp_path / name / "w.duckdb") as con:
        report = ingest_day(con, LocalDirectorySource(day_dir.parent), DAY)
        columns = ", ".join(c for c in FIELDS if c != "reported_cost_usd")
        # keyed by request id: rows kept from a JSON file read in parallel carry no line number
        rows = {r[0]: r for r in con.execute(f"SELECT {columns} FROM raw.llm_requests").fetchall()}
        reasons = dict(con.execute("SELECT row_number, reason FROM raw.llm_requests_quarantine").fetchall())
    return rows, reasons, report.read_in_python


def test_sql_and_python_read_every_body_the_same(tmp_path: Path) -> None:
    lines = [json.dumps(b) for b in SQL_READS + PYTHON_READS]
    rows, reasons, read_in_python = _ingest(tmp_path, "bodies", lines)
    # The oracle: each line read by genai-prices' extractors in Python, written as a flat record, ingested.
    expected = [_python_fields(line) for line in lines]
    flat = [json.dumps(e) if isinstance(e, dict) else "[]" for e in expected]
    oracle_rows, oracle_reasons, _ = _ingest(tmp_path, "oracle", flat)
    for number, outcome in enumerate(expected, start=1):
        if isinstance(outcome, str):  # refused by the extractor: the same reason
            assert reasons[number] == outcome, number
        elif number in oracle_reasons:
            assert reasons[number] == oracle_reasons[number], number
        else:
            assert number not in reasons, number
    assert rows == oracle_rows
    assert len(rows) >= len(SQL_READS) - 1
    audio = dict(zip([c for c in FIELDS if c != "reported_cost_usd"], rows["chatcmpl-14"], strict=True))
    assert (audio["input_tokens"], audio["input_audio_tokens"], audio["output_audio_tokens"]) == (1214, 600, 300)
    assert read_in_python == len(PYTHON_READS)


def test_a_file_of_ordinary_bodies_never_reaches_python(tmp_path: Path) -> None:
    bodies = [_envelope(_chat(i)) for i in range(50)] + [_envelope(_message(100 + i)) for i in range(50)]
    rows, reasons, read_in_python = _ingest(tmp_path, "plain", [json.dumps(b) for b in bodies])
    assert (len(rows), reasons, read_in_python) == (100, {}, 0)
    # Anthropic input is the total: its input_tokens (100 + 100) + 1,000 cache reads + 200 cache writes
    by_id = {r[0]: r for r in rows.values()}
    assert by_id["msg_100"][4:9] == (1400, 1000, 200, 0, 50)  # no 1-hour cache writes
