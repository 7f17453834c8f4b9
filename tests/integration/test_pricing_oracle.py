"""The pipeline's point-in-time prices equal genai-prices' own calc_price, request by request."""

import json
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price

from cost_pipelines.ingest.load import ingest_day
from cost_pipelines.ingest.sources import LocalDirectorySource
from cost_pipelines.pricing.load import write_prices
from cost_pipelines.pricing.model_resolution import PROVIDER_IDS
from cost_pipelines.pricing.price_table import export_price_rows
from cost_pipelines.warehouse import connect
from tests.conftest import priced_request_costs

# Raw model strings as providers report them, chosen for price changes (o3, claude-opus-4-6, mistral-large-4,
# gemini-3-pro-preview, deepseek-v4-pro), long-context tiers (claude-sonnet-4-5, gemini-2.5-pro), off-peak
# time-of-day prices (deepseek) and cache writes (Anthropic).
MODELS = [
    ("openai", "gpt-4o-2024-08-06"),
    ("openai", "gpt-4o-mini-2024-07-18"),
    ("openai", "o3-2025-04-16"),
    ("anthropic", "claude-sonnet-4-5-20250929"),
    ("anthropic", "claude-3-5-haiku-20241022"),
    ("anthropic", "claude-opus-4-6"),
    ("google", "gemini-2.5-pro"),
    ("google", "gemini-3-pro-preview"),
    ("mistral", "mistral-large-4"),
    ("deepseek", "deepseek-v4-pro"),
    ("deepseek", "deepseek-chat"),
    ("aws-bedrock", "anthropic.claude-3-5-sonnet-20241022-v2:0"),
]
# Days on both sides of the price changes of the models above.
DAYS = [date(2025, 6, 9), date(2025, 6, 10), date(2026, 1, 4), date(2026, 1, 5), date(2026, 3, 12),
        date(2026, 3, 13), date(2026, 8, 16), date(2026, 8, 17), date(2026, 10, 19), date(2026, 10, 20),
        date(2026, 10, 29), date(2026, 11, 2)]  # fmt: skip
REQUESTS_PER_DAY = 100


def _usage(rng: random.Random) -> dict[str, int]:
    long_context = rng.random() < 0.1
    input_tokens = rng.randint(200_001, 400_000) if long_context else rng.randint(1, 150_000)
    cache_read = rng.randint(0, input_tokens // 2) if rng.random() < 0.5 else 0
    cache_write = rng.randint(0, (input_tokens - cache_read) // 2) if rng.random() < 0.3 else 0
    return {
        "input_tokens": input_tokens,
        "cache_read_tokens": cache_read,
        "cache_write_tokens": cache_write,
        "output_tokens": rng.randint(0, 20_000),
    }


def _write_logs(root: Path) -> list[dict]:
    rng = random.Random(20261123)
    rows = []
    for day in DAYS:
        lines = []
        for n in range(REQUESTS_PER_DAY):
            provider, model = MODELS[(n + day.toordinal()) % len(MODELS)]
            at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(seconds=rng.randint(0, 86_399))
            row = {"request_id": f"{day}-{n}", "occurred_at": at.isoformat(), "provider": provider, "model": model,
                   **_usage(rng)}  # fmt: skip
            lines.append(json.dumps(row))
            rows.append(row)
        (root / day.isoformat()).mkdir(parents=True)
        (root / day.isoformat() / "requests.jsonl").write_text("\n".join(lines) + "\n")
    return rows


def _expected_cost(row: dict) -> Decimal:
    usage = Usage(**{k: row[k] for k in ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens")})
    provider_id = PROVIDER_IDS.get(row["provider"], row["provider"])
    at = datetime.fromisoformat(row["occurred_at"])
    return calc_price(usage, row["model"], provider_id=provider_id, genai_request_timestamp=at).total_price


@pytest.fixture(scope="module")
def priced(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], dict[str, Decimal | None]]:
    tmp = tmp_path_factory.mktemp("oracle")
    rows = _write_logs(tmp / "logs")
    db = tmp / "warehouse.duckdb"
    with connect(db) as con:
        write_prices(con, export_price_rows())
        for day in DAYS:
            report = ingest_day(con, LocalDirectorySource(tmp / "logs"), day)
            assert report.quarantined == 0, report.quarantine_reasons
    costs = priced_request_costs(db)
    return rows, costs


def test_every_request_matches_calc_price(priced: tuple[list[dict], dict[str, Decimal | None]]) -> None:
    rows, costs = priced
    assert len(rows) >= 1000 and len({(r["provider"], r["model"]) for r in rows}) >= 10
    mismatches = []
    for row in rows:
        expected, actual = _expected_cost(row), costs[row["request_id"]]
        if actual is None or abs(actual - expected) > Decimal("1e-9"):
            mismatches.append((row["request_id"], row["model"], row["occurred_at"], expected, actual))
    assert not mismatches, mismatches[:10]


def test_the_sample_spans_tiers_cache_writes_and_price_changes(priced: tuple[list[dict], dict]) -> None:
    rows, _ = priced
    assert sum(r["input_tokens"] > 200_000 for r in rows) >= 50
    assert sum(r["cache_write_tokens"] > 0 for r in rows) >= 100
    prices_by_model: dict[tuple[str, str], set[str]] = {}
    for r in rows:
        prices_by_model.setdefault((r["provider"], r["model"]), set()).add(_price_of(r))
    changed = [model for model, prices in prices_by_model.items() if len(prices) > 1]
    assert len(changed) >= 3, changed


def _price_of(row: dict) -> str:
    provider_id = PROVIDER_IDS.get(row["provider"], row["provider"])
    at = datetime.fromisoformat(row["occurred_at"])
    return str(calc_price(Usage(input_tokens=1, output_tokens=1), row["model"], provider_id=provider_id,
                          genai_request_timestamp=at).model_price)  # fmt: skip


def test_seed_case_gpt_4o() -> None:
    """The worked example: openai gpt-4o, 1,200 input and 350 output tokens cost $0.0065."""
    row = {"provider": "openai", "model": "gpt-4o", "occurred_at": "2026-08-01T00:00:00+00:00",
           "input_tokens": 1200, "cache_read_tokens": 0, "cache_write_tokens": 0, "output_tokens": 350}  # fmt: skip
    assert _expected_cost(row) == Decimal("0.0065")
