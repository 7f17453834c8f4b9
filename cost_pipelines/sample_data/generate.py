"""Deterministic multi-day LLM request logs, resampled from real public inference traces.

Token counts come from the Azure LLM inference traces (chat and code) and the Mooncake conversation trace
(long inputs whose shared prefixes give realistic cache reads and writes); intraday arrival jitter comes from
the Azure timestamps. Every day has its own random generator, so one day generated alone is byte-identical to
the same day generated inside a range. See sample_data/README.md for what the data contains.
"""

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

TRACES_DIR = Path(__file__).resolve().parents[2] / "sample_data" / "traces"
DEFAULT_START, DEFAULT_END, DEFAULT_SEED = date(2026, 8, 1), date(2026, 10, 15), 7  # ends mid-month
ANOMALY_DAY = date(2026, 10, 14)

TEAMS = {
    "search": ["search-api", "ranking"],
    "support": ["helpdesk-bot"],
    "research": ["deep-dive", "evals"],
    "platform": ["gateway"],
    "growth": ["lifecycle-emails", "onboarding"],
}
USERS = [(f"u-{i:02d}", list(TEAMS)[i % len(TEAMS)]) for i in range(1, 25)]
# Task type → (token source, [(provider, model, weight)]).
TASKS: dict[str, tuple[str, list[tuple[str, str, float]]]] = {
    "chat": ("conv", [("openai", "gpt-4o-2024-08-06", 4), ("anthropic", "claude-sonnet-4-5-20250929", 3),
                      ("google", "gemini-2.5-flash", 2), ("self-hosted", "llama-3.1-70b-instruct", 0.6)]),
    "code_review": ("code", [("openai", "gpt-4.1-2025-04-14", 4), ("anthropic", "claude-sonnet-4-5-20250929", 3),
                             ("openai", "o3-mini-2025-01-31", 2)]),
    "summarization": ("long", [("anthropic", "claude-3-5-haiku-20241022", 4), ("openai", "gpt-4o-mini-2024-07-18", 3),
                               ("google", "gemini-2.5-pro", 2), ("self-hosted", "qwen2.5-72b-experimental", 0.1)]),
    "classification": ("tiny", [("openai", "gpt-4o-mini-2024-07-18", 5), ("google", "gemini-2.5-flash", 3),
                                ("self-hosted", "llama-3.1-70b-instruct", 0.5)]),
    "extraction": ("code", [("openai", "gpt-4o-mini-2024-07-18", 3), ("anthropic", "claude-3-5-haiku-20241022", 3)]),
    "rag_answer": ("long", [("anthropic", "claude-sonnet-4-5-20250929", 4), ("openai", "gpt-4o-2024-08-06", 3),
                            ("google", "gemini-2.5-pro", 2)]),
}  # fmt: skip
TASK_WEIGHTS = {"chat": 5, "code_review": 2, "summarization": 2, "classification": 3, "extraction": 2, "rag_answer": 3}
WEEKDAY_FACTOR = [1.0, 1.02, 1.03, 1.0, 0.95, 0.45, 0.4]
MALFORMED_KINDS = ("negative", "non_numeric", "no_model", "bad_timestamp", "other_day", "cache_over_input")


@dataclass(frozen=True)
class Traces:
    conv: np.ndarray  # (n, 2) input, output
    code: np.ndarray
    long: np.ndarray  # (n, 4) input, output, cached prefix, new prefix
    offsets_ms: np.ndarray  # sub-second arrival jitter from the Azure timestamps


@cache
def load_traces() -> Traces:
    def azure(name: str) -> tuple[np.ndarray, np.ndarray]:
        rows = list(csv.DictReader((TRACES_DIR / name).open()))
        tokens = np.array([[int(r["ContextTokens"]), int(r["GeneratedTokens"])] for r in rows], dtype=np.int64)
        millis = np.array([int(r["TIMESTAMP"].split(".")[1][:3]) for r in rows], dtype=np.int64)
        return tokens, millis

    conv, conv_ms = azure("azure_llm_2023_conv.csv")
    code, _ = azure("azure_llm_2023_code.csv")
    with (TRACES_DIR / "mooncake_conversation.csv").open() as f:
        long = np.array(
            [[int(r["input_length"]), int(r["output_length"]), int(r["prefix_cached_tokens"]),
              int(r["new_prefix_tokens"])] for r in csv.DictReader(f)],
            dtype=np.int64,
        )  # fmt: skip
    return Traces(conv=conv, code=code, long=long, offsets_ms=conv_ms)


