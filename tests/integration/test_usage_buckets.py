"""Usage buckets as OpenAI's organization Usage API and Anthropic's usage report return them, saved as API pages
and dropped into a day folder, are priced per bucket at the tier the provider states, as genai-prices prices the
requests the bucket sums."""

import json
import shutil
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price

from cost_pipelines import quality
from cost_pipelines.ingest.canonical import SERVICE_TIERS
from cost_pipelines.ingest.load import ingest_day
from cost_pipelines.ingest.sources import LocalDirectorySource
from cost_pipelines.pricing.load import write_prices
from cost_pipelines.pricing.price_table import export_price_rows
from cost_pipelines.warehouse import connect
from tests.conftest import priced_request_costs, run_dbt_build

DAY = date(2026, 11, 2)
FIXTURES = Path(__file__).parents[1] / "data" / "usage_apis"
EXPECTED = json.loads((FIXTURES / "expected_usage.json").read_text())
COUNTS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "input_audio_tokens",
    "output_audio_tokens",
)


def _true_cost(row: dict) -> Decimal:
    """genai-prices' price of the bucket as `split` equal requests, each within the tier its provider states."""
    split = row["split"]
    assert all(row.get(k, 0) % split == 0 for k in COUNTS)
    usage = Usage(**{k: row.get(k, 0) // split for k in COUNTS})
    at = datetime.fromisoformat(row["occurred_at"])
    context = dict(SERVICE_TIERS[row["service_tier"]]) or None
    price = calc_price(usage, row["model"], provider_id=row["provider_id"], genai_request_timestamp=at,
                       price_context=context)  # fmt: skip
    return price.total_price * split


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    tmp = tmp_path_factory.mktemp("buckets")
    db = tmp / "warehouse.duckdb"
    with connect(db) as con:
        write_prices(con, export_price_rows())
    for tool in EXPECTED:
        shutil.copytree(FIXTURES / tool, tmp / "logs" / tool)
    with connect(db) as con:
        report = ingest_day(con, LocalDirectorySource(tmp / "logs", "*/*"), DAY)
    return db, report


def test_every_bucket_ingests_with_its_usage_tier_and_request_count(warehouse: tuple) -> None:
    db, report = warehouse
    assert report.quarantined == 0 and report.unreadable_files == [], report.quarantine_reasons
    columns = ("request_id", "model", "occurred_at", *COUNTS, "service_tier", "record_kind", "request_count")
    with connect(db, read_only=True) as con:
        rows = con.execute(f"SELECT {', '.join(columns)} FROM raw.llm_requests").fetchall()
    got = {r[0]: dict(zip(columns, r, strict=True)) for r in rows}
    expected = {e["request_id"]: e for rows in EXPECTED.values() for e in rows}
    assert set(got) == set(expected)
    for rid, e in expected.items():
        g = got[rid]
        assert g["occurred_at"] == datetime.fromisoformat(e["occurred_at"]), rid
        assert {k: g[k] for k in COUNTS} == {k: e.get(k, 0) for k in COUNTS}, rid
        assert (g["service_tier"], g["record_kind"], g["request_count"]) == (
            e["service_tier"], "usage_bucket", e["request_count"]
        ), rid  # fmt: skip


def test_buckets_are_priced_at_their_stated_tier(warehouse: tuple) -> None:
    db, _ = warehouse
    costs = priced_request_costs(db)
    mismatches = []
    for rows in EXPECTED.values():
        for row in rows:
            expected, actual = _true_cost(row), costs.get(row["request_id"])
            if actual is None or abs(actual - expected) > Decimal("1e-9"):
                mismatches.append((row["request_id"], expected, actual))
    assert not mismatches, mismatches
    # the hour's sum crossed 200k input tokens, every request stayed under: the lower tier, not the long-context one
    summed = {k: next(r for r in EXPECTED["anthropic"] if r["split"] == 2).get(k, 0) for k in (*COUNTS, "occurred_at")}
    whole = calc_price(Usage(**{k: summed[k] for k in COUNTS}), "claude-sonnet-4-5", provider_id="anthropic",
                       genai_request_timestamp=datetime.fromisoformat(summed["occurred_at"])).total_price  # fmt: skip
    rid = next(r["request_id"] for r in EXPECTED["anthropic"] if r["split"] == 2)
    assert costs[rid] < whole


def test_request_logs_and_buckets_of_one_provider_and_day_are_counted_once(tmp_path: Path) -> None:
    db = tmp_path / "warehouse.duckdb"
    with connect(db) as con:
        write_prices(con, export_price_rows())
    for tool in EXPECTED:
        shutil.copytree(FIXTURES / tool, tmp_path / "logs" / tool)
    # the same day's OpenAI traffic also logged request by request, as a gateway writes it
    logged = [
        {"request_id": f"req-{i}", "occurred_at": f"2026-11-02T10:{i:02d}:00Z", "provider": "openai",
         "model": "gpt-4o-2024-08-06", "input_tokens": 1000, "cached_tokens": 200, "output_tokens": 100}
        for i in range(3)
    ]  # fmt: skip
    (tmp_path / "logs" / "gateway").mkdir()
    (tmp_path / "logs" / "gateway" / "requests.jsonl").write_text("".join(json.dumps(r) + "\n" for r in logged))
    with connect(db) as con:
        report = ingest_day(con, LocalDirectorySource(tmp_path / "logs", "*/*"), DAY)
        overlaps = quality.usage_overlaps(con, DAY, DAY + timedelta(days=1))
    assert report.overlapping_providers == ["openai"]
    assert [(o.provider, o.logged_requests, o.bucket_requests, o.logged_input_tokens) for o in overlaps] == [
        ("openai", 3, sum(r["request_count"] for r in EXPECTED["openai"]), 3000)
    ]
    costs = priced_request_costs(db)
    # the logs are counted, OpenAI's buckets are not; Anthropic's buckets, which no log covers, still are
    assert {f"req-{i}" for i in range(3)} <= set(costs)
    assert not {r["request_id"] for r in EXPECTED["openai"]} & set(costs)
    assert {r["request_id"] for r in EXPECTED["anthropic"]} <= set(costs)


def test_a_summed_table_built_before_columns_were_added_gains_them_on_the_next_run(warehouse: tuple) -> None:
    """An upgrade: the table misses columns the model now makes; a windowed run adds them instead of failing."""
    db, _ = warehouse
    assert run_dbt_build(db, "--select", "+int_llm_requests_summed").returncode == 0
    with connect(db) as con:
        for column in ("publisher", "cache_write_1h_tokens", "record_kind"):
            con.execute(f"ALTER TABLE intermediate.int_llm_requests_summed DROP COLUMN {column}")
    window = json.dumps({"min_date": DAY.isoformat(), "max_date": (DAY + timedelta(days=1)).isoformat()})
    result = run_dbt_build(db, "--select", "int_llm_requests_summed", "--vars", window)
    assert result.returncode == 0, result.stdout[-3000:]
    with connect(db, read_only=True) as con:
        rows = con.execute(
            "SELECT publisher, sum(cache_write_1h_tokens), any_value(record_kind) "
            "FROM intermediate.int_llm_requests_summed GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert rows == [("anthropic", 8000, "usage_bucket"), ("openai", 0, "usage_bucket")]
