"""Logs as Bedrock, LiteLLM, Langfuse and OpenRouter write them, dropped into a day folder as they are, are priced
as genai-prices prices what each request really used."""

import json
import shutil
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price

from cost_pipelines.ingest.load import DayReport, ingest_day
from cost_pipelines.ingest.sources import LocalDirectorySource
from cost_pipelines.pricing.load import write_prices
from cost_pipelines.pricing.price_table import export_price_rows
from cost_pipelines.warehouse import connect
from tests.conftest import priced_request_costs

DAY = date(2026, 8, 1)
FIXTURES = Path(__file__).parents[1] / "data" / "native_logs"
EXPECTED = json.loads((FIXTURES / "expected_usage.json").read_text())
# Where each tool's files are found under its folder: Bedrock delivers one folder per hour.
PATTERNS = {
    "bedrock": "AWSLogs/*/BedrockModelInvocationLogs/*/{yyyy}/{mm}/{dd}/**/*",
    "litellm": "*",
    "langfuse": "*",
    "openrouter": "*",
}
COUNTS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "input_audio_tokens",
    "output_audio_tokens",
)


def _true_cost(row: dict) -> Decimal:
    usage = Usage(**{k: row.get(k, 0) for k in COUNTS})
    at = datetime.fromisoformat(row["occurred_at"])
    return calc_price(usage, row["model"], provider_id=row["provider_id"], genai_request_timestamp=at).total_price


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, DayReport]]:
    """Each tool's fixture ingested as it is into a warehouse of its own."""
    tmp = tmp_path_factory.mktemp("native")
    found = {}
    for tool, pattern in PATTERNS.items():
        shutil.copytree(FIXTURES / tool, tmp / tool)
        with connect(tmp / f"{tool}.duckdb") as con:
            found[tool] = (tmp / f"{tool}.duckdb", ingest_day(con, LocalDirectorySource(tmp / tool, pattern), DAY))
    return found


@pytest.mark.parametrize("tool", list(PATTERNS))
def test_every_record_ingests_with_its_true_usage(warehouses: dict, tool: str) -> None:
    db, report = warehouses[tool]
    assert report.quarantined == 0 and report.unreadable_files == [], report.quarantine_reasons
    with connect(db, read_only=True) as con:
        columns = ("request_id", "provider", "model", "occurred_at", *COUNTS, "status", "reported_cost_usd")
        rows = con.execute(f"SELECT {', '.join(columns)} FROM raw.llm_requests ORDER BY request_id").fetchall()
    got = {r[0]: dict(zip(columns, r, strict=True)) for r in rows}
    expected = {e["request_id"]: e for e in EXPECTED[tool]}
    assert set(got) == set(expected)
    for rid, e in expected.items():
        g = got[rid]
        assert g["model"] == e["model"], rid
        assert g["occurred_at"] == datetime.fromisoformat(e["occurred_at"]), rid
        assert {k: g[k] for k in COUNTS} == {k: e.get(k, 0) for k in COUNTS}, rid
        assert g["status"] == e["status"], rid
        if "reported_cost_usd" in e:
            assert g["reported_cost_usd"] == Decimal(e["reported_cost_usd"]), rid
    assert sum(r["status"] == "error" for r in got.values()) == sum(e["status"] == "error" for e in EXPECTED[tool])


def test_a_langfuse_trace_span_is_counted_but_is_no_request(warehouses: dict) -> None:
    _, report = warehouses["langfuse"]
    assert (report.rows_in, report.rows_kept, report.not_requests, report.quarantined) == (6, 5, 1, 0)


def test_bedrock_bodies_offloaded_to_data_folders_are_not_records(warehouses: dict) -> None:
    _, report = warehouses["bedrock"]
    assert report.files == 2
    assert any("/data/" in skipped for skipped in report.skipped_files)


def test_each_tool_is_priced_as_genai_prices_prices_the_true_usage(tmp_path: Path) -> None:
    db = tmp_path / "warehouse.duckdb"
    with connect(db) as con:
        write_prices(con, export_price_rows())
    # every tool's records in one day folder, as a team running several of them would have them
    day_logs = tmp_path / "logs"
    for tool in PATTERNS:
        shutil.copytree(FIXTURES / tool, day_logs / tool)
    with connect(db) as con:
        report = ingest_day(con, LocalDirectorySource(day_logs, "*/**/*"), DAY)
    assert report.quarantined == 0, report.quarantine_reasons
    costs = priced_request_costs(db)
    mismatches = []
    for tool, rows in EXPECTED.items():
        for row in rows:
            expected, actual = _true_cost(row), costs.get(row["request_id"])
            if actual is None or abs(actual - expected) > Decimal("1e-9"):
                mismatches.append((tool, row["request_id"], row["model"], expected, actual))
    assert not mismatches, mismatches


def test_the_publisher_is_kept_apart_from_the_provider_that_bills(warehouses: dict) -> None:
    db, _ = warehouses["bedrock"]
    with connect(db, read_only=True) as con:
        found = dict(
            con.execute("SELECT model, publisher FROM raw.llm_model_map WHERE provider = 'aws-bedrock'").fetchall()
        )
    assert found["us.anthropic.claude-3-7-sonnet-20250219-v1:0"] == "anthropic"
    assert found["amazon.nova-pro-v1:0"] == "amazon"