def _day_rng(seed: int, day: date) -> np.random.Generator:
    return np.random.default_rng([seed, day.toordinal()])


def _volume(day: date, rng: np.random.Generator) -> int:
    trend = 1 + 0.003 * (day - DEFAULT_START).days
    return int(1900 * WEEKDAY_FACTOR[day.weekday()] * trend * rng.normal(1, 0.04))


def _arrivals(day: date, n: int, rng: np.random.Generator, traces: Traces) -> list[datetime]:
    # Business-hours peak (14:00 UTC) over a flat floor; milliseconds from the real trace.
    seconds = np.where(rng.random(n) < 0.7, rng.normal(14 * 3600, 3.5 * 3600, n), rng.uniform(0, 86_400, n))
    seconds = np.clip(seconds, 0, 86_399).astype(np.int64)
    millis = rng.choice(traces.offsets_ms, n)
    start = datetime.combine(day, datetime.min.time(), UTC)
    return sorted(start + timedelta(seconds=int(s), milliseconds=int(m)) for s, m in zip(seconds, millis, strict=True))


@dataclass
class Request:
    request_id: str
    occurred_at: datetime
    provider: str
    model: str
    input_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    output_tokens: int
    reasoning_tokens: int
    user_id: str
    team: str
    project: str
    environment: str
    task_type: str
    latency_ms: int
    status: str


