"""Each log file of a day as a relation DuckDB streams: nothing is loaded into a table before the day is written.

A Parquet file is read in place with its own column types. A JSON file holds one record per line, or one JSON
array of records (a `.json` file whose first character is `[`); every field is taken from a record's text with
one JSON parse for all of them, and a provider body in it is read by the SQL of `shapes`. A CSV file is read as
text columns. The original record is carried through the pass and made into text only for the records that are
quarantined; the bodies that only Python reads exactly (`shapes`) are set aside in the same pass and read
afterwards by `read_python_bodies`, few as they are.

A record's position in its file (its line, element or row number) is what the quarantine shows and what decides
which copy of a repeated request id is the first. Numbering records makes DuckDB read the file on one thread, so
the text files of a large day are read first without positions, in parallel (`numbered=False`; a small day is read
numbered at once); the few records set aside get their
positions from a light second scan that only numbers the file's records and matches their text (`place`), and a
day that needs positions for more (a line that is not JSON, repeated request ids) is read again numbered.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
import pyarrow as pa
import zstandard

from cost_pipelines.ingest import record_shapes, shapes
from cost_pipelines.ingest.canonical import ALIASES, FIELDS
from cost_pipelines.ingest.normalize import Relation, UnreadableFile
from cost_pipelines.ingest.provider_bodies import UnreadableBody, body_to_fields
from cost_pipelines.ingest.sources import SourceFile, uncompressed_name
from cost_pipelines.warehouse import scalar
from cost_pipelines.warehouse import sql_identifier as _q
from cost_pipelines.warehouse import sql_literal as _lit

CANDIDATES = "_candidates"  # provider bodies read in Python: canonical fields as text
SET_ASIDE = "_set_aside"  # what a pass did not keep: `source_file_no`, `source_row`, `_reason`, `_raw_record`, `_part`
REJECTS = "_rejects"  # records rejected before any field was read (malformed CSV lines, bodies Python refused)
_CANDIDATE_COLUMNS = ("source", "row_number", "raw_record", *FIELDS)
_REJECT_COLUMNS = ("source", "row_number", "reason", "raw_record")
_PYTHON_BATCH = 5_000
# The longest JSONL line read; a longer one makes its file unreadable. DuckDB's line reader holds a buffer of 16
# times this (256 MiB) and must: with a smaller buffer, a last line longer than the buffer is dropped silently.
MAX_LINE_BYTES = 16 * 1024 * 1024
_MAX_DOCUMENT_BYTES = 256 * 1024 * 1024  # a `.json` file read as one document (a page of an API's records)


def create_work_tables(con: duckdb.DuckDBPyConnection) -> None:
    columns = ", ".join(f"{_q(c)} {'BIGINT' if c == 'row_number' else 'VARCHAR'}" for c in _CANDIDATE_COLUMNS)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {CANDIDATES} ({columns})")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {REJECTS} "
        "(source VARCHAR, row_number BIGINT, reason VARCHAR, raw_record VARCHAR)"
    )


def _text(value: str) -> str:
    """Trimmed, '' as NULL. Nearly every value needs no trimming, and TRIM copies every string it is given."""
    return f"NULLIF(CASE WHEN {value} LIKE ' %' OR {value} LIKE '% ' THEN TRIM({value}) ELSE {value} END, '')"


def _alias_values(present: set[str], value_of: Callable[[str], str]) -> dict[str, str]:
    """Each canonical field as SQL: the first of its aliases that the record has, as trimmed text (NULL if none)."""
    return {
        f: _text("COALESCE(" + ", ".join(value_of(a) for a in aliases if a in present) + ")")
        if any(a in present for a in aliases)
        else "NULL"
        for f, aliases in ALIASES.items()
    }


# ---- JSONL ------------------------------------------------------------------------------------------------


def _lines_reader(path: str) -> str:
    return (
        f"read_csv({_lit(path)}, columns = {{'line': 'VARCHAR'}}, header = false, delim = chr(0), quote = '', "
        f"escape = '', auto_detect = false, max_line_size = {MAX_LINE_BYTES})"
    )


def _objects(path: str, layout: str) -> str:
    """SQL of `line`, each record's text as DuckDB's JSON reader splits them: one per line ('newline_delimited')
    or the elements of an 'array'. Its own size bound does not hold for small files: a longer record fails the
    read here as it does in the line reader."""
    reader = f"read_json_objects({_lit(path)}, format = '{layout}', maximum_object_size = {MAX_LINE_BYTES})"
    return (
        f"SELECT CASE WHEN strlen(json::VARCHAR) > {MAX_LINE_BYTES} "
        f"THEN error('a JSON record exceeds the maximum line size') ELSE json::VARCHAR END AS line FROM {reader}"
    )


# What the JSON reader strips around a record's text (JSON's whitespace), so a line's text can be matched with it.
_JSON_SPACE = "chr(32) || chr(9) || chr(13) || chr(10)"


def _json_layout(con: duckdb.DuckDBPyConnection, file: SourceFile) -> str:
    """How a JSON file holds its records: 'lines' (one per line), 'array' (a `.json` file whose first character is
    `[`) or 'page' (a `.json` file that is one object whose `data` holds the records, as APIs page them)."""
    if not uncompressed_name(file.path).endswith(".json"):
        return "lines"
    first = con.execute(
        f"SELECT ltrim(line, {_JSON_SPACE}) FROM {_lines_reader(file.path)} "
        f"WHERE trim(line, {_JSON_SPACE}) <> '' LIMIT 1"
    ).fetchall()
    if not first or not first[0][0].startswith(("[", "{")):
        return "lines"
    if first[0][0].startswith("["):
        return "array"
    try:
        documents = con.execute(
            f"SELECT json_type(json, '$.data') FROM {_document_reader(file.path)} LIMIT 2"
        ).fetchall()
    except duckdb.Error:
        return "lines"  # not one JSON document: its lines are read, and the ones that are not JSON quarantined
    return "page" if len(documents) == 1 and documents[0][0] in ("ARRAY", "OBJECT") else "lines"


def _bucket_results(element: str) -> str:
    """SQL of the records in one element of a page's `data`: a usage API's time bucket (`results` and its start,
    OpenAI's `start_time` or Anthropic's `starting_at`) holds many, each given its bucket's start as
    `bucket_start_time` / `bucket_starting_at`; any other element is one record."""
    start = f"json_extract({element}, '$.start_time')"
    starting = f"json_extract({element}, '$.starting_at')"
    merged = f"json_merge_patch(r, json_object('bucket_start_time', {start}, 'bucket_starting_at', {starting}))"
    return (
        f"CASE WHEN json_type({element}, '$.results') = 'ARRAY' AND ({start} IS NOT NULL OR {starting} IS NOT NULL) "
        f"THEN list_transform(json_extract({element}, '$.results[*]'), lambda r: {merged}) ELSE [{element}] END"
    )


def _document_reader(path: str) -> str:
    return f"read_json_objects({_lit(path)}, format = 'auto', maximum_object_size = {_MAX_DOCUMENT_BYTES})"


def _record_lines(con: duckdb.DuckDBPyConnection, file: SourceFile, numbered: bool) -> tuple[str, str]:
    """(SQL of the file's records as `_n`, `line`; SQL of `_n`, `raw`, `text` numbering every record for `place`).
    A line's number counts blank lines, as an editor does."""
    layout = _json_layout(con, file)
    if layout == "page":
        elements = (
            "SELECT unnest(CASE WHEN json_type(json, '$.data') = 'ARRAY' THEN json_extract(json, '$.data[*]') "
            f"ELSE [json_extract(json, '$.data')] END) AS e FROM {_document_reader(file.path)}"
        )
        records = f"SELECT unnest({_bucket_results('e')})::VARCHAR AS line FROM ({elements})"
        numbered_sql = f"SELECT row_number() OVER () AS _n, line FROM ({records})"
        return numbered_sql, f"SELECT _n, line AS raw, line AS text FROM ({numbered_sql})"
    if layout == "array":
        elements = _objects(file.path, "array")
        numbered_sql = f"SELECT row_number() OVER () AS _n, line FROM ({elements})"
        positions = f"SELECT _n, line AS raw, line AS text FROM ({numbered_sql})"
        return (numbered_sql if numbered else f"SELECT NULL::BIGINT AS _n, line FROM ({elements})"), positions
    numbered_sql = f"SELECT row_number() OVER () AS _n, line FROM {_lines_reader(file.path)}"
    positions = f"SELECT _n, line AS raw, trim(line, {_JSON_SPACE}) AS text FROM ({numbered_sql})"
    if numbered:
        return numbered_sql, positions
    # DuckDB's JSON reader splits lines in parallel and refuses the whole file at the first line that is not JSON:
    # the day is then read again numbered, and that line quarantined with its reason.
    fast = f"SELECT NULL::BIGINT AS _n, line FROM ({_objects(file.path, 'newline_delimited')})"
    return fast, positions


@dataclass(frozen=True)
class _LinePaths:
    """What is read from every JSON line, in one `json_transform` (`_v`, a struct; lighter than a list of
    `json_extract_string` paths, and one parse for every shape): the top-level keys as text (every field's aliases,
    the keys an envelope holds its body under, the keys that tell native shapes apart), whose JSON types are one
    `json_type(line, [...])` (`_t`, numbered); and the native shapes' paths, nested as their records nest them."""

    keys: tuple[str, ...]
    native: dict[str, Any]

    @classmethod
    def make(cls) -> _LinePaths:
        keys = tuple(dict.fromkeys(
            [*(a for aliases in ALIASES.values() for a in aliases), *shapes.BODY_MARKER_KEYS, *record_shapes.top_keys()]
        ))  # fmt: skip
        native: dict[str, Any] = {}
        for shape in record_shapes.RECORD_SHAPES:
            for path in record_shapes.paths_of(shape):
                if path.split(".")[0] in record_shapes.MAP_KEYS:
                    native[path.split(".")[0]] = "MAP(VARCHAR, VARCHAR)"
                    continue
                *containers, leaf = path.split(".")
                if not containers and leaf in keys:
                    continue
                if containers and containers[0] in keys:
                    raise ValueError(f"{shape.name}: {path!r} reads {containers[0]!r} as an object, others as text")
                node = native
                for step in containers:
                    node = node.setdefault(step, {})
                    if not isinstance(node, dict):
                        raise ValueError(f"{shape.name}: {path!r} reads {step!r} as an object, another shape as text")
                if isinstance(node.setdefault(leaf, "VARCHAR"), dict):
                    raise ValueError(f"{shape.name}: {path!r} reads {leaf!r} as text, another shape as an object")
        return cls(keys, native)

    def at(self, key: str) -> int:
        return self.keys.index(key) + 1

    def sql(self) -> str:
        return "[" + ", ".join(_lit('$."' + k.replace('"', '\\"') + '"') for k in self.keys) + "]"

    def structure(self) -> str:
        return _lit(json.dumps({**dict.fromkeys(self.keys, "VARCHAR"), **self.native}))

    @staticmethod
    def value(key: str) -> str:
        return f"_v.{_q(key)}"

    @staticmethod
    def path_value(path: str) -> str:
        first, *rest = path.split(".")
        if first in record_shapes.MAP_KEYS:  # a map: one key below it, or the map itself
            return f"_v.{_q(first)}" + (f"[{_lit('.'.join(rest))}]" if rest else "")
        return "_v." + ".".join(_q(step) for step in path.split("."))


def _jsonl_relation(con: duckdb.DuckDBPyConnection, file: SourceFile, numbered: bool) -> Relation:
    lines, positions = _record_lines(con, file, numbered)
    paths = _LinePaths.make()
    # A native record (`record_shapes`) is told by its top-level keys; its fields come from the same parse.
    which, native_read, native_fields = record_shapes.native_sql(paths.value, paths.path_value, "_nr")
    # A body marker key must hold an object: only a line with a marker whose text starts like one is parsed again,
    # for the JSON types of its values.
    mentions = " OR ".join(f"{paths.value(k)} LIKE '{{%'" for k in shapes.BODY_MARKER_KEYS)
    holds = {k: f"_t[{paths.at(k)}] = 'OBJECT'" for k in shapes.BODY_MARKER_KEYS}
    is_envelope = "(" + " OR ".join(holds[k] for k in shapes.ENVELOPE_BODY_KEYS) + ")"
    body_select, exact, body_fields = shapes.body_sql("_body", paths.value, lambda f: f"_t[{paths.at(f)}]", is_envelope)
    flat = _alias_values(set(paths.keys), paths.value)
    # Every body field under one CASE: the body SQL is large, and is evaluated for no row of a flat file.
    body = "struct_pack(" + ", ".join(f"{_q(f)} := {body_fields[f]}" for f in FIELDS) + f", _exact := {exact})"

    def field_sql(f: str) -> str:
        return (
            f"CASE WHEN _native IS NOT NULL THEN {_text('_nf.' + _q(f))} "
            f"WHEN _is_body THEN {_text('_bf.' + _q(f))} ELSE {flat[f]} END AS {_q(f)}"
        )

    fields = ", ".join(field_sql(f) for f in FIELDS)
    bodies = " ".join(f"WHEN {holds[k]} THEN {paths.value(k)}" for k in shapes.ENVELOPE_BODY_KEYS)
    # A record DuckDB's JSON reader split is JSON; a numbered line is checked here.
    valid = "json_valid(line)" if numbered else "true"
    sql = f"""(
        SELECT _n, line, _ok, _obj, {fields}, _is_body AND NOT COALESCE(_bf._exact, false) AS _python_reads,
               _native IS NULL AND {record_shapes.not_a_request_sql(paths.value)} AS _not_request
        FROM (SELECT *, CASE WHEN _is_body THEN {body} END AS _bf,
                     CASE WHEN _native IS NOT NULL THEN {native_fields} END AS _nf FROM (
            SELECT *, {body_select}, CASE WHEN _native IS NOT NULL THEN {native_read} END AS _nr FROM (
                SELECT *, CASE WHEN _is_body THEN CASE {bodies} ELSE line END END AS _body
                FROM (
                    SELECT *, COALESCE({" OR ".join(holds.values())}, false) AS _is_body
                    FROM (
                        SELECT *, CASE WHEN _native IS NULL AND ({mentions}) THEN json_type(line, {paths.sql()}) END
                                      AS _t
                        FROM (SELECT *, CASE {which} END AS _native FROM (
                            SELECT *, CASE WHEN _ok AND _obj THEN json_transform(line, {paths.structure()}) END AS _v
                            FROM (
                                SELECT _n, line, {valid} AS _ok,
                                       CASE WHEN starts_with(line, '{{') THEN true
                                            ELSE ltrim(line, {_JSON_SPACE}) LIKE '{{%' END AS _obj
                                FROM ({lines})
                                -- blank lines separate nothing and are not records
                                WHERE CASE WHEN starts_with(line, '{{') THEN true
                                           ELSE trim(line, {_JSON_SPACE}) <> '' END))))))))
    ) t"""
    return Relation(
        sql=sql, columns=dict.fromkeys(FIELDS, "VARCHAR"), source=_lit(file.name), row_number="t._n",
        record="t.line", raw_record="r._row", text=True,
        pre_reason="CASE WHEN NOT t._ok THEN 'invalid JSON' WHEN NOT t._obj THEN 'JSON line is not an object' END",
        python_reads="t._python_reads", not_request="t._not_request", numbered=numbered, positions=positions,
    )  # fmt: skip


# ---- CSV --------------------------------------------------------------------------------------------------


def _csv_reader(path: str, rejects: str) -> str:
    return (
        f"read_csv({_lit(path)}, all_varchar = true, header = true, store_rejects = true, "
        f"rejects_table = {_lit(rejects)}, rejects_scan = {_lit(rejects + '_scan')})"
    )


def _csv_relation(con: duckdb.DuckDBPyConnection, file: SourceFile, scan_no: int, numbered: bool) -> Relation:
    rejects = f"_csv_rejects_{scan_no}"
    for table in (rejects, f"{rejects}_scan"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    reader = _csv_reader(file.path, rejects)
    present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()}
    fields = ", ".join(f"{sql} AS {_q(f)}" for f, sql in _alias_values(present, lambda a: f"t.{_q(a)}").items())
    number = "row_number() OVER ()" if numbered else "NULL::BIGINT"
    # A row's number counts the rows DuckDB could split, as the numbered read does.
    positions = (
        f"SELECT row_number() OVER () AS _n, to_json(t) AS raw, to_json(t) AS text "
        f"FROM {_csv_reader(file.path, rejects + '_p')} t"
    )
    return Relation(
        sql=f"(SELECT {number} AS _n, t AS _record, {fields} FROM {reader} t) t",
        columns=dict.fromkeys(FIELDS, "VARCHAR"), source=_lit(file.name), row_number="t._n",
        record="t._record", raw_record="to_json(r._row)", text=True, csv_rejects=rejects, numbered=numbered,
        positions=positions, positions_tables=(f"{rejects}_p", f"{rejects}_p_scan"),
    )  # fmt: skip


def take_csv_rejects(con: duckdb.DuckDBPyConnection, relation: Relation, source: str) -> int:
    """Move the lines DuckDB's CSV reader could not split into `_rejects`; how many lines."""
    if relation.csv_rejects is None:
        return 0
    rejects = relation.csv_rejects
    con.execute(
        f"""INSERT INTO {REJECTS}
        SELECT {_lit(source)}, line, 'malformed CSV line: ' || error_message, csv_line
        FROM {rejects} QUALIFY row_number() OVER (PARTITION BY line ORDER BY column_idx) = 1"""
    )
    rejected = scalar(con, f"SELECT count(DISTINCT line) FROM {rejects}")
    con.execute(f"DROP TABLE {rejects}")
    con.execute(f"DROP TABLE {rejects}_scan")
    return rejected


# ---- Parquet ----------------------------------------------------------------------------------------------


def _parquet_relation(con: duckdb.DuckDBPyConnection, file: SourceFile) -> Relation:
    reader = f"read_parquet({_lit(file.path)}, file_row_number = true)"
    columns = {name: kind for name, kind, *_ in con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()}
    rows = scalar(con, f"SELECT sum(num_rows) FROM parquet_file_metadata({_lit(file.path)})")
    del columns["file_row_number"]
    record = "struct_pack(" + ", ".join(f"{_q(c)} := t.{_q(c)}" for c in columns) + ")"
    return Relation(
        sql=f"{reader} t", columns=columns, source=_lit(file.name), row_number="t.file_row_number + 1",
        record=record, raw_record="to_json(r._row)", text=False, rows=int(rows or 0),
    )  # fmt: skip


# ---- the day's files --------------------------------------------------------------------------------------


def read_files(
    con: duckdb.DuckDBPyConnection, files: list[SourceFile], numbered: bool = False
) -> tuple[list[Relation | None], list[UnreadableFile]]:
    """One relation per file, in file order (None for a file that cannot even be opened, listed with its reason).
    Nothing is read yet but Parquet footers, CSV headers and the first line of a `.json` file; a file that fails
    while the day is written is found by `unreadable_files`. `numbered`: text files number their records as they
    are read (see the module's docstring)."""
    create_work_tables(con)
    relations: list[Relation | None] = []
    unreadable = []
    for scan_no, file in enumerate(files):
        if file.path.lower().endswith(".zst") and (broken := _zstd_fault(file.path)):
            unreadable.append(UnreadableFile(file.name, broken, file_size(file.path)))
            relations.append(None)
            continue
        try:
            if file.format == "parquet":
                relation = _parquet_relation(con, file)
            elif file.format == "csv":
                relation = _csv_relation(con, file, scan_no, numbered)
            else:
                relation = _jsonl_relation(con, file, numbered)
        except duckdb.Error as error:
            unreadable.append(UnreadableFile(file.name, unreadable_reason(file, error), file_size(file.path)))
            relations.append(None)
            continue
        relations.append(relation)
    return relations, unreadable


def _zstd_fault(path: str) -> str | None:
    """Why a zstd file is not whole, or None. DuckDB reads a truncated zstd stream as if it ended there, without an
    error, so every frame is decompressed (and dropped) here first: about a second a gigabyte."""
    frame = None
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                while chunk:
                    frame = frame or zstandard.ZstdDecompressor().decompressobj()
                    frame.decompress(chunk)
                    chunk, frame = (frame.unused_data, None) if frame.eof else (b"", frame)
    except (OSError, zstandard.ZstdError) as error:
        return f"unreadable file: the zstd stream is truncated or corrupt ({str(error).splitlines()[0][:300]})"
    if frame is not None:
        return "unreadable file: the zstd stream is truncated or corrupt (its last frame ends before it is complete)"
    return None


# Errors that say the SQL is wrong, never the file: they must fail the run, not quarantine a file.
FAULTS_OF_THE_QUERY = (
    duckdb.BinderException,
    duckdb.ParserException,
    duckdb.CatalogException,
    duckdb.InternalException,
)


def unreadable_files(
    con: duckdb.DuckDBPyConnection, files: list[SourceFile], relations: list[Relation]
) -> list[tuple[int, UnreadableFile]]:
    """The files that fail when read whole (a truncated gzip, a line too long, Parquet data that does not decode),
    each scanned alone. Only run after writing the day failed, to find which file made it fail."""
    broken = []
    for position, (file, relation) in enumerate(zip(files, relations, strict=True)):
        scan = (
            f"SELECT sum(hash(t)) FROM read_parquet({_lit(file.path)}) t"
            if file.format == "parquet"
            else f"SELECT count(*), sum(hash(_row)) FROM (SELECT {relation.record} AS _row FROM {relation.sql})"
        )
        try:
            con.execute(scan).fetchall()
        except FAULTS_OF_THE_QUERY:
            raise
        except duckdb.Error as error:
            broken.append((position, UnreadableFile(file.name, unreadable_reason(file, error), file_size(file.path))))
        finally:
            if relation.csv_rejects:
                for table in (relation.csv_rejects, f"{relation.csv_rejects}_scan"):
                    con.execute(f"DROP TABLE IF EXISTS {table}")
    return broken


def place(con: duckdb.DuckDBPyConnection, relation: Relation, file_no: int) -> None:
    """Give the records of file `file_no` set aside by a pass without positions their position and original text
    (`SET_ASIDE`), from one scan that numbers the file's records and keeps those with the same text. Records with
    the same text are alike in everything, so which of them gets which position does not matter."""
    assert relation.positions is not None
    mine = f"SELECT rowid AS _rid, _raw_record FROM {SET_ASIDE} WHERE source_file_no = {file_no}"
    con.execute(
        f"""UPDATE {SET_ASIDE} s SET source_row = p._n, _raw_record = p.raw
        FROM (SELECT _n, raw, text, row_number() OVER (PARTITION BY text ORDER BY _n) AS _k
              FROM ({relation.positions}) WHERE text IN (SELECT _raw_record FROM ({mine}))) p,
             (SELECT _rid, _raw_record, row_number() OVER (PARTITION BY _raw_record ORDER BY _rid) AS _k
              FROM ({mine})) w
        WHERE s.rowid = w._rid AND p.text = w._raw_record AND p._k = w._k"""
    )
    for table in relation.positions_tables:
        con.execute(f"DROP TABLE IF EXISTS {table}")


def file_size(path: str) -> int | None:
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
    elif file.path.lower().endswith(".zst") and ("zstd" in lowered or "compress" in lowered or "frame" in lowered):
        kind = "the zstd stream is truncated or corrupt"
    elif file.format == "parquet":
        kind = "not a readable Parquet file"
    else:
        kind = f"the {file.format} file cannot be read"
    return f"unreadable file: {kind} ({detail[:300]})"


def record_unreadable(con: duckdb.DuckDBPyConnection, day: date, unreadable: list[UnreadableFile], target: str) -> None:
    if unreadable:
        con.executemany(
            f"INSERT INTO {target} VALUES (?, ?, ?, ?, now())",
            [[day, u.source, u.reason, u.size_bytes] for u in unreadable],
        )


# ---- bodies only Python reads exactly ---------------------------------------------------------------------


def read_python_bodies(con: duckdb.DuckDBPyConnection, bodies: str, sources: list[str]) -> int:
    """Read the set-aside body lines (`source_file_no`, `source_row`, `_raw_record` of the relation `bodies`) with
    genai-prices' extractors in Python: their fields into `_candidates`, the refused ones with their reason into
    `_rejects`. How many."""
    total, last = 0, (-1, 0)
    while batch := con.execute(
        f"""SELECT source_file_no, source_row, _raw_record FROM {bodies}
        WHERE (source_file_no, source_row) > (?, ?) ORDER BY source_file_no, source_row LIMIT ?""",
        [*last, _PYTHON_BATCH],
    ).fetchall():
        last = batch[-1][:2]
        total += len(batch)
        candidates: dict[str, list] = {c: [] for c in _CANDIDATE_COLUMNS}
        rejects: dict[str, list] = {c: [] for c in _REJECT_COLUMNS}
        for file_no, row_number, line in batch:
            try:
                fields = body_to_fields(line)
            except UnreadableBody as exc:
                for column, value in zip(_REJECT_COLUMNS, (sources[file_no], row_number, str(exc), line), strict=True):
                    rejects[column].append(value)
                continue
            candidates["source"].append(sources[file_no])
            candidates["row_number"].append(row_number)
            candidates["raw_record"].append(line)
            for f in FIELDS:
                value = fields.get(f)
                candidates[f].append(value.strip() or None if value is not None else None)
        _append_arrow(con, CANDIDATES, candidates)
        _append_arrow(con, REJECTS, rejects)
    return total


def _append_arrow(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, list]) -> None:
    if not next(iter(columns.values())):
        return
    arrow = pa.table({c: pa.array(v, pa.int64() if c == "row_number" else pa.string()) for c, v in columns.items()})
    con.register("_arrow_batch", arrow)
    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _arrow_batch")
    con.unregister("_arrow_batch")


def candidates_relation(source: str) -> Relation:
    """The bodies of log file `source` that Python read, as a relation of text fields."""
    return Relation(
        sql=f"(SELECT * FROM {CANDIDATES} WHERE source = {_lit(source)} ORDER BY row_number) t",
        columns=dict.fromkeys(FIELDS, "VARCHAR"), source="t.source", row_number="t.row_number",
        record="t.raw_record", raw_record="r._row", text=True,
    )  # fmt: skip
