"""Replace a window of days of Cost Explorer rows in the warehouse, atomically (CE restates recent days)."""

import duckdb
import pyarrow as pa

from cost_pipelines.aws.cost_explorer import CostExplorerQuery, CostRow
from cost_pipelines.warehouse import CE_COLUMNS, RAW_SCHEMA, ensure_raw_tables, transaction


def replace_window(con: duckdb.DuckDBPyConnection, query: CostExplorerQuery, rows: list[CostRow]) -> int:
    ensure_raw_tables(con)
    # Amounts travel as text so no float ever touches them.
    columns = {c: t for c, t in CE_COLUMNS.items() if c != "fetched_at"}
    table = pa.table({c: pa.array([_text(getattr(r, c)) for r in rows], pa.string()) for c in columns})
    casts = ", ".join(f"CAST({c} AS {t.replace(' NOT NULL', '')})" for c, t in columns.items())
    con.register("_ce_rows", table)
    try:
        with transaction(con):
            con.execute(
                f"DELETE FROM {RAW_SCHEMA}.aws_cost_explorer_daily WHERE usage_date >= ? AND usage_date < ?",
                [query.start, query.end],
            )
            con.execute(
                f"INSERT INTO {RAW_SCHEMA}.aws_cost_explorer_daily ({', '.join(columns)}, fetched_at) "
                f"SELECT {casts}, now() FROM _ce_rows"
            )
    finally:
        con.unregister("_ce_rows")
    return len(rows)


def _text(value: object) -> str | None:
    return None if value is None else str(value)