def _tokens(task: str, provider: str, model: str, rng: np.random.Generator, t: Traces) -> tuple[int, int, int, int]:
    """(total input, cache read, cache write, output) with each provider's cache behaviour."""
    source = TASKS[task][0]
    if source in ("conv", "tiny"):
        inp, out = t.conv[rng.integers(len(t.conv))]
        out = int(rng.integers(1, 6)) if source == "tiny" else out
        cached_prefix, new_prefix = 0, 0
    elif source == "code":
        inp, out = t.code[rng.integers(len(t.code))]
        cached_prefix, new_prefix = 0, 0
    else:
        inp, out, cached_prefix, new_prefix = t.long[rng.integers(len(t.long))]
        if task == "summarization":
            out = max(16, out // 3)
    inp, out = max(int(inp), 1), max(int(out), 1)
    if model in ("gemini-2.5-pro", "claude-sonnet-4-5-20250929") and rng.random() < 0.004:
        inp = int(rng.integers(200_001, 420_000))  # long-context tier
    read = write = 0
    if provider == "openai" and inp >= 1024 and cached_prefix:
        read = min(int(cached_prefix) // 128 * 128, inp // 128 * 128)
    elif provider == "anthropic" and source == "long":
        read, write = int(cached_prefix), int(new_prefix) if model.startswith("claude-sonnet") else 0
    elif provider == "google" and inp >= 4096 and rng.random() < 0.3:
        read = int(inp * rng.uniform(0.2, 0.7))
    write = min(write, inp - read)
    return inp, read, write, out


def _pick(options: list[tuple[str, str, float]], rng: np.random.Generator) -> tuple[str, str]:
    weights = np.array([w for *_, w in options], dtype=float)
    provider, model, _ = options[rng.choice(len(options), p=weights / weights.sum())]
    return provider, model


def _request(n: int, day: date, at: datetime, rng: np.random.Generator, t: Traces) -> Request:
    tasks = list(TASK_WEIGHTS)
    task_weights = np.array(list(TASK_WEIGHTS.values()), dtype=float)
    task = tasks[rng.choice(len(tasks), p=task_weights / task_weights.sum())]
    provider, model = _pick(TASKS[task][1], rng)
    user, team = USERS[int(rng.integers(len(USERS)))]
    inp, read, write, out = _tokens(task, provider, model, rng, t)
    reasoning = int(out * rng.uniform(0.3, 0.8)) if model.startswith("o3") else 0
    status = "error" if rng.random() < 0.02 else "success"
    if status == "error":
        out = int(rng.integers(0, 8))
        reasoning = min(reasoning, out)
    return Request(
        request_id=f"req_{day:%Y%m%d}_{n:06d}", occurred_at=at, provider=provider, model=model,
        input_tokens=inp, cache_read_tokens=read, cache_write_tokens=write, output_tokens=out,
        reasoning_tokens=reasoning, user_id=user, team=team, project=TEAMS[team][int(rng.integers(len(TEAMS[team])))],
        environment=str(rng.choice(["prod", "staging", "dev"], p=[0.85, 0.1, 0.05])), task_type=task,
        latency_ms=int(250 + out * rng.uniform(8, 25) + rng.exponential(300)), status=status,
    )  # fmt: skip


def _anomaly(day: date, rng: np.random.Generator, t: Traces, start: int) -> list[Request]:
    """2026-10-14: u-07's runaway summarization batch on claude-opus-4-1 (documented in sample_data/README.md)."""
    base = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=9)
    requests = []
    for i in range(150):
        inp, out, _, _ = t.long[rng.integers(len(t.long))]
        requests.append(Request(
            request_id=f"req_{day:%Y%m%d}_{start + i:06d}", occurred_at=base + timedelta(seconds=30 * i),
            provider="anthropic", model="claude-opus-4-1-20250805", input_tokens=int(inp), cache_read_tokens=0,
            cache_write_tokens=0, output_tokens=int(max(out, 200)), reasoning_tokens=0, user_id="u-07",
            team="research", project="deep-dive", environment="prod", task_type="summarization",
            latency_ms=int(8000 + rng.exponential(2000)), status="success",
        ))  # fmt: skip
    return requests


def plan_day(day: date, seed: int = DEFAULT_SEED) -> list[Request]:
    rng, traces = _day_rng(seed, day), load_traces()
    times = _arrivals(day, _volume(day, rng), rng, traces)
    requests = [_request(n, day, at, rng, traces) for n, at in enumerate(times)]
    if day == ANOMALY_DAY:
        requests += _anomaly(day, rng, traces, len(requests))
    return requests


# ---- writing: each request lands in exactly one file ---------------------------------------------------------


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _flat(r: Request) -> dict:
    return {"request_id": r.request_id, "occurred_at": _iso(r.occurred_at), "provider": r.provider, "model": r.model,
            "input_tokens": r.input_tokens, "cache_read_tokens": r.cache_read_tokens,
            "cache_write_tokens": r.cache_write_tokens, "output_tokens": r.output_tokens, "user_id": r.user_id,
            "team": r.team, "project": r.project, "environment": r.environment, "task_type": r.task_type,
            "latency_ms": r.latency_ms, "status": r.status, "reported_cost_usd": None}  # fmt: skip


def _envelope(r: Request, body: dict) -> dict:
    return {"occurred_at": _iso(r.occurred_at), "provider": r.provider, "user_id": r.user_id, "team": r.team,
            "project": r.project, "environment": r.environment, "task_type": r.task_type,
            "latency_ms": r.latency_ms, "status": r.status, "response": body}  # fmt: skip


def _openai_body(r: Request) -> dict:
    return {
        "id": r.request_id.replace("req_", "chatcmpl-"), "object": "chat.completion",
        "created": int(r.occurred_at.timestamp()), "model": r.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "…"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": r.input_tokens, "completion_tokens": r.output_tokens,
                  "total_tokens": r.input_tokens + r.output_tokens,
                  "prompt_tokens_details": {"cached_tokens": r.cache_read_tokens, "audio_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": r.reasoning_tokens, "audio_tokens": 0}},
    }  # fmt: skip


