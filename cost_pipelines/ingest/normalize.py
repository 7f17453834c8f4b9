"""Normalise one day of log files to canonical requests inside DuckDB, sorting out what cannot be used.

Each file becomes a relation with the canonical fields: a Parquet file is read in place with its own column types
(integer tokens and timestamps need no parsing), JSONL and CSV are first reduced to text columns in `_candidates`
(raw provider bodies go through Python, one line at a time). The same SQL then parses, validates and types every
relation. A file that is already canonical Parquet with every record usable is checked in one scan and stored as
it is (see `request_store`); every other file is streamed through that SQL: usable rows into the temporary table
`_kept` (written out as the day's Parquet files), the others with their reason into `raw.llm_requests_quarantine`.
Repeated request ids are resolved afterwards on the kept rows, which is cheap because repeats are rare.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date

import duckdb
import pyarrow as pa

from cost_pipelines.ingest.canonical import (
    ALIASES,
    CONTENT_FIELDS,
    ERROR_STATUSES,
    FIELDS,
    OPTIONAL_TOKEN_FIELDS,
    REQUEST_COLUMNS,
    SUCCESS_STATUSES,
    TOKEN_FIELDS,
)
from cost_pipelines.ingest.provider_bodies import ENVELOPE_BODY_KEYS, UnreadableBody, body_to_fields
from cost_pipelines.ingest.sources import SourceFile
from cost_pipelines.warehouse import scalar

_CANDIDATE_COLUMNS = ("source", "row_number", "raw_record", *FIELDS)
_REJECT_COLUMNS = ("source", "row_number", "reason", "raw_record")
_RAW_BODY_BATCH = 5_000
_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}
_TIMESTAMP_TYPES = {"TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS"}
_COUNT_FIELDS = (*TOKEN_FIELDS, "latency_ms")
MAX_LINE_BYTES = 64 * 1024 * 1024  # the longest JSONL line read; a longer one makes its file unreadable


@dataclass(frozen=True)
class UnreadableFile:
    """A log file that could not be read at all: quarantined whole, with the reason."""

    source: str
    reason: str
    size_bytes: int | None


@dataclass(frozen=True)
class Relation:
    """One file's records as SQL: `sql` selects from alias `t`; `columns`: name -> DuckDB type of t's columns."""

    sql: str
    columns: dict[str, str]
    source: str  # SQL for the source name
    row_number: str  # SQL for the record's position in its file (1-based)
    record: str  # SQL over t for the whole record as read (kept as `_row`, made into text only for rejects)
    raw_record: str  # SQL over the alias `r` (with `r._row`): a rejected record's text
    text: bool  # columns already hold trimmed text with '' as NULL (the `_candidates` shape)
    rows: int | None = None  # records in the relation, when known without reading it (Parquet metadata)
    records: int = 0  # records read from the file, unreadable lines included: what the row accounting counts


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


def _count_rows(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return scalar(con, f"SELECT count(*) FROM {table}")


def _read_csv(con: duckdb.DuckDBPyConnection, file: SourceFile, scan_no: int) -> int:
    rejects = f"_csv_rejects_{scan_no}"
    reader = (
        f"read_csv({_lit(file.path)}, all_varchar = true, header = true, store_rejects = true, "
        f"rejects_table = {_lit(rejects)}, rejects_scan = {_lit(rejects + '_scan')})"
    )
    present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()}
    fields = _field_expr(present, lambda c: f"t.{_q(c)}")
    kept = scalar(
        con,
        f"""INSERT INTO _candidates BY NAME
        SELECT {_lit(file.name)} AS source, row_number() OVER () AS row_number, to_json(t) AS raw_record, {fields}
        FROM {reader} t""",
    )
    con.execute(
        f"""INSERT INTO _rejects
        SELECT {_lit(file.name)}, line, 'malformed CSV line: ' || error_message, csv_line
        FROM {rejects} QUALIFY row_number() OVER (PARTITION BY line ORDER BY column_idx) = 1"""
    )
    rejected = scalar(con, f"SELECT count(DISTINCT line) FROM {rejects}")
    con.execute(f"DROP TABLE {rejects}")
    con.execute(f"DROP TABLE {rejects}_scan")
    return kept + rejected


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
                      quote = '', escape = '', auto_detect = false, max_line_size = {MAX_LINE_BYTES})"""
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
    total = _count_rows(con, "_lines")
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


