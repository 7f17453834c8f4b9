"""LLM log sources outside the local disk: an S3 prefix and PostgreSQL tables.

All hand the normaliser local files, so every shape goes through the same vectorised path: S3 objects are
downloaded as they are (gzip included), the rows of a table shaped like `llm_cost_records` are streamed
server-side filtered into a CSV with `COPY … TO STDOUT`, and LiteLLM's `LiteLLM_SpendLogs` rows of the day are
streamed as JSON lines (`row_to_json`, a server-side cursor), which the reader recognises as LiteLLM's records.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from cost_pipelines.ingest.sources import SourceFile, file_format, for_day


@dataclass
class S3PrefixSource:
    """Objects under `s3://bucket/<prefix>`, where `{date}` (or `{yyyy}/{mm}/{dd}`, see `for_day`) in the prefix is
    the partition day; every object below it is listed, hour folders included."""

    client: Any  # a boto3 S3 client
    bucket: str
    prefix: str
    download_dir: Path
    page_size: int = 1000
    _unreadable: dict[date, list[str]] = field(default_factory=dict)

    def _keys(self, day: date) -> list[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        prefix = for_day(self.prefix, day)
        pages = paginator.paginate(Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": self.page_size})
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []) if not obj["Key"].endswith("/"))

    def files_for(self, day: date) -> list[SourceFile]:
        files, unreadable = [], []
        for key in self._keys(day):
            fmt = file_format(key)
            if fmt is None:
                unreadable.append(f"s3://{self.bucket}/{key}")
                continue
            target = self.download_dir / self.bucket / key
            target.parent.mkdir(parents=True, exist_ok=True)
            self.client.download_file(self.bucket, key, str(target))
            files.append(SourceFile(str(target), f"s3://{self.bucket}/{key}", fmt))
        self._unreadable[day] = unreadable
        return files

    def skipped_files_for(self, day: date) -> list[str]:
        return self._unreadable.get(day, [])

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


# The common llm_cost_records table: top-level columns plus allocation detail in a JSON `metadata` column.
_POSTGRES_SELECT = """
    SELECT request_id, to_char({ts} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS occurred_at,
           provider, model, input_tokens, output_tokens,
           meta->>'cache_read_tokens' AS cache_read_tokens, meta->>'cache_write_tokens' AS cache_write_tokens,
           user_id, meta->>'team' AS team, meta->>'project' AS project, meta->>'environment' AS environment,
           task_type, meta->>'latency_ms' AS latency_ms, meta->>'status' AS status, cost_usd AS reported_cost_usd
    FROM (SELECT *, CAST(metadata AS jsonb) AS meta FROM {table}
          WHERE {ts} >= %(start)s AND {ts} < %(end)s) AS day_rows
    ORDER BY {ts}, request_id
"""


@dataclass
class PostgresTableSource:
    """Rows of a table shaped like the common `llm_cost_records` table, read one UTC day at a time."""

    dsn: str
    table: str = "llm_cost_records"
    timestamp_column: str = "timestamp"
    download_dir: Path = Path(".")

    def files_for(self, day: date) -> list[SourceFile]:
        import psycopg2
        from psycopg2 import sql

        query = sql.SQL(_POSTGRES_SELECT).format(
            ts=sql.Identifier(self.timestamp_column), table=sql.Identifier(*self.table.split("."))
        )
        target = self.download_dir / "postgres" / f"{self.table}-{day.isoformat()}.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        start, end = f"{day.isoformat()}T00:00:00+00:00", f"{(day + timedelta(days=1)).isoformat()}T00:00:00+00:00"
        with psycopg2.connect(self.dsn) as con, con.cursor() as cur, target.open("w") as out:
            copy = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER true)").format(
                sql.SQL(cur.mogrify(query.as_string(con), {"start": start, "end": end}).decode())
            )
            cur.copy_expert(copy.as_string(con), out)
        return [SourceFile(str(target), f"postgres:{self.table}/{day.isoformat()}", "csv")]

    def skipped_files_for(self, day: date) -> list[str]:
        return []

    def describe(self) -> str:
        return f"postgres table {self.table}"


@dataclass
class LiteLlmSpendLogsSource:
    """LiteLLM proxy's own spend log table (`LiteLLM_SpendLogs`, its Prisma schema's column names), read one UTC
    day at a time on the server: `startTime` is a `timestamp(3)` without zone that LiteLLM writes in UTC."""

    dsn: str
    table: str = "LiteLLM_SpendLogs"
    download_dir: Path = Path(".")
    batch_rows: int = 10_000

    def files_for(self, day: date) -> list[SourceFile]:
        import psycopg2
        from psycopg2 import sql

        query = sql.SQL(
            'SELECT row_to_json(s)::text FROM {table} AS s WHERE s."startTime" >= %(start)s AND s."startTime" < '
            '%(end)s ORDER BY s."startTime", s.request_id'
        ).format(table=sql.Identifier(*self.table.split(".")))
        target = self.download_dir / "postgres" / f"{self.table}-{day.isoformat()}.jsonl"
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".jsonl.partial")
        start, end = f"{day.isoformat()} 00:00:00", f"{(day + timedelta(days=1)).isoformat()} 00:00:00"
        with psycopg2.connect(self.dsn) as con, con.cursor(name="litellm_spend_logs") as cur, partial.open("w") as out:
            cur.itersize = self.batch_rows  # streamed: the day is never held in memory
            cur.execute(query, {"start": start, "end": end})
            for (line,) in cur:
                out.write(line + "\n")
        partial.replace(target)
        return [SourceFile(str(target), f"postgres:{self.table}/{day.isoformat()}", "jsonl")]

    def skipped_files_for(self, day: date) -> list[str]:
        return []

    def describe(self) -> str:
        return f"postgres table {self.table} (LiteLLM spend logs)"
