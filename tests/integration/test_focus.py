"""FOCUS 1.0 exports: the shipped 1,000-row sample lands exactly, every column and per provider, through to
fct_costs."""

import csv
from collections import defaultdict
from datetime import UTC, date
from decimal import Decimal
from pathlib import Path

import pytest

from cost_pipelines.focus.load import FOCUS_COLUMNS, load_window
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


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return str(value.normalize()) if value else "0"
    if hasattr(value, "astimezone"):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _canonical(text: str | None, kind: str) -> str | None:
    if text in (None, "", "NULL"):
        return None
    if kind.startswith("DECIMAL"):
        value = Decimal(text)
        return str(value.normalize()) if value else "0"
    return text


def test_every_column_the_export_carries_is_kept_as_it_came(warehouse: Path) -> None:
    with SAMPLE.open(newline="") as f:
        rows = list(csv.DictReader(f))
    carried = [c for c in rows[0] if c in FOCUS_COLUMNS]
    assert len(carried) == len(rows[0]) == 44  # every column of the sample is a FOCUS column the loader keeps
    names = ", ".join(FOCUS_COLUMNS[c][0] for c in carried)
    with connect(warehouse, read_only=True) as con:
        stored = con.execute(
            f"SELECT charge_id, {names} FROM raw.focus_charges WHERE source = 'focus_sample.csv'"
        ).fetchall()
    by_id = {r[0]: r[1:] for r in stored}
    assert len(by_id) == len(stored) == len(rows)
    for row in rows:
        for column, value in zip(carried, by_id[row["Id"]], strict=True):
            assert _as_text(value) == _canonical(row[column], FOCUS_COLUMNS[column][1]), (row["Id"], column)


def test_a_table_stored_before_the_extra_columns_gets_them(tmp_path: Path) -> None:
    old = ("charge_id VARCHAR, charge_period_start TIMESTAMPTZ, charge_period_end TIMESTAMPTZ, provider_name VARCHAR, "
           "publisher_name VARCHAR, service_name VARCHAR, service_category VARCHAR, sub_account_id VARCHAR, "
           "sub_account_name VARCHAR, region_id VARCHAR, resource_id VARCHAR, charge_category VARCHAR, "
           "charge_class VARCHAR, charge_description VARCHAR, billed_cost DECIMAL(38, 18), "
           "effective_cost DECIMAL(38, 18), list_cost DECIMAL(38, 18), billing_currency VARCHAR, "
           "consumed_quantity DECIMAL(38, 18), consumed_unit VARCHAR, tags VARCHAR, source VARCHAR, "
           "loaded_at TIMESTAMPTZ")  # fmt: skip
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "focus_sample.csv").write_bytes(SAMPLE.read_bytes())
    with connect(tmp_path / "w.duckdb") as con:
        con.execute("CREATE SCHEMA raw")
        con.execute(f"CREATE TABLE raw.focus_charges ({old})")
        report = load_window(con, tmp_path / "exports", date(2024, 9, 1), date(2024, 10, 1))
        contracted, accounts = con.execute(
            "SELECT sum(contracted_cost), count(DISTINCT billing_account_id) FROM raw.focus_charges"
        ).fetchone()
    with SAMPLE.open(newline="") as f:
        expected = sum(Decimal(r["ContractedCost"]) for r in csv.DictReader(f) if r["ContractedCost"] != "NULL")
    assert report.rows_kept == 1000 and contracted == expected and accounts > 0