def _parquet_relation(con: duckdb.DuckDBPyConnection, file: SourceFile) -> tuple[Relation, int]:
    reader = f"read_parquet({_lit(file.path)}, file_row_number = true)"
    columns = {name: kind for name, kind, *_ in con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()}
    rows = scalar(con, f"SELECT sum(num_rows) FROM parquet_file_metadata({_lit(file.path)})")
    del columns["file_row_number"]
    record = "struct_pack(" + ", ".join(f"{_q(c)} := t.{_q(c)}" for c in columns) + ")"
    relation = Relation(
        sql=f"{reader} t", columns=columns, source=_lit(file.name), row_number="t.file_row_number + 1",
        record=record, raw_record="to_json(r._row)", text=False, rows=int(rows or 0),
    )  # fmt: skip
    return relation, int(rows or 0)


def _text_relation(file: SourceFile) -> Relation:
    columns = dict.fromkeys(FIELDS, "VARCHAR")
    return Relation(
        sql=f"(SELECT * FROM _candidates WHERE source = {_lit(file.name)} ORDER BY row_number) t",
        columns=columns, source="t.source", row_number="t.row_number", record="t.raw_record",
        raw_record="r._row", text=True,
    )  # fmt: skip


def read_files(
    con: duckdb.DuckDBPyConnection, files: list[SourceFile]
) -> tuple[list[Relation | None], list[UnreadableFile]]:
    """One relation per file, in file order (None for a file that cannot be read, listed with its reason). JSONL
    and CSV records are loaded into `_candidates` (text) and their unreadable lines into `_rejects`; Parquet files
    are read where they are when the day is written."""
    create_work_tables(con)
    relations: list[Relation | None] = []
    unreadable = []
    for scan_no, file in enumerate(files):
        try:
            if file.format == "parquet":
                relation, rows = _parquet_relation(con, file)
            else:
                rows = _read_csv(con, file, scan_no) if file.format == "csv" else _read_jsonl(con, file)
                relation = _text_relation(file)
        except duckdb.Error as error:
            _drop_scan_tables(con, scan_no)
            unreadable.append(UnreadableFile(file.name, unreadable_reason(file, error), _size(file.path)))
            relations.append(None)
            continue
        relations.append(replace(relation, records=rows))
    return relations, unreadable


def _drop_scan_tables(con: duckdb.DuckDBPyConnection, scan_no: int) -> None:
    """What a scan that failed half way may leave (its rows never reached `_candidates`: one statement)."""
    for table in ("_lines", f"_csv_rejects_{scan_no}", f"_csv_rejects_{scan_no}_scan"):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _size(path: str) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def unreadable_reason(file: SourceFile, error: duckdb.Error) -> str:
    """What is wrong with the file, in words a person can act on, then DuckDB's own first line."""
    # Only DuckDB's first line is kept: the next ones may quote the offending line, prompts and all.
    detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    lowered = str(error).lower()
    if "maximum line size" in lowered:
        limit = f"{MAX_LINE_BYTES // 2**20} MiB" if MAX_LINE_BYTES % 2**20 == 0 else f"{MAX_LINE_BYTES:,} bytes"
        kind = f"a line is longer than {limit}"
    elif file.path.lower().endswith(".gz") and ("gzip" in lowered or "compress" in lowered or "inflate" in lowered):
        kind = "the gzip stream is truncated or corrupt"
    elif file.format == "parquet":
        kind = "not a readable Parquet file"
    else:
        kind = f"the {file.format} file cannot be read"
    return f"unreadable file: {kind} ({detail[:300]})"


