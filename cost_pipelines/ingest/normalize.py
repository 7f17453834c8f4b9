"""Normalise one day of log files to canonical requests inside DuckDB, sorting out what cannot be used.

Every shape is first reduced to the same text columns (`_candidates`), then one vectorised SQL pass parses,
validates and de-duplicates them. Only raw provider bodies go through Python, one line at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import duckdb
import pyarrow as pa

from cost_pipelines.ingest.canonical import (
    ALIASES,
    ERROR_STATUSES,
    FIELDS,
    OPTIONAL_TOKEN_FIELDS,
    SUCCESS_STATUSES,
    TOKEN_FIELDS,
)
from cost_pipelines.ingest.provider_bodies import ENVELOPE_BODY_KEYS, UnreadableBody, body_to_fields
from cost_pipelines.ingest.sources import SourceFile

_CANDIDATE_COLUMNS = ("source", "row_number", "raw_record", *FIELDS)
_REJECT_COLUMNS = ("source", "row_number", "reason", "raw_record")
_RAW_BODY_BATCH = 5_000


@dataclass
class NormaliseStats:
    files: int = 0
    rows_in: int = 0
    rows_by_format: dict[str, int] = field(default_factory=dict)


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def create_work_tables(con: duckdb.DuckDBPyConnection) -> None:
    columns = ", ".join(f"{_q(c)} {'BIGINT' if c == 'row_number' else 'VARCHAR'}" for c in _CANDIDATE_COLUMNS)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _candidates ({columns})")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _rejects (source VARCHAR, row_number BIGINT, reason VARCHAR, raw_record VARCHAR)"
    )


def _field_expr(present: set[str], value_of: Callable[[str], str]) -> str:
    return ", ".join(
        (
            "NULLIF(TRIM(COALESCE(" + ", ".join(value_of(a) for a in aliases if a in present) + ")), '')"
            if any(a in present for a in aliases)
            else "NULL"
        )
        + f" AS {_q(f)}"
        for f, aliases in ALIASES.items()
    )


def _insert_tabular(con: duckdb.DuckDBPyConnection, file: SourceFile, reader_sql: str) -> int:
    present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {reader_sql}").fetchall()}
    fields = _field_expr(present, lambda c: f"CAST(t.{_q(c)} AS VARCHAR)")
    before = con.execute("SELECT count(*) FROM _candidates").fetchone()[0]
    con.execute(
        f"""INSERT INTO _candidates BY NAME
        SELECT {_lit(file.name)} AS source, row_number() OVER () AS row_number, to_json(t) AS raw_record, {fields}
        FROM {reader_sql} t"""
    )
    return con.execute("SELECT count(*) FROM _candidates").fetchone()[0] - before


def _read_csv(con: duckdb.DuckDBPyConnection, file: SourceFile, scan_no: int) -> int:
    rejects = f"_csv_rejects_{scan_no}"
    reader = (
        f"read_csv({_lit(file.path)}, all_varchar = true, header = true, store_rejects = true, "
        f"rejects_table = {_lit(rejects)}, rejects_scan = {_lit(rejects + '_scan')})"
    )
    kept = _insert_tabular(con, file, reader)
    con.execute(
        f"""INSERT INTO _rejects
        SELECT {_lit(file.name)}, line, 'malformed CSV line: ' || error_message, csv_line
        FROM {rejects} QUALIFY row_number() OVER (PARTITION BY line ORDER BY column_idx) = 1"""
    )
    rejected = con.execute(f"SELECT count(DISTINCT line) FROM {rejects}").fetchone()[0]
    con.execute(f"DROP TABLE {rejects}")
    con.execute(f"DROP TABLE {rejects}_scan")
    return kept + rejected


def _read_parquet(con: duckdb.DuckDBPyConnection, file: SourceFile) -> int:
    return _insert_tabular(con, file, f"read_parquet({_lit(file.path)})")


def _read_jsonl(con: duckdb.DuckDBPyConnection, file: SourceFile) -> int:
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _lines AS
        SELECT row_number() OVER () AS row_number, line,
               json_valid(line) AS is_json,
               CASE WHEN json_valid(line) THEN json_type(line) END AS json_kind,
               CASE WHEN json_valid(line) AND json_type(line) = 'OBJECT' THEN COALESCE(
                   {" OR ".join(f"json_type(line, '$.{k}') = 'OBJECT'" for k in (*ENVELOPE_BODY_KEYS, "usage"))},
                   false) ELSE false END AS is_provider_body
        FROM read_csv({_lit(file.path)}, columns = {{'line': 'VARCHAR'}}, header = false, delim = chr(0),
                      quote = '', escape = '', auto_detect = false, max_line_size = 67108864)"""
    )
    # Blank lines separate nothing and are not records.
    con.execute("DELETE FROM _lines WHERE line IS NULL OR TRIM(line) = ''")
    con.execute(
        f"""INSERT INTO _rejects
        SELECT {_lit(file.name)}, row_number,
               CASE WHEN NOT is_json THEN 'invalid JSON' ELSE 'JSON line is not an object' END, line
        FROM _lines WHERE NOT is_json OR json_kind <> 'OBJECT'"""
    )
    json_keys = {a for aliases in ALIASES.values() for a in aliases}
    fields = _field_expr(json_keys, lambda key: f"json_extract_string(line, {_lit('$.' + _q(key))})")
    con.execute(
        f"""INSERT INTO _candidates BY NAME
        SELECT {_lit(file.name)} AS source, row_number, line AS raw_record, {fields}
        FROM _lines WHERE is_json AND json_kind = 'OBJECT' AND NOT is_provider_body"""
    )
    _read_provider_bodies(con, file)
    total = con.execute("SELECT count(*) FROM _lines").fetchone()[0]
    con.execute("DROP TABLE _lines")
    return total


