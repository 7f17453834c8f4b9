"""An independent Decimal computation of daily LLM cost straight from the log files (no pipeline code).

Reads every shape with the standard library and pyarrow, applies the documented validity rules, keeps the
first copy of each request id, and prices each request with genai_prices.calc_price (or the shipped override).
"""

import csv
import gzip
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
from genai_prices import Usage, calc_price

GENAI_PROVIDER = {"aws-bedrock": "aws", "azure-openai": "azure"}
OVERRIDES = {("self-hosted", "llama-3.1-70b-instruct"): (Decimal("0.20"), Decimal("0.20"), date(2026, 1, 1))}
FLAT_ALIASES = {
    "request_id": ("request_id", "id"),
    "occurred_at": ("occurred_at", "timestamp"),
    "input_tokens": ("input_tokens", "prompt_tokens"),
    "cache_read_tokens": ("cache_read_tokens", "cached_tokens"),
    "cache_write_tokens": ("cache_write_tokens",),
    "output_tokens": ("output_tokens", "completion_tokens"),
}


@dataclass
class DayCost:
    requests: int = 0
    priced_cost: Decimal = Decimal(0)
    unpriced: int = 0


def _open_text(path: Path) -> str:
    data = path.read_bytes()
    return (gzip.decompress(data) if path.name.endswith(".gz") else data).decode()


def _flat(record: dict) -> dict | None:
    out = {field: next((record[a] for a in aliases if record.get(a) not in (None, "")), None)
           for field, aliases in FLAT_ALIASES.items()}  # fmt: skip
    out["provider"] = (record.get("provider") or "").strip().lower() or None
    out["model"] = (record.get("model") or "").strip() or None
    out["task_type"] = record.get("task_type") or record.get("metric_name")
    return out


def _body(record: dict) -> dict | None:
    body = record.get("response") if isinstance(record.get("response"), dict) else record
    usage = body.get("usage") or {}
    if body.get("type") == "message":
        read, write = usage.get("cache_read_input_tokens") or 0, usage.get("cache_creation_input_tokens") or 0
        tokens = (usage["input_tokens"] + read + write, read, write, usage["output_tokens"])
        provider = record.get("provider") or "anthropic"
    elif body.get("object") == "chat.completion":
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        tokens = (usage["prompt_tokens"], cached, 0, usage["completion_tokens"])
        provider = record.get("provider") or "openai"
    else:
        return None
    occurred = record.get("occurred_at") or datetime.fromtimestamp(body["created"], UTC).isoformat()
    return {"request_id": record.get("request_id") or body.get("id"), "occurred_at": occurred, "provider": provider,
            "model": record.get("model") or body.get("model"), "input_tokens": tokens[0],
            "cache_read_tokens": tokens[1], "cache_write_tokens": tokens[2], "output_tokens": tokens[3],
            "task_type": record.get("task_type")}  # fmt: skip


def _records(path: Path) -> list[dict | None]:
    name = path.name.removesuffix(".gz")
    if name.endswith(".parquet"):
        return [_flat({k: (str(v) if v is not None else None) for k, v in row.items()})
                for row in pq.read_table(path).to_pylist()]  # fmt: skip
    if name.endswith(".csv"):
        return [_flat(row) for row in csv.DictReader(_open_text(path).splitlines())]
    records: list[dict | None] = []
    for line in _open_text(path).splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            records.append(None)
            continue
        is_body = isinstance(record, dict) and any(isinstance(record.get(k), dict) for k in ("response", "usage"))
        records.append(_body(record) if is_body else _flat(record) if isinstance(record, dict) else None)
    return records


def _count(value: object) -> int | None:
    text = str(value).strip() if value is not None else ""
    whole = text.split(".")[0] if text.count(".") == 1 and set(text.split(".")[1]) <= {"0"} else text
    return int(whole) if whole.lstrip("-").isdigit() else None


def _timestamp(value: object) -> datetime | None:
    text = str(value or "").strip()
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text), UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def price(provider: str, model: str, at: datetime, tokens: dict[str, int]) -> Decimal | None:
    override = OVERRIDES.get((provider, model))
    if override is not None and at.date() >= override[2]:
        return (tokens["input_tokens"] * override[0] + tokens["output_tokens"] * override[1]) / 1_000_000
    try:
        usage = Usage(**tokens)
        return calc_price(usage, model, provider_id=GENAI_PROVIDER.get(provider, provider),
                          genai_request_timestamp=at).total_price  # fmt: skip
    except LookupError:
        return None


@dataclass(frozen=True)
class ValidRequest:
    provider: str
    model: str
    at: datetime
    tokens: dict[str, int]
    task_type: str | None


def valid_requests(logs: Path, day: date) -> Iterator[ValidRequest]:
    """The day's requests that pass the documented validity rules, first copy of each request id only."""
    seen: set[str] = set()
    for path in sorted((logs / day.isoformat()).iterdir()):
        for record in _records(path):
            if record is None or not record["provider"] or not record["model"]:
                continue
            at = _timestamp(record["occurred_at"])
            tokens = {
                k: _count(record[k]) if record[k] is not None else None
                for k in ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens")
            }
            for optional in ("cache_read_tokens", "cache_write_tokens"):
                tokens[optional] = tokens[optional] or 0
            if at is None or at.astimezone(UTC).date() != day or any(v is None or v < 0 for v in tokens.values()):
                continue
            if tokens["cache_read_tokens"] + tokens["cache_write_tokens"] > tokens["input_tokens"]:
                continue
            if record["request_id"] in seen:
                continue
            seen.add(record["request_id"])
            yield ValidRequest(record["provider"], record["model"], at, tokens, record.get("task_type") or None)


def daily_costs(logs: Path, days: list[date]) -> dict[date, DayCost]:
    result: dict[date, DayCost] = defaultdict(DayCost)
    for day in days:
        for r in valid_requests(logs, day):
            cost = price(r.provider, r.model, r.at, r.tokens)
            result[day].requests += 1
            if cost is None:
                result[day].unpriced += 1
            else:
                result[day].priced_cost += cost
    return dict(result)
