"""Normalise one day of log files to canonical requests inside DuckDB, sorting out what cannot be used.

Each file is a relation (`readers`) with the canonical fields: Parquet in its own column types (integer tokens and
timestamps need no parsing), JSON lines and CSV as trimmed text. The same SQL parses, validates and types every
relation. A file that is already canonical Parquet with every record usable is checked in one scan and stored as
it is (see `request_store`); all the other files are streamed together through that SQL once, each record into
its part (`parted_sql`): usable rows become the day's normalised Parquet file, the others go with their reason
and original text to `raw.llm_requests_quarantine`. Repeated request ids are resolved afterwards on the rows
written, which is cheap because repeats are rare.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

from cost_pipelines.ingest.canonical import (
    ALIASES,
    CONTENT_FIELDS,
    ERROR_STATUSES,
    FIELDS,
    OPTIONAL_TOKEN_FIELDS,
    OTHER_COUNT_FIELDS,
    PROVIDER_ALIASES,
    RECORD_KINDS,
    REQUEST_COLUMNS,
    REQUEST_KIND,
    SERVICE_TIER_ALIASES,
    SERVICE_TIERS,
    SUCCESS_STATUSES,
    TOKEN_FIELDS,
)
from cost_pipelines.warehouse import scalar
from cost_pipelines.warehouse import sql_identifier as _q
from cost_pipelines.warehouse import sql_literal as _lit

_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}
_TIMESTAMP_TYPES = {"TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS"}
_COUNT_FIELDS = (*TOKEN_FIELDS, *OTHER_COUNT_FIELDS, "latency_ms")


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
    text: bool  # columns already hold trimmed text with '' as NULL (JSON lines, provider bodies read in Python)
    rows: int | None = None  # records in the relation, when known without reading it (Parquet metadata)
    pre_reason: str = "NULL"  # SQL over t: why the record is unusable before any field is read (invalid JSON)
    python_reads: str = "false"  # SQL over t: the record is a provider body that only Python reads exactly
    not_request: str = "false"  # SQL over t: the record is a tool's record that is no LLM request (a trace span)
    csv_rejects: str | None = None  # the table where DuckDB's CSV reader puts the lines it could not split
    numbered: bool = True  # `row_number` is the position; else NULL, and `positions` numbers the records
    positions: str | None = None  # SQL of (`_n`, `raw`: the record's text to quarantine, `text`: as `raw_record`)
    positions_tables: tuple[str, ...] = ()  # tables the `positions` scan leaves behind


def _count_expr(column: str) -> str:
    """Whole, possibly negative numbers written as text ('12', '12.0', '-3'); anything else is NULL."""
    # Plain integer text (nearly every value) is recognised without a regular expression: it reads back the same.
    return (
        f"CASE WHEN CAST(TRY_CAST({column} AS BIGINT) AS VARCHAR) = {column} THEN TRY_CAST({column} AS BIGINT) "
        f"WHEN regexp_full_match({column}, '[+-]?[0-9]+(\\.0*)?') "
        f"THEN TRY_CAST(regexp_extract({column}, '^[+-]?[0-9]+') AS BIGINT) END"
    )


def _timestamp_expr(column: str) -> str:
    # Epoch numbers hold no '-': dates and times with one skip both regular expressions.
    return f"""CASE
    WHEN contains({column}, '-') THEN TRY_CAST({column} AS TIMESTAMPTZ)
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
        if f in TOKEN_FIELDS or f in OTHER_COUNT_FIELDS:
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
    for f in OTHER_COUNT_FIELDS:
        if f not in typed:
            token_checks.append(f"WHEN {f} IS NOT NULL AND {f}_n IS NULL THEN 'non-numeric {f}: ' || {f}")
        token_checks.append(f"WHEN {f}_n < 0 THEN 'negative {f}: ' || {shown(f)}")
    tiers = ", ".join(_lit(t) for t in (*SERVICE_TIERS, *SERVICE_TIER_ALIASES))
    kinds = ", ".join(_lit(k) for k in RECORD_KINDS)
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
        WHEN COALESCE(cache_write_1h_tokens_n, 0) > COALESCE(cache_write_tokens_n, 0)
            THEN 'cache_write_1h_tokens exceed cache_write_tokens (cache_write_tokens must include 1-hour writes)'
        WHEN COALESCE(input_audio_tokens_n, 0) > input_tokens_n
            THEN 'input_audio_tokens exceed input_tokens (input_tokens must include audio tokens)'
        WHEN COALESCE(output_audio_tokens_n, 0) > output_tokens_n
            THEN 'output_audio_tokens exceed output_tokens (output_tokens must include audio tokens)'
        WHEN record_kind IS NOT NULL AND record_kind NOT IN ({kinds}) THEN 'unknown record_kind: ' || record_kind
        WHEN record_kind = '{REQUEST_KIND}' AND request_count_n <> 1
            THEN 'a request record counts one request: request_count ' || {shown("request_count")}
        WHEN service_tier IS NOT NULL AND lower(service_tier) NOT IN ({tiers})
            THEN 'unknown service_tier: ' || service_tier
        {latency_checks}
        WHEN latency_ms_n < 0 THEN 'negative latency_ms: ' || {shown("latency_ms")}
        WHEN status IS NOT NULL AND lower(status) NOT IN ({statuses}) THEN 'unknown status: ' || status
        WHEN reported_cost_usd IS NOT NULL AND reported_cost_usd_n IS NULL
            THEN 'non-numeric reported_cost_usd: ' || reported_cost_usd
        END"""


def _service_tier(column: str) -> str:
    whens = " ".join(f"WHEN {_lit(a)} THEN {_lit(t)}" for a, t in SERVICE_TIER_ALIASES.items())
    return f"CASE lower({column}) {whens} ELSE COALESCE(lower({column}), 'standard') END"


def _record_kind() -> str:
    """A record that states a request count and no kind is a usage bucket."""
    return f"COALESCE(record_kind, CASE WHEN request_count_n IS NULL THEN '{REQUEST_KIND}' ELSE 'usage_bucket' END)"


def content_expr() -> str:
    """What a request says, as one text: rows agreeing on it are copies of each other."""
    return "concat_ws('|', " + ", ".join(CONTENT_FIELDS) + ")"


def checked_sql(relation: Relation, day: date, extra: str = "") -> str:
    """Every record of the relation, parsed, with `reason` (NULL when usable), its whole record as `_row` and
    `_python_reads`; `extra`: more columns computed over the records as read (alias t)."""
    fields, typed = _typed_fields(relation)
    return f"""
        SELECT * EXCLUDE (_pre_reason), COALESCE(_pre_reason, {_reason_expr(day, typed)}) AS reason FROM (
            SELECT {relation.source} AS source, {relation.row_number} AS row_number, {relation.record} AS _row,
                   {relation.pre_reason} AS _pre_reason, {relation.python_reads} AS _python_reads,
                   {relation.not_request} AS _not_request,
                   {fields}{", " + extra if extra else ""}
            FROM {relation.sql})"""


_CANONICAL_TEXT = {"request_id", "provider", "model", "user_id", "team", "project", "environment", "task_type"}
_SIGNED_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT"}


def _canonical_types(relation: Relation) -> bool:
    """Canonical column names and types only, with a request id: what the stored files may hold as they are."""
    columns = relation.columns
    keepable = set(FIELDS) - {
        "cache_write_1h_tokens", "input_audio_tokens", "output_audio_tokens", "service_tier", *OTHER_COUNT_FIELDS,
        "record_kind",
    }  # fmt: skip
    if relation.text or not set(columns) <= keepable or "request_id" not in columns or "status" not in columns:
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
    aliases = ", ".join(_lit(a) for a in PROVIDER_ALIASES)
    checks = [
        "t.request_id IS NOT NULL",
        f"t.provider = lower(t.provider) AND t.provider NOT IN ({aliases})",
        "t.status IN ('success', 'error')",
    ]
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


def _provider_id(column: str) -> str:
    """The one id of a provider (`PROVIDER_ALIASES`), lower-cased."""
    whens = " ".join(f"WHEN {_lit(a)} THEN {_lit(p)}" for a, p in PROVIDER_ALIASES.items())
    return f"CASE lower({column}) {whens} ELSE lower({column}) END"


def _typed_sql(relation: Relation, day: date) -> str:
    """Every record as canonical request columns (typed values where usable), with `reason`, `_row` and
    `_python_reads`. A row without a request id gets a stable hash of its content, so a file read twice still
    dedupes."""
    success = ", ".join(_lit(s) for s in SUCCESS_STATUSES)
    typed = f"""
        SELECT {_provider_id("provider")} AS provider, model, occurred_at_n AS occurred_at,
               input_tokens_n AS input_tokens, COALESCE(cache_read_tokens_n, 0) AS cache_read_tokens,
               COALESCE(cache_write_tokens_n, 0) AS cache_write_tokens,
               COALESCE(cache_write_1h_tokens_n, 0) AS cache_write_1h_tokens, output_tokens_n AS output_tokens,
               COALESCE(input_audio_tokens_n, 0) AS input_audio_tokens,
               COALESCE(output_audio_tokens_n, 0) AS output_audio_tokens,
               user_id, team, project, environment, task_type, latency_ms_n AS latency_ms,
               CASE WHEN status IS NULL OR lower(status) IN ({success}) THEN 'success' ELSE 'error' END AS status,
               reported_cost_usd_n AS reported_cost_usd, {_service_tier("service_tier")} AS service_tier,
               {_record_kind()} AS record_kind,
               CASE WHEN {_record_kind()} = '{REQUEST_KIND}' THEN 1 ELSE request_count_n END AS request_count,
               tier_input_tokens_n AS tier_input_tokens,
               request_id, source, row_number, reason, _row, _python_reads, _not_request
        FROM ({checked_sql(relation, day)})"""
    return f"""
        SELECT COALESCE(request_id, 'sha-' || md5({content_expr()})) AS request_id, occurred_at,
               CAST(occurred_at AS DATE) AS usage_date, provider, model, input_tokens, cache_read_tokens,
               cache_write_tokens, cache_write_1h_tokens, output_tokens, input_audio_tokens, output_audio_tokens,
               user_id, team, project, environment,
               task_type, latency_ms, status, reported_cost_usd, service_tier, record_kind, request_count,
               tier_input_tokens, source, row_number AS source_row, now() AS ingested_at, reason, _row,
               _python_reads, _not_request
        FROM ({typed})"""


def usable_sql(relation: Relation, day: date) -> str:
    """The relation's usable records as canonical request rows (the columns of `REQUEST_COLUMNS`)."""
    return (
        f"SELECT * EXCLUDE (reason, _row, _python_reads, _not_request) FROM ({_typed_sql(relation, day)}) "
        "WHERE reason IS NULL AND NOT _not_request"
    )


