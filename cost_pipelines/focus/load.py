"""Read FOCUS 1.0 CSV/Parquet exports into the warehouse, one UTC window of charge periods at a time.

Exports carry the string `NULL` for missing values and tags as JSON text. Rows whose cost or charge period
cannot be read go to `raw.focus_charges_quarantine` with the reason and the original row.
"""

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from cost_pipelines.ingest.sources import file_format
from cost_pipelines.warehouse import RAW_SCHEMA, transaction

# FOCUS column → (stored name, DuckDB type). Columns an export lacks are stored as NULL.
FOCUS_COLUMNS: dict[str, tuple[str, str]] = {
    "Id": ("charge_id", "VARCHAR"),
    "ChargePeriodStart": ("charge_period_start", "TIMESTAMPTZ"),
    "ChargePeriodEnd": ("charge_period_end", "TIMESTAMPTZ"),
    "ProviderName": ("provider_name", "VARCHAR"),
    "PublisherName": ("publisher_name", "VARCHAR"),
    "ServiceName": ("service_name", "VARCHAR"),
    "ServiceCategory": ("service_category", "VARCHAR"),
    "SubAccountId": ("sub_account_id", "VARCHAR"),
    "SubAccountName": ("sub_account_name", "VARCHAR"),
    "RegionId": ("region_id", "VARCHAR"),
    "ResourceId": ("resource_id", "VARCHAR"),
    "ChargeCategory": ("charge_category", "VARCHAR"),
    "ChargeClass": ("charge_class", "VARCHAR"),
    "ChargeDescription": ("charge_description", "VARCHAR"),
    "BilledCost": ("billed_cost", "DECIMAL(38, 18)"),
    "EffectiveCost": ("effective_cost", "DECIMAL(38, 18)"),
    "ListCost": ("list_cost", "DECIMAL(38, 18)"),
    "BillingCurrency": ("billing_currency", "VARCHAR"),
    "ConsumedQuantity": ("consumed_quantity", "DECIMAL(38, 18)"),
    "ConsumedUnit": ("consumed_unit", "VARCHAR"),
    "Tags": ("tags", "VARCHAR"),
    # Every other FOCUS 1.0 / 1.2 column an export may carry, kept as it came (NULL when the export lacks it).
    "BillingAccountId": ("billing_account_id", "VARCHAR"),
    "BillingAccountName": ("billing_account_name", "VARCHAR"),
    "BillingPeriodStart": ("billing_period_start", "TIMESTAMPTZ"),
    "BillingPeriodEnd": ("billing_period_end", "TIMESTAMPTZ"),
    "InvoiceId": ("invoice_id", "VARCHAR"),
    "InvoiceIssuerName": ("invoice_issuer_name", "VARCHAR"),
    "ChargeFrequency": ("charge_frequency", "VARCHAR"),
    "ContractedCost": ("contracted_cost", "DECIMAL(38, 18)"),
    "ContractedUnitPrice": ("contracted_unit_price", "DECIMAL(38, 18)"),
    "ListUnitPrice": ("list_unit_price", "DECIMAL(38, 18)"),
    "PricingCategory": ("pricing_category", "VARCHAR"),
    "PricingQuantity": ("pricing_quantity", "DECIMAL(38, 18)"),
    "PricingUnit": ("pricing_unit", "VARCHAR"),
    "PricingCurrency": ("pricing_currency", "VARCHAR"),
    "RegionName": ("region_name", "VARCHAR"),
    "AvailabilityZone": ("availability_zone", "VARCHAR"),
    "ResourceName": ("resource_name", "VARCHAR"),
    "ResourceType": ("resource_type", "VARCHAR"),
    "ServiceSubcategory": ("service_subcategory", "VARCHAR"),
    "SkuId": ("sku_id", "VARCHAR"),
    "SkuPriceId": ("sku_price_id", "VARCHAR"),
    "SkuMeter": ("sku_meter", "VARCHAR"),
    "SkuPriceDetails": ("sku_price_details", "VARCHAR"),
    "CommitmentDiscountCategory": ("commitment_discount_category", "VARCHAR"),
    "CommitmentDiscountId": ("commitment_discount_id", "VARCHAR"),
    "CommitmentDiscountName": ("commitment_discount_name", "VARCHAR"),
    "CommitmentDiscountStatus": ("commitment_discount_status", "VARCHAR"),
    "CommitmentDiscountType": ("commitment_discount_type", "VARCHAR"),
    "CommitmentDiscountQuantity": ("commitment_discount_quantity", "DECIMAL(38, 18)"),
    "CommitmentDiscountUnit": ("commitment_discount_unit", "VARCHAR"),
    "CapacityReservationId": ("capacity_reservation_id", "VARCHAR"),
    "CapacityReservationStatus": ("capacity_reservation_status", "VARCHAR"),
}
REQUIRED = ("ChargePeriodStart", "ProviderName", "BilledCost", "EffectiveCost", "BillingCurrency")
# Optional columns that must read as their type when present: a value that does not is a rejected row.
TYPED_OPTIONAL = tuple(c for c, (_, kind) in FOCUS_COLUMNS.items() if c not in REQUIRED and kind != "VARCHAR")


