"""Write the genai-prices export to the warehouse's price table, replacing it whole."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from cost_pipelines.pricing.price_table import PriceRow, genai_prices_version
from cost_pipelines.warehouse import PRICE_COLUMNS, RAW_SCHEMA, ensure_raw_tables, transaction


def _record(row: PriceRow, version: str) -> dict[str, object]:
    return {
        **row.__dict__,
        **row.unit_prices(),
        "prices_rounded": row.rounded(),
        "source_version": version,
    }


def write_prices(con: duckdb.DuckDBPyConnection, rows: list[PriceRow]) -> int:
    ensure_raw_tables(con)
    version = genai_prices_version()
    records = [_record(r, version) for r in rows]
    # Decimals travel as text so nothing passes through a float on the way in.
    table = pa.table({c: pa.array([_text(rec[c]) for rec in records], pa.string()) for c in PRICE_COLUMNS})
    casts = ", ".join(f"CAST({c} AS {kind.replace(' NOT NULL', '')}) AS {c}" for c, kind in PRICE_COLUMNS.items())
    con.register("_price_rows", table)
    try:
        with transaction(con):
            con.execute(f"DELETE FROM {RAW_SCHEMA}.llm_prices")
            con.execute(f"INSERT INTO {RAW_SCHEMA}.llm_prices SELECT {casts} FROM _price_rows")
    finally:
        con.unregister("_price_rows")
    return len(records)


def _text(value: object) -> str | None:
    return None if value is None else str(value)
