"""Computed cost against the cost sources report: exact drift per model, and a planted drift flagged by name."""

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from genai_prices import Usage, calc_price

from cost_pipelines import quality
from cost_pipelines.ingest.load import ingest_day
from cost_pipelines.ingest.sources import LocalDirectorySource
from cost_pipelines.pricing.load import write_prices
from cost_pipelines.pricing.price_table import export_price_rows
from cost_pipelines.warehouse import connect
from tests.conftest import run_dbt_build

DAY = date(2026, 8, 1)
EXACT, DRIFTING = ("openai", "gpt-4o-mini"), ("anthropic", "claude-3-5-haiku-20241022")
Q = Decimal("1e-18")  # the stored precision of a reported cost


def _requests() -> list[dict]:
    rows = []
    for n in range(60):
        provider, model = EXACT if n % 2 else DRIFTING
        at = datetime(2026, 8, 1, 8, tzinfo=UTC) + timedelta(minutes=n)
        usage = {"input_tokens": 1000 + 37 * n, "cache_read_tokens": 0, "cache_write_tokens": 0,
                 "output_tokens": 50 + n}  # fmt: skip
        true = calc_price(Usage(**usage), model, provider_id=provider, genai_request_timestamp=at).total_price
        # the drifting model's source reports 5 % less than its price: computed is 5 % above reported
        reported = (true if (provider, model) == EXACT else true * 100 / 105).quantize(Q)
        rows.append({"request_id": f"r{n}", "occurred_at": at.isoformat(), "provider": provider, "model": model,
                     "project": "p1" if n < 30 else None, **usage, "cost_usd": str(reported),
                     "_true": true})  # fmt: skip
    # a model no price covers, whose source reported what it cost: it costs that, and is not compared
    rows.append({"request_id": "finetune", "occurred_at": "2026-08-01T12:00:00Z", "provider": "openai",
                 "model": "ft:my-finetune", "input_tokens": 10, "output_tokens": 1, "cost_usd": "0.75"})  # fmt: skip
    # one request without a reported cost: not compared
    rows.append({"request_id": "silent", "occurred_at": "2026-08-01T12:00:00Z", "provider": "openai",
                 "model": "gpt-4o-mini", "input_tokens": 10, "output_tokens": 1})  # fmt: skip
    return rows


def test_drift_is_exact_and_the_drifting_model_is_named(tmp_path: Path) -> None:
    rows = _requests()
    day_dir = tmp_path / "logs" / DAY.isoformat()
    day_dir.mkdir(parents=True)
    (day_dir / "gateway.jsonl").write_text(
        "".join(json.dumps({k: v for k, v in r.items() if k != "_true"}) + "\n" for r in rows)
    )
    db = tmp_path / "w.duckdb"
    with connect(db) as con:
        write_prices(con, export_price_rows())
        ingest_day(con, LocalDirectorySource(tmp_path / "logs"), DAY)
    result = run_dbt_build(db, "--select", "+llm_cost_reconciliation", "+cost_summary_daily")
    assert result.returncode == 0, result.stdout[-4000:]
    with connect(db, read_only=True) as con:
        drifts = {(d.provider, d.model): d for d in quality.reported_cost_drift(con, DAY, DAY + timedelta(days=1))}
        finetune = con.execute(
            "SELECT sum(reporting_request_count), sum(priced_request_count), sum(unpriced_reported_cost_usd) "
            "FROM marts.llm_cost_reconciliation WHERE model = 'ft:my-finetune'"
        ).fetchone()
        day_total, unpriced = con.execute(
            "SELECT total_cost_usd, unpriced_request_count FROM marts.cost_summary_daily"
        ).fetchone()
        by_project = con.execute(
            "SELECT project, sum(reporting_request_count) FROM marts.llm_cost_reconciliation GROUP BY 1 ORDER BY 1"
        ).fetchall()
    for key in (EXACT, DRIFTING):
        mine = [r for r in rows if (r["provider"], r["model"]) == key and "cost_usd" in r]
        computed, reported = sum(r["_true"] for r in mine), sum(Decimal(r["cost_usd"]) for r in mine)
        assert drifts[key].requests == len(mine) == 30
        assert abs(drifts[key].computed_usd - computed) <= Decimal("1e-9") * len(mine)
        assert drifts[key].reported_usd == reported
        assert drifts[key].drift_usd == drifts[key].computed_usd - reported
    assert drifts[EXACT].share is not None and abs(drifts[EXACT].share) < Decimal("1e-6")
    assert abs(drifts[DRIFTING].share - Decimal("0.05")) < Decimal("1e-6")
    assert next(iter(drifts)) == DRIFTING  # the largest drift first
    flagged = quality.drifting(list(drifts.values()), bound=0.01)
    assert [(d.provider, d.model) for d in flagged] == [DRIFTING]
    assert by_project == [("(none)", 31), ("p1", 30)]
    assert finetune == (1, 0, Decimal("0.75"))
    priced = sum(d.computed_usd for d in drifts.values())
    silent = calc_price(Usage(input_tokens=10, output_tokens=1), "gpt-4o-mini", provider_id="openai",
                        genai_request_timestamp=datetime(2026, 8, 1, 12, tzinfo=UTC)).total_price  # fmt: skip
    assert abs(day_total - (priced + silent + Decimal("0.75"))) <= Decimal("1e-9") * 62
    assert unpriced == 1  # still counted unpriced, so the unpriced check names the model