def _read_provider_bodies(con: duckdb.DuckDBPyConnection, file: SourceFile) -> None:
    last = 0
    while batch := con.execute(
        "SELECT row_number, line FROM _lines WHERE is_provider_body AND row_number > ? ORDER BY row_number LIMIT ?",
        [last, _RAW_BODY_BATCH],
    ).fetchall():
        last = batch[-1][0]
        candidates: dict[str, list] = {c: [] for c in _CANDIDATE_COLUMNS}
        rejects: dict[str, list] = {c: [] for c in _REJECT_COLUMNS}
        for row_number, line in batch:
            try:
                fields = body_to_fields(line)
            except UnreadableBody as exc:
                for column, value in zip(_REJECT_COLUMNS, (file.name, row_number, str(exc), line), strict=True):
                    rejects[column].append(value)
                continue
            candidates["source"].append(file.name)
            candidates["row_number"].append(row_number)
            candidates["raw_record"].append(line)
            for f in FIELDS:
                value = fields.get(f)
                candidates[f].append(value.strip() or None if value is not None else None)
        _append_arrow(con, "_candidates", candidates)
        _append_arrow(con, "_rejects", rejects)


def _append_arrow(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, list]) -> None:
    if not next(iter(columns.values())):
        return
    arrow = pa.table({c: pa.array(v, pa.int64() if c == "row_number" else pa.string()) for c, v in columns.items()})
    con.register("_arrow_batch", arrow)
    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _arrow_batch")
    con.unregister("_arrow_batch")


def read_files(con: duckdb.DuckDBPyConnection, files: list[SourceFile]) -> NormaliseStats:
    """Fill `_candidates` (usable-looking records, all text) and `_rejects` (unreadable records)."""
    create_work_tables(con)
    stats = NormaliseStats()
    for scan_no, file in enumerate(files):
        if file.format == "csv":
            rows = _read_csv(con, file, scan_no)
        elif file.format == "parquet":
            rows = _read_parquet(con, file)
        else:
            rows = _read_jsonl(con, file)
        stats.files += 1
        stats.rows_in += rows
        stats.rows_by_format[file.format] = stats.rows_by_format.get(file.format, 0) + rows
    return stats


def _count_expr(column: str) -> str:
    """Whole, possibly negative numbers written as text ('12', '12.0', '-3'); anything else is NULL."""
    return (
        f"CASE WHEN regexp_full_match({column}, '[+-]?[0-9]+(\\.0*)?') "
        f"THEN TRY_CAST(regexp_extract({column}, '^[+-]?[0-9]+') AS BIGINT) END"
    )


_TIMESTAMP_EXPR = """CASE
    WHEN regexp_full_match(occurred_at, '[0-9]{9,10}(\\.[0-9]+)?') THEN to_timestamp(CAST(occurred_at AS DOUBLE))
    WHEN regexp_full_match(occurred_at, '[0-9]{12,13}') THEN to_timestamp(CAST(occurred_at AS DOUBLE) / 1000)
    ELSE TRY_CAST(occurred_at AS TIMESTAMPTZ) END"""


