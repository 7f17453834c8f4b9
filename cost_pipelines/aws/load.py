"""Replace a window of days of Cost Explorer rows in the warehouse, atomically (CE restates recent days)."""

import duckdb
import pyarrow as pa

from cost_pipelines.aws.cost_explorer import CostExplorerQuery, CostRow
from cost_pipelines.warehouse import RAW_SCHEMA

CE_COLUMNS: dict[str, str] = {
    "usage_date": "DATE NOT NULL",
    "dimension_1": "VARCHAR",
    "value_1": "VARCHAR",
    "dimension_2": "VARCHAR",
    "value_2": "VARCHAR",
    "unblended_cost": "DECIMAL(38, 18) NOT NULL",
    "amortized_cost": "DECIMAL(38, 18) NOT NULL",
    "net_unblended_cost": "DECIMAL(38, 18) NOT NULL",
    "usage_quantity": "DECIMAL(38, 18) NOT NULL",
    "currency": "VARCHAR NOT NULL",
    "is_estimated": "BOOLEAN NOT NULL",
}


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    columns = ", ".join(f"{c} {t}" for c, t in CE_COLUMNS.items())
    con.execute(f"CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.aws_cost_explorer_daily ({columns}, fetched_at TIMESTAMPTZ)")


def replace_window(con: duckdb.DuckDBPyConnection, query: CostExplorerQuery, rows: list[CostRow]) -> int:
    ensure_table(con)
    # Amounts travel as text so no float ever touches them.
    table = pa.table({c: pa.array([_text(getattr(r, c)) for r in rows], pa.string()) for c in CE_COLUMNS})
    casts = ", ".join(f"CAST({c} AS {t.replace(' NOT NULL', '')})" for c, t in CE_COLUMNS.items())
    con.register("_ce_rows", table)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            f"DELETE FROM {RAW_SCHEMA}.aws_cost_explorer_daily WHERE usage_date >= ? AND usage_date < ?",
            [query.start, query.end],
        )
        con.execute(f"INSERT INTO {RAW_SCHEMA}.aws_cost_explorer_daily SELECT {casts}, now() FROM _ce_rows")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("_ce_rows")
    return len(rows)


def _text(value: object) -> str | None:
    return None if value is None else str(value)