# The parts one pass over the day's files writes: requests to store, records to quarantine, bodies for Python,
# and records that are no LLM request (counted only).
KEPT_PART, REJECTED_PART, PYTHON_PART, NOT_REQUEST_PART = "kept", "rejected", "python", "not_request"


def parted_sql(relation: Relation, day: date, file_no: int) -> str:
    """Every record of the relation once, in the part it belongs to (`_part`): the stored columns and
    `source_file_no` for every row, the reason and the original record as text only for the others."""
    return f"""
        SELECT * EXCLUDE (reason, _row, _python_reads, _not_request, source, usage_date, ingested_at),
               {file_no} AS source_file_no,
               CASE WHEN _not_request THEN '{NOT_REQUEST_PART}' WHEN _python_reads THEN '{PYTHON_PART}'
                    WHEN reason IS NULL THEN '{KEPT_PART}' ELSE '{REJECTED_PART}' END AS _part,
               CASE WHEN NOT _not_request AND (_python_reads OR reason IS NOT NULL) THEN reason END AS _reason,
               CAST(CASE WHEN NOT _not_request AND (_python_reads OR reason IS NOT NULL) THEN {relation.raw_record} END
                    AS VARCHAR) AS _raw_record
        FROM ({_typed_sql(relation, day)}) r"""


def insert_usable(con: duckdb.DuckDBPyConnection, relation: Relation, day: date, target: str) -> int:
    """Stream the relation's usable records into `target` (canonical columns); the number written."""
    return scalar(con, f"INSERT INTO {target} ({', '.join(REQUEST_COLUMNS)}) {usable_sql(relation, day)}")


def insert_rejected(con: duckdb.DuckDBPyConnection, relation: Relation, day: date, target: str) -> int:
    """Stream the relation's unusable records into the quarantine `target` with their reason and original text."""
    return scalar(
        con,
        f"""INSERT INTO {target} (partition_date, source, row_number, reason, raw_record, quarantined_at)
        SELECT DATE '{day.isoformat()}', source, row_number, reason, {relation.raw_record}, now()
        FROM ({checked_sql(relation, day)}) r WHERE reason IS NOT NULL AND NOT _not_request""",
    )


def _count_rows(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return scalar(con, f"SELECT count(*) FROM {table}")


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
    for table in ("_candidates", "_rejects", "_set_aside", "_repeated", "_copies", KEPT, "_file_numbers"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