def unreadable_parquet(
    con: duckdb.DuckDBPyConnection, files: list[SourceFile], relations: list[Relation]
) -> list[tuple[int, UnreadableFile]]:
    """Parquet files whose footer reads but whose data does not: every value is decoded once, file by file. Only
    run after writing the day failed, to find which file made it fail."""
    broken = []
    for position, (file, relation) in enumerate(zip(files, relations, strict=True)):
        if relation.text:
            continue
        try:
            con.execute(f"SELECT sum(hash(t)) FROM read_parquet({_lit(file.path)}) t").fetchall()
        except duckdb.Error as error:
            broken.append((position, UnreadableFile(file.name, unreadable_reason(file, error), _size(file.path))))
    return broken


def record_unreadable(con: duckdb.DuckDBPyConnection, day: date, unreadable: list[UnreadableFile], target: str) -> None:
    if unreadable:
        con.executemany(
            f"INSERT INTO {target} VALUES (?, ?, ?, ?, now())",
            [[day, u.source, u.reason, u.size_bytes] for u in unreadable],
        )


def _count_expr(column: str) -> str:
    """Whole, possibly negative numbers written as text ('12', '12.0', '-3'); anything else is NULL."""
    return (
        f"CASE WHEN regexp_full_match({column}, '[+-]?[0-9]+(\\.0*)?') "
        f"THEN TRY_CAST(regexp_extract({column}, '^[+-]?[0-9]+') AS BIGINT) END"
    )


def _timestamp_expr(column: str) -> str:
    return f"""CASE
    WHEN regexp_full_match({column}, '[0-9]{{9,10}}(\\.[0-9]+)?') THEN to_timestamp(CAST({column} AS DOUBLE))
    WHEN regexp_full_match({column}, '[0-9]{{12,13}}') THEN to_timestamp(CAST({column} AS DOUBLE) / 1000)
    ELSE TRY_CAST({column} AS TIMESTAMPTZ) END"""


def _typed_fields(relation: Relation) -> tuple[str, set[str]]:
    """SELECT list of `<field>` (text, for messages) and `<field>_n` (typed value) columns over alias t, and the
    fields read in their own type (their text form is only made when a message needs it)."""
    select, typed = [], set()
    for f, aliases in ALIASES.items():
        present = [a for a in aliases if a in relation.columns]
        kinds = {relation.columns[a] for a in present}
        if relation.text:
            text = f"t.{_q(f)}"
        elif present:
            text = "NULLIF(TRIM(COALESCE(" + ", ".join(f"CAST(t.{_q(a)} AS VARCHAR)" for a in present) + ")), '')"
        else:
            text = "NULL"
        value = None
        if present and f in _COUNT_FIELDS and kinds <= _INTEGER_TYPES:
            value = "COALESCE(" + ", ".join(f"CAST(t.{_q(a)} AS BIGINT)" for a in present) + ")"
        elif present and f == "occurred_at" and kinds <= _TIMESTAMP_TYPES:
            value = "COALESCE(" + ", ".join(f"CAST(t.{_q(a)} AS TIMESTAMPTZ)" for a in present) + ")"
        if value is not None:
            typed.add(f)
            select.append(f"{value} AS {f}_n")
            continue
        select.append(f"{text} AS {_q(f)}")
        if f in TOKEN_FIELDS:
            select.append(f"{_count_expr(text)} AS {f}_n")
        elif f == "latency_ms":
            select.append(f"CAST(round(TRY_CAST({text} AS DOUBLE)) AS INTEGER) AS {f}_n")
        elif f == "occurred_at":
            select.append(f"{_timestamp_expr(text)} AS {f}_n")
        elif f == "reported_cost_usd":
            select.append(f"TRY_CAST({text} AS DECIMAL(38, 18)) AS {f}_n")
    return ", ".join(select), typed