def _anthropic_body(r: Request) -> dict:
    uncached = r.input_tokens - r.cache_read_tokens - r.cache_write_tokens
    return {
        "id": r.request_id.replace("req_", "msg_"), "type": "message", "role": "assistant", "model": r.model,
        "content": [{"type": "text", "text": "…"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": uncached, "cache_creation_input_tokens": r.cache_write_tokens,
                  "cache_read_input_tokens": r.cache_read_tokens, "output_tokens": r.output_tokens},
    }  # fmt: skip


CSV_HEADER = ["id", "timestamp", "provider", "model", "prompt_tokens", "cached_tokens", "cache_write_tokens",
              "completion_tokens", "user", "team", "project", "env", "metric_name", "latency_ms", "status"]  # fmt: skip


def _csv_text(rows: list[Request]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for r in rows:
        writer.writerow([r.request_id, r.occurred_at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], r.provider, r.model,
                         r.input_tokens, r.cache_read_tokens, r.cache_write_tokens, r.output_tokens, r.user_id,
                         r.team, r.project, r.environment, r.task_type, r.latency_ms, r.status])  # fmt: skip
    return buffer.getvalue()


def _parquet(rows: list[Request], path: Path) -> None:
    flat = [_flat(r) for r in rows]
    columns: dict[str, pa.Array] = {}
    for name in flat[0] if flat else _flat(Request("", datetime.now(UTC), *[""] * 2, *[0] * 5, *[""] * 5, 0, "")):
        values = [f[name] for f in flat]
        if name == "occurred_at":
            columns[name] = pa.array([r.occurred_at for r in rows], pa.timestamp("ms", tz="UTC"))
        elif name.endswith(("_tokens", "_ms")):
            columns[name] = pa.array(values, pa.int64())
        elif name == "reported_cost_usd":
            columns[name] = pa.array(values, pa.decimal128(18, 10))
        else:
            columns[name] = pa.array(values, pa.string())
    pq.write_table(pa.table(columns), path, compression="zstd")


def _malform(line: dict, kind: str, day: date) -> dict:
    bad = dict(line)
    if kind == "negative":
        bad["output_tokens"] = -abs(int(bad["output_tokens"]) or 1)
    elif kind == "non_numeric":
        bad["input_tokens"] = "n/a"
    elif kind == "no_model":
        bad.pop("model")
    elif kind == "bad_timestamp":
        bad["occurred_at"] = "32/13/2026 25:61"
    elif kind == "other_day":
        bad["occurred_at"] = _iso(datetime.combine(day - timedelta(days=1), datetime.min.time(), UTC))
    elif kind == "cache_over_input":
        bad["cache_read_tokens"] = int(bad["input_tokens"]) + 100
    return bad


def generate_day(out_dir: Path, day: date, seed: int = DEFAULT_SEED) -> dict[str, int]:
    requests = plan_day(day, seed)
    rng = np.random.default_rng([seed, day.toordinal(), 1])
    raw_openai, raw_anthropic, jsonl, csv_rows, parquet_rows = [], [], [], [], []
    for r in requests:
        draw = rng.random()
        if r.provider == "openai" and draw < 0.6:
            raw_openai.append(r)
        elif r.provider == "anthropic" and draw < 0.6:
            raw_anthropic.append(r)
        else:
            pick = rng.random()
            (jsonl if pick < 0.4 else csv_rows if pick < 0.65 else parquet_rows).append(r)

    lines = [_flat(r) for r in jsonl]
    duplicates = [lines[i] for i in rng.choice(len(lines), max(1, len(lines) // 200), replace=False)]
    malformed = [_malform(lines[i], MALFORMED_KINDS[k % len(MALFORMED_KINDS)], day)
                 for k, i in enumerate(rng.choice(len(lines), max(1, len(lines) // 300), replace=False))]  # fmt: skip
    for m in malformed:
        m["request_id"] += "-bad"
    text_lines = [json.dumps(x, separators=(",", ":")) for x in lines + duplicates + malformed]
    truncated = day.weekday() == 2
    if truncated:
        text_lines.append(text_lines[0][: len(text_lines[0]) // 2])

    day_dir = out_dir / day.isoformat()
    day_dir.mkdir(parents=True, exist_ok=True)
    (day_dir / "requests.jsonl").write_text("\n".join(text_lines) + "\n")
    (day_dir / "requests.csv").write_text(_csv_text(csv_rows))
    _parquet(parquet_rows, day_dir / "requests.parquet")
    _write_jsonl(day_dir / "openai_chat_completions.jsonl", raw_openai, lambda r: _envelope(r, _openai_body(r)))
    _write_jsonl(day_dir / "anthropic_messages.jsonl", raw_anthropic, lambda r: _envelope(r, _anthropic_body(r)))
    return {"requests": len(requests), "duplicates": len(duplicates), "malformed": len(malformed) + truncated,
            "openai_bodies": len(raw_openai), "anthropic_bodies": len(raw_anthropic), "jsonl": len(jsonl),
            "csv": len(csv_rows), "parquet": len(parquet_rows)}  # fmt: skip


def _write_jsonl(path: Path, rows: list[Request], to_record: Callable[[Request], dict]) -> None:
    path.write_text("".join(json.dumps(to_record(r), separators=(",", ":"), ensure_ascii=False) + "\n" for r in rows))


def generate(out_dir: Path, start: date = DEFAULT_START, end: date = DEFAULT_END, seed: int = DEFAULT_SEED) -> dict:
    """Write one folder of log files per day in [start, end]; returns counts for the whole range."""
    totals: dict[str, int] = {"days": 0}
    day = start
    while day <= end:
        for key, value in generate_day(Path(out_dir), day, seed).items():
            totals[key] = totals.get(key, 0) + value
        totals["days"] += 1
        day += timedelta(days=1)
    return totals
