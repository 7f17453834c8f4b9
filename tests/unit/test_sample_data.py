"""The sample generator is deterministic, covers what the demo promises, and writes every accepted shape."""

import json
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq

from cost_pipelines.sample_data.generate import ANOMALY_DAY, DEFAULT_END, DEFAULT_START, generate, plan_day

FILES = ["anthropic_messages.jsonl", "openai_chat_completions.jsonl", "requests.csv", "requests.jsonl",
         "requests.parquet"]  # fmt: skip


def test_a_day_alone_equals_the_same_day_inside_a_range(tmp_path: Path) -> None:
    generate(tmp_path / "range", date(2026, 9, 1), date(2026, 9, 3))
    generate(tmp_path / "alone", date(2026, 9, 2), date(2026, 9, 2))
    for name in FILES:
        assert (tmp_path / "range/2026-09-02" / name).read_bytes() == (
            tmp_path / "alone/2026-09-02" / name
        ).read_bytes()


def test_every_shape_is_written_and_parseable(tmp_path: Path) -> None:
    generate(tmp_path, date(2026, 9, 2), date(2026, 9, 2))
    day = tmp_path / "2026-09-02"
    assert sorted(p.name for p in day.iterdir()) == FILES
    assert pq.read_table(day / "requests.parquet").num_rows > 0
    bodies = [json.loads(line) for line in (day / "anthropic_messages.jsonl").read_text().splitlines()]
    assert all(b["response"]["type"] == "message" for b in bodies)
    assert (day / "requests.csv").read_text().startswith("id,timestamp,provider,model,prompt_tokens")


def test_the_period_covers_what_the_demo_promises() -> None:
    days = [date.fromordinal(o) for o in range(DEFAULT_START.toordinal(), DEFAULT_END.toordinal() + 1)]
    plans = {d: plan_day(d) for d in [*days[::7], ANOMALY_DAY]}
    requests = [r for plan in plans.values() for r in plan]
    assert len(days) >= 75
    assert 5 <= DEFAULT_END.day <= 25  # ends mid-month: the first forecast and the last budget periods are not over
    assert len({r.provider for r in requests}) >= 3
    assert len({r.model for r in requests}) >= 8
    assert len({r.user_id for r in requests}) >= 20 and len({r.team for r in requests}) >= 4
    assert len({r.task_type for r in requests}) >= 5
    assert any(r.cache_read_tokens for r in requests) and any(r.cache_write_tokens for r in requests)
    assert any(r.input_tokens > 200_000 for r in requests)
    # Weekly seasonality: a Sunday has well under half a weekday's requests.
    assert len(plan_day(date(2026, 9, 6))) < 0.6 * len(plan_day(date(2026, 9, 2)))
    opus = {d: sum(r.model.startswith("claude-opus") for r in p) for d, p in plans.items()}
    assert opus[ANOMALY_DAY] >= 150 and max(v for d, v in opus.items() if d != ANOMALY_DAY) == 0