def _reason_expr(day: date, typed: set[str]) -> str:
    def shown(f: str) -> str:  # the value as written, for a message
        return f"CAST({f}_n AS VARCHAR)" if f in typed else f

    def missing(f: str) -> str:
        return f"{f}_n IS NULL" if f in typed else f"{f} IS NULL"

    token_checks = []
    for f in TOKEN_FIELDS:
        if f not in OPTIONAL_TOKEN_FIELDS:
            token_checks.append(f"WHEN {missing(f)} THEN 'missing {f}'")
        if f not in typed:
            token_checks.append(f"WHEN {f} IS NOT NULL AND {f}_n IS NULL THEN 'non-numeric {f}: ' || {f}")
        token_checks.append(f"WHEN {f}_n < 0 THEN 'negative {f}: ' || {shown(f)}")
    statuses = ", ".join(_lit(s) for s in (*SUCCESS_STATUSES, *ERROR_STATUSES))
    timestamp_checks = (
        "WHEN occurred_at_n IS NULL THEN 'missing occurred_at'"
        if "occurred_at" in typed
        else "WHEN occurred_at IS NULL THEN 'missing occurred_at' "
        "WHEN occurred_at_n IS NULL THEN 'unparseable occurred_at: ' || occurred_at"
    )
    latency_checks = (
        "" if "latency_ms" in typed else
        "WHEN latency_ms IS NOT NULL AND latency_ms_n IS NULL THEN 'non-numeric latency_ms: ' || latency_ms "
    )  # fmt: skip
    return f"""CASE
        WHEN provider IS NULL THEN 'missing provider'
        WHEN model IS NULL THEN 'missing model'
        {timestamp_checks}
        WHEN occurred_at_n::DATE <> DATE '{day.isoformat()}'
            THEN 'occurred_at outside partition {day.isoformat()}: ' || {shown("occurred_at")}
        {" ".join(token_checks)}
        WHEN COALESCE(cache_read_tokens_n, 0) + COALESCE(cache_write_tokens_n, 0) > input_tokens_n
            THEN 'cache_read_tokens + cache_write_tokens exceed input_tokens (input_tokens must include cached tokens)'
        {latency_checks}
        WHEN latency_ms_n < 0 THEN 'negative latency_ms: ' || {shown("latency_ms")}
        WHEN status IS NOT NULL AND lower(status) NOT IN ({statuses}) THEN 'unknown status: ' || status
        WHEN reported_cost_usd IS NOT NULL AND reported_cost_usd_n IS NULL
            THEN 'non-numeric reported_cost_usd: ' || reported_cost_usd
        END"""


def content_expr() -> str:
    """What a request says, as one text: rows agreeing on it are copies of each other."""
    return "concat_ws('|', " + ", ".join(CONTENT_FIELDS) + ")"


def checked_sql(relation: Relation, day: date, extra: str = "") -> str:
    """Every record of the relation, parsed, with `reason` (NULL when usable) and its whole record as `_row`;
    `extra`: more columns computed over the records as read (alias t)."""
    fields, typed = _typed_fields(relation)
    return f"""
        SELECT *, {_reason_expr(day, typed)} AS reason FROM (
            SELECT {relation.source} AS source, {relation.row_number} AS row_number, {relation.record} AS _row,
                   {fields}{", " + extra if extra else ""}
            FROM {relation.sql})"""


_CANONICAL_TEXT = {"request_id", "provider", "model", "user_id", "team", "project", "environment", "task_type"}
_SIGNED_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT"}