def _reason_expr(day: date) -> str:
    token_checks = []
    for f in TOKEN_FIELDS:
        if f not in OPTIONAL_TOKEN_FIELDS:
            token_checks.append(f"WHEN {f} IS NULL THEN 'missing {f}'")
        token_checks.append(f"WHEN {f} IS NOT NULL AND {f}_n IS NULL THEN 'non-numeric {f}: ' || {f}")
        token_checks.append(f"WHEN {f}_n < 0 THEN 'negative {f}: ' || {f}")
    statuses = ", ".join(_lit(s) for s in (*SUCCESS_STATUSES, *ERROR_STATUSES))
    return f"""CASE
        WHEN provider IS NULL THEN 'missing provider'
        WHEN model IS NULL THEN 'missing model'
        WHEN occurred_at IS NULL THEN 'missing occurred_at'
        WHEN occurred_at_ts IS NULL THEN 'unparseable occurred_at: ' || occurred_at
        WHEN occurred_at_ts::DATE <> DATE '{day.isoformat()}'
            THEN 'occurred_at outside partition {day.isoformat()}: ' || occurred_at
        {" ".join(token_checks)}
        WHEN COALESCE(cache_read_tokens_n, 0) + COALESCE(cache_write_tokens_n, 0) > input_tokens_n
            THEN 'cache_read_tokens + cache_write_tokens exceed input_tokens (input_tokens must include cached tokens)'
        WHEN latency_ms IS NOT NULL AND latency_ms_n IS NULL THEN 'non-numeric latency_ms: ' || latency_ms
        WHEN latency_ms_n < 0 THEN 'negative latency_ms: ' || latency_ms
        WHEN status IS NOT NULL AND lower(status) NOT IN ({statuses}) THEN 'unknown status: ' || status
        WHEN reported_cost_usd IS NOT NULL AND reported_cost_usd_n IS NULL
            THEN 'non-numeric reported_cost_usd: ' || reported_cost_usd
        END"""


def validate(con: duckdb.DuckDBPyConnection, day: date) -> None:
    """`_candidates` → `_valid` (typed canonical rows, duplicates resolved) and more `_rejects`."""
    parsed_tokens = ", ".join(f"{_count_expr(f)} AS {f}_n" for f in TOKEN_FIELDS)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _parsed AS
        SELECT *, {_TIMESTAMP_EXPR} AS occurred_at_ts, {parsed_tokens},
               CAST(round(TRY_CAST(latency_ms AS DOUBLE)) AS INTEGER) AS latency_ms_n,
               TRY_CAST(reported_cost_usd AS DECIMAL(38, 18)) AS reported_cost_usd_n
        FROM _candidates"""
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE _checked AS SELECT *, {_reason_expr(day)} AS reason FROM _parsed")
    con.execute(
        "INSERT INTO _rejects SELECT source, row_number, reason, raw_record FROM _checked WHERE reason IS NOT NULL"
    )
    success = ", ".join(_lit(s) for s in SUCCESS_STATUSES)
    content = (
        "provider, model, occurred_at_ts, input_tokens_n, cache_read_tokens_n, cache_write_tokens_n, "
        "output_tokens_n, user_id, team, project, environment, task_type, latency_ms_n, status_n, reported_cost_usd_n"
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _typed AS
        SELECT source, row_number, raw_record, lower(provider) AS provider, model, occurred_at_ts,
               input_tokens_n, COALESCE(cache_read_tokens_n, 0) AS cache_read_tokens_n,
               COALESCE(cache_write_tokens_n, 0) AS cache_write_tokens_n, output_tokens_n,
               user_id, team, project, environment, task_type, latency_ms_n,
               CASE WHEN status IS NULL OR lower(status) IN ({success}) THEN 'success' ELSE 'error' END AS status_n,
               reported_cost_usd_n, request_id
        FROM _checked WHERE reason IS NULL"""
    )
    # A row without a request id gets a stable hash of its content, so a file read twice still dedupes.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ranked AS
        SELECT *, row_number() OVER (PARTITION BY request_id_n ORDER BY source, row_number) AS copy_no,
               first_value(content_hash) OVER (PARTITION BY request_id_n ORDER BY source, row_number) AS first_hash,
               first_value(source || ':' || row_number) OVER (PARTITION BY request_id_n ORDER BY source, row_number)
                   AS first_seen
        FROM (
            SELECT *, md5(concat_ws('|', {content})) AS content_hash,
                   COALESCE(request_id, 'sha-' || md5(concat_ws('|', {content}))) AS request_id_n
            FROM _typed)"""
    )
    con.execute(
        """INSERT INTO _rejects
        SELECT source, row_number,
               'request_id ' || request_id_n || ' repeats ' || first_seen || ' with different values', raw_record
        FROM _ranked WHERE copy_no > 1 AND content_hash <> first_hash"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _valid AS
        SELECT request_id_n AS request_id, occurred_at_ts AS occurred_at, CAST(occurred_at_ts AS DATE) AS usage_date,
               provider, model, input_tokens_n AS input_tokens, cache_read_tokens_n AS cache_read_tokens,
               cache_write_tokens_n AS cache_write_tokens, output_tokens_n AS output_tokens,
               user_id, team, project, environment, task_type, latency_ms_n AS latency_ms, status_n AS status,
               reported_cost_usd_n AS reported_cost_usd, source
        FROM _ranked WHERE copy_no = 1"""
    )


def duplicate_count(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("SELECT count(*) FROM _ranked WHERE copy_no > 1 AND content_hash = first_hash").fetchone()[0]


def drop_work_tables(con: duckdb.DuckDBPyConnection) -> None:
    for table in ("_candidates", "_rejects", "_parsed", "_checked", "_typed", "_ranked", "_valid"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
