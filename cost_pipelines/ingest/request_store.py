"""Where canonical LLM requests are kept: Parquet files beside the DuckDB file, read through the view
`raw.llm_requests`.

Requests are most of the warehouse's rows and are written once a day and only read after, so they are stored as
Parquet, one directory per UTC day: `<warehouse>.llm_requests/usage_date=<day>/version=<n>/file=<k>/*.parquet`. A
large log file that is already canonical Parquet (canonical column names and types, clean values, no rejected or
repeated rows) is kept as it arrived, byte for byte, as `file=<its number in the day>`; every other file's rows are
normalised and written together as one more file, each row naming its log file in `source_file_no`, so a day of many
small log files is still one or a few stored files (that file may also carry the reader's `_reason` and
`_raw_record` columns, NULL in every stored row: the view reads only its own columns). `raw.llm_request_files` lists
each log file of a day, the version of the day that is current and the stored file holding its rows. The view reads
only the stored files listed there, never a directory by pattern, so a day is replaced by one DuckDB transaction:
the new version's files are written first, invisible until the transaction that lists them (and rebuilds the view)
commits, and older versions are deleted after. A run killed half way leaves an unlisted directory, perhaps with a
file cut short, which no reader opens and which the next writer of any day deletes.

`usage_date=1970-01-01/version=0/file=0/schema.parquet` holds no rows: it gives the view every column and its type
even before the first day is stored, and when stored files lack optional columns.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from cost_pipelines import settings
from cost_pipelines.ingest.canonical import REQUEST_COLUMNS
from cost_pipelines.warehouse import RAW_SCHEMA, scalar, transaction
from cost_pipelines.warehouse import sql_literal as _lit

VIEW = f"{RAW_SCHEMA}.llm_requests"
FILES = f"{RAW_SCHEMA}.llm_request_files"

# Columns a stored file may have; the view's others come from the path (usage_date) and `raw.llm_request_files`.
# `source_row` and `source_file_no` are absent from files kept as they arrived: a row's number there is its
# position, and its log file the stored file itself. In a normalised file, `source_row` is NULL for the requests
# of a text file read without positions (`readers`). A normalised file written by a pass whose every record was kept
# also holds that pass's own columns (`_part`, `_reason`, `_raw_record`), which the view does not read.
STORED_COLUMNS: dict[str, str] = {
    name: kind.removesuffix(" NOT NULL")
    for name, kind in REQUEST_COLUMNS.items()
    if name not in ("usage_date", "source", "ingested_at")
} | {"source_file_no": "INTEGER"}

# Below this many records a canonical log file is cheaper to rewrite with the others than to keep as one more file
# that every read of the requests must list and open.
KEEP_AS_IS_MIN_ROWS = 250_000

FILE_COLUMNS: dict[str, str] = {
    "usage_date": "DATE NOT NULL",
    "version": "BIGINT NOT NULL",
    "file_no": "INTEGER NOT NULL",
    "source": "VARCHAR NOT NULL",  # the log file's name, as the source lists it
    "stored_as": "VARCHAR NOT NULL",  # 'kept' (the log file itself) or 'normalised'
    "requests": "BIGINT NOT NULL",
    "ingested_at": "TIMESTAMPTZ NOT NULL",
    # the stored Parquet file with this log file's rows, relative to the store (a pattern for days stored in bulk)
    "stored_path": "VARCHAR",
}

_SCHEMA_DAY = "1970-01-01"


def store_root(con: duckdb.DuckDBPyConnection) -> Path:
    path = scalar(con, "SELECT path FROM duckdb_databases() WHERE database_name = current_database()")
    if not path:
        raise ValueError("LLM requests are stored beside the warehouse file: connect to a DuckDB file, not :memory:")
    return Path(str(path)).with_suffix(".llm_requests")


def day_dir(root: Path, day: date, version: int | None = None) -> Path:
    directory = root / f"usage_date={day.isoformat()}"
    return directory if version is None else directory / f"version={version}"


def _write_schema_file(con: duckdb.DuckDBPyConnection, root: Path) -> None:
    """Written once, and again when the stored columns grew (days stored before lack the new ones: NULL in them)."""
    target = _schema_file(root)
    if target.exists():
        names = [n for (n,) in con.execute(f"SELECT name FROM parquet_schema({_lit(str(target))})").fetchall()]
        if set(STORED_COLUMNS) <= set(names):
            return
    target.parent.mkdir(parents=True, exist_ok=True)
    columns = ", ".join(f"CAST(NULL AS {kind}) AS {name}" for name, kind in STORED_COLUMNS.items())
    partial = target.with_suffix(".parquet.partial")
    con.execute(f"COPY (SELECT {columns} LIMIT 0) TO {_lit(str(partial))} (FORMAT parquet)")
    partial.replace(target)


def _schema_file(root: Path) -> Path:
    return root / f"usage_date={_SCHEMA_DAY}" / "version=0" / "file=0" / "schema.parquet"


def view_sql(root: Path, stored_paths: list[str]) -> str:
    """The view over the schema file and the committed stored files (paths relative to `root`)."""
    files = "[" + ", ".join(_lit(str(p)) for p in [_schema_file(root), *(root / p for p in stored_paths)]) + "]"
    return f"""SELECT r.request_id, CAST(r.occurred_at AS TIMESTAMPTZ) AS occurred_at, r.usage_date, r.provider,
            r.model, CAST(r.input_tokens AS BIGINT) AS input_tokens,
            CAST(COALESCE(r.cache_read_tokens, 0) AS BIGINT) AS cache_read_tokens,
            CAST(COALESCE(r.cache_write_tokens, 0) AS BIGINT) AS cache_write_tokens,
            CAST(COALESCE(r.cache_write_1h_tokens, 0) AS BIGINT) AS cache_write_1h_tokens,
            CAST(r.output_tokens AS BIGINT) AS output_tokens,
            CAST(COALESCE(r.input_audio_tokens, 0) AS BIGINT) AS input_audio_tokens,
            CAST(COALESCE(r.output_audio_tokens, 0) AS BIGINT) AS output_audio_tokens,
            r.user_id, r.team, r.project, r.environment,
            r.task_type, CAST(r.latency_ms AS INTEGER) AS latency_ms, r.status,
            CAST(r.reported_cost_usd AS DECIMAL(38, 18)) AS reported_cost_usd,
            COALESCE(r.service_tier, 'standard') AS service_tier, COALESCE(r.record_kind, 'request') AS record_kind,
            CAST(CASE WHEN COALESCE(r.record_kind, 'request') = 'request' THEN 1 ELSE r.request_count END AS BIGINT)
                AS request_count,
            CAST(r.tier_input_tokens AS BIGINT) AS tier_input_tokens, f.source,
            CASE WHEN r.source_file_no IS NULL THEN r.file_row_number + 1 ELSE r.source_row END AS source_row,
            f.ingested_at
        FROM read_parquet({files}, hive_partitioning = true, union_by_name = true, file_row_number = true,
                          hive_types = {{'usage_date': DATE, 'version': BIGINT, 'file': INTEGER}}) AS r
        INNER JOIN {FILES} AS f
            ON f.usage_date = r.usage_date AND f.version = r.version
            AND f.file_no = COALESCE(r.source_file_no, r.file)"""


def refresh_view(con: duckdb.DuckDBPyConnection, root: Path) -> None:
    """Point the view at the stored files listed now (inside the caller's transaction, when it has one)."""
    paths = [p for (p,) in con.execute(
        f"SELECT DISTINCT stored_path FROM {FILES} WHERE stored_path IS NOT NULL ORDER BY 1").fetchall()]  # fmt: skip
    sql = view_sql(root, paths)
    digest = hashlib.sha256(sql.encode()).hexdigest()
    current = scalar(con, "SELECT comment FROM duckdb_views() WHERE schema_name = ? AND view_name = 'llm_requests'",
                     [RAW_SCHEMA])  # fmt: skip
    # Rebuilding binds the view, which opens every listed file: skip it when nothing changed.
    if current != digest:
        con.execute(f"CREATE OR REPLACE VIEW {VIEW} AS {sql}")
        con.execute(f"COMMENT ON VIEW {VIEW} IS {_lit(digest)}")


def ensure(con: duckdb.DuckDBPyConnection) -> None:
    """The file list, the schema file and the view, pointing at the store beside the connection's file; versions
    no commit lists (a run that was killed) are deleted. A warehouse that still holds the requests as a table has
    them moved into the store first."""
    body = ", ".join(f"{name} {kind}" for name, kind in FILE_COLUMNS.items())
    con.execute(f"CREATE TABLE IF NOT EXISTS {FILES} ({body})")
    con.execute(f"ALTER TABLE {FILES} ADD COLUMN IF NOT EXISTS stored_path VARCHAR")
    root = store_root(con)
    _list_stored_paths_of_older_warehouses(con, root)
    _write_schema_file(con, root)
    kind = scalar(
        con,
        "SELECT table_type FROM information_schema.tables WHERE table_schema = ? AND table_name = 'llm_requests'",
        [RAW_SCHEMA],
    )
    if kind == "BASE TABLE":
        _move_table_into_store(con, root)
    refresh_view(con, root)
    delete_abandoned_versions(con, root)


def _list_stored_paths_of_older_warehouses(con: duckdb.DuckDBPyConnection, root: Path) -> None:
    """Warehouses written before the file list named each stored file: kept log files are `file=<file_no>`, and
    the one other directory of the version holds the normalised rows."""
    unlisted = con.execute(
        f"SELECT DISTINCT usage_date, version FROM {FILES} WHERE stored_path IS NULL ORDER BY 1"
    ).fetchall()
    for day, version in unlisted:
        kept = {n for (n,) in con.execute(f"SELECT file_no FROM {FILES} WHERE usage_date = ? AND version = ? AND "
                                          "stored_as = 'kept'", [day, version]).fetchall()}  # fmt: skip
        directory = day_dir(root, day, version)
        others = sorted(p.name for p in directory.glob("file=*") if p.name.removeprefix("file=") not in map(str, kept))
        relative = directory.relative_to(root)
        con.execute(
            f"UPDATE {FILES} SET stored_path = CASE WHEN stored_as = 'kept' "
            f"THEN ? || '/file=' || file_no || '/requests.parquet' ELSE ? END "
            "WHERE usage_date = ? AND version = ? AND stored_path IS NULL",
            [str(relative), f"{relative}/{others[0]}/*.parquet" if others else None, day, version],
        )


def _move_table_into_store(con: duckdb.DuckDBPyConnection, root: Path) -> None:
    con.execute(f"ALTER TABLE {VIEW} ADD COLUMN IF NOT EXISTS source_row BIGINT")
    con.execute(f"ALTER TABLE {VIEW} RENAME TO llm_requests_moving")
    store_days(con, f"SELECT * FROM {RAW_SCHEMA}.llm_requests_moving", root)
    con.execute(f"DROP TABLE {RAW_SCHEMA}.llm_requests_moving")


def store_days(con: duckdb.DuckDBPyConnection, rows_sql: str, root: Path | None = None) -> None:
    """Store whole days in bulk, replacing them: `rows_sql` gives the stored columns, `usage_date`, `source` and
    `ingested_at`; one stored file a day. Daily ingest writes its day itself; this is for moving an older
    warehouse and loading history. The rows are read twice and never held: once to list the files, once to write."""
    root = root or store_root(con)
    con.execute(f"SET memory_limit = '{settings.duckdb_memory_limit()}'")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _day_files AS
        SELECT rows.usage_date, rows.source,
               CAST(dense_rank() OVER (PARTITION BY rows.usage_date ORDER BY rows.source) - 1 AS INTEGER) AS file,
               COALESCE(max(current.version), 0) + 1 AS version, count(*) AS requests,
               max(rows.ingested_at) AS ingested_at
        FROM ({rows_sql}) AS rows
        LEFT JOIN (SELECT usage_date, max(version) AS version FROM {FILES} GROUP BY usage_date) AS current
            USING (usage_date)
        GROUP BY rows.usage_date, rows.source"""
    )
    days = con.execute("SELECT DISTINCT usage_date, version FROM _day_files").fetchall()
    for day, version in days:
        shutil.rmtree(day_dir(root, day, version), ignore_errors=True)
    # rows of an older warehouse lack the columns added since: NULL, which the view reads as their default
    present = {d[0] for d in con.execute(f"SELECT * FROM ({rows_sql}) LIMIT 0").description}
    stored = ", ".join(
        f"rows.{c}" if c in present else f"CAST(NULL AS {STORED_COLUMNS[c]}) AS {c}"
        for c in STORED_COLUMNS
        if c != "source_file_no"
    )
    con.execute(
        f"""COPY (SELECT {stored}, f.file AS source_file_no, f.usage_date, f.version, 0 AS file
                  FROM ({rows_sql}) AS rows JOIN _day_files AS f USING (usage_date, source))
        TO {_lit(str(root))} (FORMAT parquet, PARTITION_BY (usage_date, version, file), OVERWRITE_OR_IGNORE)"""
    )
    with transaction(con):
        con.execute(f"DELETE FROM {FILES} WHERE usage_date IN (SELECT usage_date FROM _day_files)")
        con.execute(
            f"INSERT INTO {FILES} SELECT usage_date, version, file, source, 'normalised', requests, ingested_at, "
            "'usage_date=' || strftime(usage_date, '%Y-%m-%d') || '/version=' || version || '/file=0/*.parquet' "
            "FROM _day_files"
        )
        refresh_view(con, root)
    con.execute("DROP TABLE _day_files")
    for day, version in days:
        delete_other_versions(root, day, keep=version)


def stored_requests(con: duckdb.DuckDBPyConnection, day: date) -> int:
    """Requests the day holds now."""
    return int(scalar(con, f"SELECT COALESCE(sum(requests), 0) FROM {FILES} WHERE usage_date = ?", [day]))


def next_version(con: duckdb.DuckDBPyConnection, day: date) -> int:
    return int(scalar(con, f"SELECT COALESCE(max(version), 0) + 1 FROM {FILES} WHERE usage_date = ?", [day]))


def keep_file(path: str, root: Path, day: date, version: int, file_no: int) -> None:
    """The log file itself becomes the stored file."""
    target = stored_file(root, day, version, file_no)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target)


def stored_file(root: Path, day: date, version: int, file_no: int) -> Path:
    return day_dir(root, day, version) / f"file={file_no}" / "requests.parquet"


def write_normalised(con: duckdb.DuckDBPyConnection, select_sql: str, target: Path) -> int:
    """Rows of `select_sql` (the stored columns, and maybe others) as the file `target`; the number written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    stored = ", ".join(STORED_COLUMNS)
    return int(scalar(con, f"COPY (SELECT {stored} FROM ({select_sql})) TO {_lit(str(target))} (FORMAT parquet)"))


@dataclass(frozen=True)
class StoredFile:
    """A log file of the day and where its rows are stored (None: it had no usable rows)."""

    file_no: int
    source: str
    stored_as: str  # 'kept' or 'normalised'
    requests: int
    stored: Path | None


def point_day_at(con: duckdb.DuckDBPyConnection, root: Path, day: date, version: int, files: list[StoredFile]) -> None:
    """Make `version` the day's current one and the view read its files (inside the caller's transaction)."""
    con.execute(f"DELETE FROM {FILES} WHERE usage_date = ?", [day])
    if files:
        con.executemany(
            f"INSERT INTO {FILES} VALUES (?, ?, ?, ?, ?, ?, now(), ?)",
            [
                [day, version, f.file_no, f.source, f.stored_as, f.requests,
                 None if f.stored is None else str(f.stored.relative_to(root))]
                for f in files
            ],
        )  # fmt: skip
    refresh_view(con, root)


def delete_abandoned_versions(con: duckdb.DuckDBPyConnection, root: Path) -> None:
    """Every version directory the file list does not point at: what runs that were killed left. Only the process
    holding the warehouse's write lock writes the store, so nothing else is writing them."""
    current = {(str(d), v) for d, v in con.execute(f"SELECT DISTINCT usage_date, version FROM {FILES}").fetchall()}
    if not root.exists():
        return
    for directory in root.glob("usage_date=*"):
        day = directory.name.removeprefix("usage_date=")
        if day == _SCHEMA_DAY or not directory.is_dir():
            continue
        for version in directory.iterdir():
            if (day, _version_number(version.name)) not in current:
                shutil.rmtree(version, ignore_errors=True) if version.is_dir() else version.unlink(missing_ok=True)
        if not any(directory.iterdir()):
            directory.rmdir()


def _version_number(name: str) -> int | None:
    number = name.removeprefix("version=")
    return int(number) if name.startswith("version=") and number.isdigit() else None


def delete_other_versions(root: Path, day: date, keep: int | None) -> None:
    """After the commit: every version of the day but `keep` (None: all of them)."""
    directory = day_dir(root, day)
    if not directory.exists():
        return
    for version in directory.iterdir():
        if version.name != f"version={keep}":
            shutil.rmtree(version, ignore_errors=True)
