"""Analytics tables in the warehouse: created on first write, their rows for some days replaced atomically."""

from collections.abc import Sequence

import duckdb
import pyarrow as pa

from cost_pipelines.warehouse import transaction

SCHEMA = "analytics"


def replace_rows(
    con: duckdb.DuckDBPyConnection,
    ddl: dict[str, str],
    day_column: str,
    days: Sequence,
    rows: dict[str, pa.Table | None],
) -> None:
    """For each table in `rows`, delete its rows whose `day_column` is in `days` and insert `rows[table]`,
    all in one transaction. `ddl`: table -> CREATE TABLE IF NOT EXISTS statement. Columns missing from the
    rows take their defaults (e.g. a `now()` timestamp)."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    for statement in ddl.values():
        con.execute(statement)
    with transaction(con):
        for table, new_rows in rows.items():
            con.execute(f"DELETE FROM {SCHEMA}.{table} WHERE {day_column} IN (SELECT unnest(?))", [list(days)])
            if new_rows is None or new_rows.num_rows == 0:
                continue
            con.register("_new_rows", new_rows)
            try:
                columns = ", ".join(new_rows.column_names)
                con.execute(f"INSERT INTO {SCHEMA}.{table} ({columns}) SELECT {columns} FROM _new_rows")
            finally:
                con.unregister("_new_rows")