def _canonical_types(relation: Relation) -> bool:
    """Canonical column names and types only, with a request id: what the stored files may hold as they are."""
    columns = relation.columns
    if relation.text or not set(columns) <= set(FIELDS) or "request_id" not in columns or "status" not in columns:
        return False
    expected = {f: "VARCHAR" for f in (*_CANONICAL_TEXT, "status")}
    expected |= {"occurred_at": "TIMESTAMP WITH TIME ZONE", "reported_cost_usd": "DECIMAL(38,18)"}
    for name, kind in columns.items():
        if name in _COUNT_FIELDS:
            if kind not in _SIGNED_INTEGER_TYPES:
                return False
        elif kind.replace(" ", "") != expected[name].replace(" ", ""):
            return False
    return True


def _canonical_values(relation: Relation) -> str:
    """True for a record that is stored exactly as it was read: trimmed, non-empty text, lower-case provider,
    a request id, a canonical status and a latency that fits the stored type."""
    checks = ["t.request_id IS NOT NULL", "t.provider = lower(t.provider)", "t.status IN ('success', 'error')"]
    for f in sorted(_CANONICAL_TEXT & set(relation.columns)):
        # as TRIM would leave it (cheaper than comparing with TRIM's result)
        checks.append(f"(t.{f} IS NULL OR NOT (t.{f} = '' OR t.{f} LIKE ' %' OR t.{f} LIKE '% '))")
    if "latency_ms" in relation.columns:
        checks.append("(t.latency_ms IS NULL OR t.latency_ms BETWEEN -2147483648 AND 2147483647)")
    return "COALESCE(" + " AND ".join(checks) + ", false)"


def can_keep_as_is(con: duckdb.DuckDBPyConnection, relation: Relation, day: date) -> bool:
    """Whether the file can be stored as it arrived: canonical Parquet whose every record is usable and canonical
    (one scan; repeated request ids are looked for across the day afterwards)."""
    if not _canonical_types(relation):
        return False
    first_unusable = con.execute(
        f"""SELECT 1 FROM ({checked_sql(relation, day, _canonical_values(relation) + " AS _canonical")})
        WHERE reason IS NOT NULL OR NOT _canonical LIMIT 1"""
    ).fetchall()
    return not first_unusable


def has_repeats(con: duckdb.DuckDBPyConnection, paths: list[str]) -> bool:
    """Whether any request id occurs twice among the Parquet files at `paths` (stored, so no id is NULL)."""
    files = "[" + ", ".join(_lit(p) for p in paths) + "]"
    # count(DISTINCT) is a lighter aggregate than GROUP BY … HAVING count(*) > 1 (0.9 s against 1.2-1.5 s at 10M)
    return bool(
        scalar(
            con,
            f"SELECT count(*) > count(DISTINCT request_id) FROM read_parquet({files}, union_by_name = true)",
        )
    )


def usable_sql(relation: Relation, day: date) -> str:
    """The relation's usable records as canonical request rows (the columns of `REQUEST_COLUMNS`)."""
    success = ", ".join(_lit(s) for s in SUCCESS_STATUSES)
    typed = f"""
        SELECT lower(provider) AS provider, model, occurred_at_n AS occurred_at,
               input_tokens_n AS input_tokens, COALESCE(cache_read_tokens_n, 0) AS cache_read_tokens,
               COALESCE(cache_write_tokens_n, 0) AS cache_write_tokens, output_tokens_n AS output_tokens,
               user_id, team, project, environment, task_type, latency_ms_n AS latency_ms,
               CASE WHEN status IS NULL OR lower(status) IN ({success}) THEN 'success' ELSE 'error' END AS status,
               reported_cost_usd_n AS reported_cost_usd, request_id, source, row_number
        FROM ({checked_sql(relation, day)}) WHERE reason IS NULL"""
    # A row without a request id gets a stable hash of its content, so a file read twice still dedupes.
    return f"""
        SELECT COALESCE(request_id, 'sha-' || md5({content_expr()})) AS request_id, occurred_at,
               CAST(occurred_at AS DATE) AS usage_date, provider, model, input_tokens, cache_read_tokens,
               cache_write_tokens, output_tokens, user_id, team, project, environment, task_type, latency_ms, status,
               reported_cost_usd, source, row_number AS source_row, now() AS ingested_at
        FROM ({typed})"""


