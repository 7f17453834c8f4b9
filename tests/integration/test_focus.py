"""FOCUS 1.0 exports: the shipped 1,000-row sample lands exactly, per provider, through to fct_costs."""

import csv
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from cost_pipelines.focus.load import load_window
from cost_pipelines.quality import unexplained_negative_costs
from cost_pipelines.warehouse import connect, ensure_raw_tables
from tests.conftest import run_dbt_build

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data" / "focus" / "focus_sample.csv"


def file_totals() -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    with SAMPLE.open(newline="") as f:
        for row in csv.DictReader(f):
            totals[row["ProviderName"]] += Decimal(row["BilledCost"])
    return dict(totals)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("focus")
    (tmp / "exports").mkdir()
    (tmp / "exports" / "focus_sample.csv").write_bytes(SAMPLE.read_bytes())
    (tmp / "exports" / "broken.csv").write_text(
        "ChargePeriodStart,ProviderName,BilledCost,EffectiveCost,BillingCurrency,Tags\n"
        "2024-09-03 00:00:00,Acme Cloud,abc,1,USD,NULL\n"
        "yesterday,Acme Cloud,1,1,USD,NULL\n"
        "2024-09-03 00:00:00,Acme Cloud,2.5,2.5,USD,{not json\n"
    )
    db = tmp / "warehouse.duckdb"
    with connect(db) as con:
        ensure_raw_tables(con)
        report = load_window(con, tmp / "exports", date(2024, 9, 1), date(2024, 10, 1))
        again = load_window(con, tmp / "exports", date(2024, 9, 1), date(2024, 10, 1))
    assert (report.rows_kept, report.quarantined) == (again.rows_kept, again.quarantined) == (1000, 3)
    result = run_dbt_build(db, "--select", "+fct_costs")
    assert result.returncode == 0, result.stdout[-4000:]
    return db


def test_billed_total_per_provider_matches_the_file_exactly(warehouse: Path) -> None:
    with connect(warehouse, read_only=True) as con:
        raw = dict(con.execute("SELECT provider_name, sum(billed_cost) FROM raw.focus_charges GROUP BY 1").fetchall())
        fact = dict(
            con.execute(
                "SELECT provider_name, sum(billed_cost) FROM marts.fct_costs WHERE x_source = 'focus' GROUP BY 1"
            ).fetchall()
        )
    assert raw == fact == file_totals()
    assert set(fact) == {"AWS", "Microsoft", "Oracle"}


def test_unexplained_negative_charges_are_found(warehouse: Path) -> None:
    with connect(warehouse, read_only=True) as con:
        found = unexplained_negative_costs(con, date(2024, 9, 1), date(2024, 10, 1))
    assert len(found) == 12 and {provider for provider, *_ in found} == {"Microsoft"}


def test_credits_stay_negative_and_nothing_is_lost(warehouse: Path) -> None:
    with connect(warehouse, read_only=True) as con:
        negatives = con.execute(
            "SELECT DISTINCT charge_category FROM raw.focus_charges WHERE billed_cost < 0"
        ).fetchall()
        reasons = [r[0] for r in con.execute("SELECT reason FROM raw.focus_charges_quarantine ORDER BY 1").fetchall()]
        tags = con.execute(
            "SELECT count(*) FROM marts.fct_costs WHERE x_source = 'focus' AND x_environment IS NOT NULL"
        )
        tagged = tags.fetchone()[0]
    # The real sample has a credit and, from one provider, negative usage rows not marked as corrections.
    assert {c for (c,) in negatives} == {"Credit", "Usage"}
    assert reasons == [
        "Tags is not JSON: {not json",
        "unreadable BilledCost: abc",
        "unreadable ChargePeriodStart: yesterday",
    ]
    assert tagged > 0