@dataclass
class FocusReport:
    files: int
    rows_in: int
    rows_kept: int
    quarantined: int


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    columns = ", ".join(f"{name} {kind}" for name, kind in FOCUS_COLUMNS.values())
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.focus_charges ({columns}, source VARCHAR, loaded_at TIMESTAMPTZ)"
    )
    # a table created before a column was kept gets it, empty (the next load of each window fills it)
    for name, kind in FOCUS_COLUMNS.values():
        con.execute(f"ALTER TABLE {RAW_SCHEMA}.focus_charges ADD COLUMN IF NOT EXISTS {name} {kind}")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.focus_charges_quarantine (source VARCHAR, row_number BIGINT, "
        "reason VARCHAR, raw_record VARCHAR, window_start DATE, quarantined_at TIMESTAMPTZ)"
    )


def export_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and file_format(p.name) in ("csv", "parquet"))


def _reader(path: Path) -> str:
    quoted = "'" + str(path).replace("'", "''") + "'"
    if file_format(path.name) == "parquet":
        return f"(SELECT * FROM read_parquet({quoted}))"
    return f"read_csv({quoted}, all_varchar = true, header = true, nullstr = 'NULL')"


def load_window(con: duckdb.DuckDBPyConnection, root: Path, start: date, end: date) -> FocusReport:
    """Replace charges whose ChargePeriodStart falls in [start, end) (UTC) with what the exports hold now."""
    ensure_tables(con)
    files = export_files(root)
    con.execute("CREATE OR REPLACE TEMP TABLE _focus_text (source VARCHAR, row_number BIGINT, raw_record VARCHAR, "
                + ", ".join(f'"{c}" VARCHAR' for c in FOCUS_COLUMNS) + ")")  # fmt: skip
    for path in files:
        present = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {_reader(path)}").fetchall()}
        values = ", ".join(
            f'NULLIF(TRIM(CAST(t."{c}" AS VARCHAR)), \'\') AS "{c}"' if c in present else f'NULL AS "{c}"'
            for c in FOCUS_COLUMNS
        )
        name = str(path.relative_to(root)).replace("'", "''")
        con.execute(f"INSERT INTO _focus_text SELECT '{name}', row_number() OVER (), to_json(t), {values} "
                    f"FROM {_reader(path)} t")  # fmt: skip
    typed = ", ".join(f'TRY_CAST("{c}" AS {kind}) AS {name}' for c, (name, kind) in FOCUS_COLUMNS.items())
    con.execute(f"CREATE OR REPLACE TEMP TABLE _focus_typed AS SELECT *, {typed} FROM _focus_text")
    checks = " ".join(
        f"WHEN \"{c}\" IS NULL THEN 'missing {c}' WHEN {name} IS NULL THEN 'unreadable {c}: ' || \"{c}\""
        for c in REQUIRED
        for name, _ in [FOCUS_COLUMNS[c]]
    )
    optional_numbers = " ".join(
        f'WHEN "{c}" IS NOT NULL AND {FOCUS_COLUMNS[c][0]} IS NULL THEN \'unreadable {c}: \' || "{c}"'
        for c in TYPED_OPTIONAL
    )
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _focus_checked AS
        SELECT *, CASE {checks} {optional_numbers}
                  WHEN "Tags" IS NOT NULL AND NOT json_valid("Tags") THEN 'Tags is not JSON: ' || "Tags" END AS reason
        FROM _focus_typed
        WHERE charge_period_start IS NULL OR CAST(timezone('UTC', charge_period_start) AS DATE) >= DATE '{start}'
              AND CAST(timezone('UTC', charge_period_start) AS DATE) < DATE '{end}'""")  # fmt: skip
    names = ", ".join(name for name, _ in FOCUS_COLUMNS.values())
    with transaction(con):
        day = "CAST(timezone('UTC', charge_period_start) AS DATE)"
        con.execute(f"DELETE FROM {RAW_SCHEMA}.focus_charges WHERE {day} >= ? AND {day} < ?", [start, end])
        con.execute(f"INSERT INTO {RAW_SCHEMA}.focus_charges ({names}, source, loaded_at) SELECT {names}, source, "
                    "now() FROM _focus_checked WHERE reason IS NULL")  # fmt: skip
        con.execute(f"DELETE FROM {RAW_SCHEMA}.focus_charges_quarantine WHERE window_start = ?", [start])
        con.execute(f"INSERT INTO {RAW_SCHEMA}.focus_charges_quarantine SELECT source, row_number, reason, raw_record, "
                    "?, now() FROM _focus_checked WHERE reason IS NOT NULL", [start])  # fmt: skip
    kept, quarantined = con.execute(
        "SELECT count(*) FILTER (WHERE reason IS NULL), count(*) FILTER (WHERE reason IS NOT NULL) FROM _focus_checked"
    ).fetchone()
    for table in ("_focus_text", "_focus_typed", "_focus_checked"):
        con.execute(f"DROP TABLE {table}")
    return FocusReport(len(files), kept + quarantined, kept, quarantined)