def insert_usable(con: duckdb.DuckDBPyConnection, relation: Relation, day: date, target: str) -> int:
    """Stream the relation's usable records into `target` (canonical columns); the number written."""
    return scalar(con, f"INSERT INTO {target} ({', '.join(REQUEST_COLUMNS)}) {usable_sql(relation, day)}")


def insert_rejected(con: duckdb.DuckDBPyConnection, relation: Relation, day: date, target: str) -> int:
    """Stream the relation's unusable records into the quarantine `target` with their reason and original text."""
    return scalar(
        con,
        f"""INSERT INTO {target} (partition_date, source, row_number, reason, raw_record, quarantined_at)
        SELECT DATE '{day.isoformat()}', source, row_number, reason, {relation.raw_record}, now()
        FROM ({checked_sql(relation, day)}) r WHERE reason IS NOT NULL""",
    )


def resolve_repeats(con: duckdb.DuckDBPyConnection, day: date, requests: str, quarantine: str) -> tuple[int, int]:
    """Keep the first copy of each request id written for `day` (by file, then position). Later identical copies
    are dropped and counted; later copies that differ are moved to the quarantine. Returns (dropped, moved)."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _repeated AS
        SELECT request_id FROM {requests} WHERE usage_date = ? GROUP BY request_id HAVING count(*) > 1""",
        [day],
    )
    if not _count_rows(con, "_repeated"):
        return 0, 0
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _copies AS
        SELECT rowid AS rid, request_id, source, source_row,
               row_number() OVER w AS copy_no, md5({content_expr()}) AS content_hash,
               first_value(md5({content_expr()})) OVER w AS first_hash,
               first_value(source || ':' || source_row) OVER w AS first_seen
        FROM {requests} WHERE usage_date = ? AND request_id IN (SELECT request_id FROM _repeated)
        WINDOW w AS (PARTITION BY request_id ORDER BY source, source_row)""",
        [day],
    )
    moved = scalar(
        con,
        f"""INSERT INTO {quarantine} (partition_date, source, row_number, reason, raw_record, quarantined_at)
        SELECT DATE '{day.isoformat()}', c.source, c.source_row,
               'request_id ' || c.request_id || ' repeats ' || c.first_seen || ' with different values',
               to_json(r), now()
        FROM _copies c JOIN {requests} r ON r.rowid = c.rid
        WHERE c.copy_no > 1 AND c.content_hash <> c.first_hash""",
    )
    removed = con.execute(f"DELETE FROM {requests} WHERE rowid IN (SELECT rid FROM _copies WHERE copy_no > 1)")
    removed_count = removed.fetchall()[0][0]
    return removed_count - moved, moved


KEPT = "_kept"  # the day's usable rows that are written normalised (files not stored as they arrived)


def create_kept_table(con: duckdb.DuckDBPyConnection, sources: list[str]) -> None:
    columns = ", ".join(f"{name} {kind}" for name, kind in REQUEST_COLUMNS.items())
    con.execute(f"CREATE OR REPLACE TEMP TABLE {KEPT} ({columns})")
    con.execute("CREATE OR REPLACE TEMP TABLE _file_numbers (source VARCHAR, file INTEGER)")
    if sources:
        con.executemany("INSERT INTO _file_numbers VALUES (?, ?)", [[name, i] for i, name in enumerate(sources)])


def kept_rows_sql() -> str:
    """The kept rows with `source_file_no`, their log file's number in the day."""
    return f"SELECT k.*, n.file AS source_file_no FROM {KEPT} k JOIN _file_numbers n USING (source)"


def drop_work_tables(con: duckdb.DuckDBPyConnection) -> None:
    for table in ("_candidates", "_rejects", "_repeated", "_copies", KEPT, "_file_numbers"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
