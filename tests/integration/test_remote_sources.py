"""LLM logs from an S3 prefix (moto's S3 server over HTTP) and from a PostgreSQL table (a real server)."""

import gzip
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import boto3
import psycopg2

from cost_pipelines.ingest.load import ingest_day
from cost_pipelines.ingest.remote_sources import LiteLlmSpendLogsSource, PostgresTableSource, S3PrefixSource
from cost_pipelines.ingest.sources import LocalDirectorySource
from cost_pipelines.sample_data.generate import generate_day
from cost_pipelines.warehouse import connect
from tests.postgres_server import PostgresParams

DAY = date(2026, 9, 2)


def _requests(db: Path) -> list[tuple]:
    with connect(db, read_only=True) as con:
        return con.execute(
            "SELECT request_id, provider, model, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, "
            "user_id, team FROM raw.llm_requests ORDER BY request_id"
        ).fetchall()


def test_s3_prefix_reads_every_object_across_pages_like_the_local_files(moto_url: str, tmp_path: Path) -> None:
    local = tmp_path / "local"
    generate_day(local, DAY)
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")  # fmt: skip
    s3.create_bucket(Bucket="llm-logs")
    for path in sorted((local / DAY.isoformat()).iterdir()):
        body = path.read_bytes()
        key = f"gateway/{DAY}/{path.name}"
        # Some objects arrive gzip-compressed, as log shippers write them.
        if path.suffix == ".jsonl":
            s3.put_object(Bucket="llm-logs", Key=key + ".gz", Body=gzip.compress(body))
        else:
            s3.put_object(Bucket="llm-logs", Key=key, Body=body)
    s3.put_object(Bucket="llm-logs", Key=f"gateway/{DAY}/README.txt", Body=b"not a log")
    s3.put_object(Bucket="llm-logs", Key=f"gateway/{date(2026, 9, 3)}/requests.jsonl", Body=b"{}\n")

    source = S3PrefixSource(s3, "llm-logs", "gateway/{date}/", tmp_path / "downloads", page_size=2)
    with connect(tmp_path / "s3.duckdb") as con:
        from_s3 = ingest_day(con, source, DAY)
    with connect(tmp_path / "local.duckdb") as con:
        from_disk = ingest_day(con, LocalDirectorySource(local), DAY)
    assert from_s3.files == 5 and from_s3.skipped_files == [f"s3://llm-logs/gateway/{DAY}/README.txt"]
    assert (from_s3.rows_in, from_s3.rows_kept, from_s3.duplicates) == (
        from_disk.rows_in,
        from_disk.rows_kept,
        from_disk.duplicates,
    )
    assert _requests(tmp_path / "s3.duckdb") == _requests(tmp_path / "local.duckdb")


LLM_COST_RECORDS_TABLE = """
CREATE TABLE llm_cost_records (
    id BIGSERIAL PRIMARY KEY,
    provider VARCHAR(50) NOT NULL,
    model VARCHAR(100) NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    request_id VARCHAR(100),
    user_id VARCHAR(100),
    task_type VARCHAR(100),
    timestamp TIMESTAMPTZ NOT NULL,
    cost_usd DECIMAL(12, 6),
    metadata JSONB
)"""
ROWS = [
    ("openai", "gpt-4o-2024-08-06", 1200, 350, "pg-1", "u-01", "chat", "2026-09-02 00:00:00+00", "0.006500",
     '{"team": "search", "project": "ranking", "cache_read_tokens": 256, "latency_ms": 812}'),
    ("anthropic", "claude-3-5-haiku-20241022", 900, 40, "pg-2", "u-02", "classification",
     "2026-09-02 23:59:59.999+00", None, '{"team": "support", "status": "error"}'),
    ("openai", "gpt-4o-mini", 10, -1, "pg-bad", "u-03", "chat", "2026-09-02 12:00:00+02", None, "{}"),
    ("openai", "gpt-4o", 1, 1, "pg-before", "u-01", "chat", "2026-09-01 23:59:59.999999+00", None, "{}"),
    ("openai", "gpt-4o", 1, 1, "pg-after", "u-01", "chat", "2026-09-03 00:00:00+00", None, "{}"),
]  # fmt: skip


def test_postgres_table_is_read_one_utc_day_server_side(postgres: PostgresParams, tmp_path: Path) -> None:
    dsn = (f"host={postgres.host} port={postgres.port} user={postgres.user} password={postgres.password} "
           f"dbname={postgres.dbname}")  # fmt: skip
    with psycopg2.connect(dsn) as con, con.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS llm_cost_records")
        cur.execute(LLM_COST_RECORDS_TABLE)
        cur.executemany(
            "INSERT INTO llm_cost_records (provider, model, input_tokens, output_tokens, request_id, user_id, "
            "task_type, timestamp, cost_usd, metadata) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            ROWS,
        )
    source = PostgresTableSource(dsn=dsn, download_dir=tmp_path / "downloads")
    with connect(tmp_path / "w.duckdb") as con:
        report = ingest_day(con, source, DAY)
        kept = con.execute(
            "SELECT request_id, input_tokens, cache_read_tokens, output_tokens, team, project, status, latency_ms, "
            "reported_cost_usd FROM raw.llm_requests ORDER BY request_id"
        ).fetchall()
        reasons = con.execute("SELECT reason FROM raw.llm_requests_quarantine").fetchall()
    # The day's three rows only: the neighbours one microsecond either side never left the server.
    assert report.rows_in == 3
    assert kept == [
        ("pg-1", 1200, 256, 350, "search", "ranking", "success", 812, Decimal("0.0065")),
        ("pg-2", 900, 0, 40, "support", None, "error", None, None),
    ]
    assert reasons == [("negative output_tokens: -1",)]
    assert postgres.password not in source.describe()


def test_bedrock_invocation_logs_from_their_hour_folders_in_s3(moto_url: str, tmp_path: Path) -> None:
    fixtures = Path(__file__).parents[1] / "data" / "native_logs" / "bedrock"
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")  # fmt: skip
    s3.create_bucket(Bucket="bedrock-logs")
    for path in sorted(p for p in fixtures.rglob("*") if p.is_file()):
        s3.put_object(Bucket="bedrock-logs", Key=f"org/{path.relative_to(fixtures).as_posix()}", Body=path.read_bytes())
    # the next day's hour folder, which the day's prefix must not reach
    s3.put_object(
        Bucket="bedrock-logs",
        Key="org/AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1/2026/08/02/00/next.json.gz",
        Body=gzip.compress(b'{"schemaType": "ModelInvocationLog"}\n'),
    )
    prefix = "org/AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1/{yyyy}/{mm}/{dd}/"
    source = S3PrefixSource(s3, "bedrock-logs", prefix, tmp_path / "downloads", page_size=1)
    with connect(tmp_path / "w.duckdb") as con:
        report = ingest_day(con, source, date(2026, 8, 1))
        statuses = con.execute("SELECT status, count(*) FROM raw.llm_requests GROUP BY 1 ORDER BY 1").fetchall()
    assert (report.files, report.rows_kept, report.quarantined) == (2, 4, 0)
    assert statuses == [("error", 1), ("success", 3)]
    assert [s for s in report.skipped_files if "/data/" in s] == [
        "s3://bedrock-logs/org/AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1/2026/08/01/10/data/"
        "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a_input.json.gz"
    ]


# LiteLLM's LiteLLM_SpendLogs as its Prisma schema creates it (BerriAI/litellm schema.prisma), the columns used here
LITELLM_SPEND_LOGS = """
CREATE TABLE "LiteLLM_SpendLogs" (
    request_id TEXT PRIMARY KEY, call_type TEXT NOT NULL, api_key TEXT NOT NULL DEFAULT '',
    spend DOUBLE PRECISION NOT NULL DEFAULT 0.0, total_tokens INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL DEFAULT 0,
    "startTime" TIMESTAMP(3) NOT NULL, "endTime" TIMESTAMP(3) NOT NULL, "completionStartTime" TIMESTAMP(3),
    model TEXT NOT NULL DEFAULT '', model_id TEXT DEFAULT '', model_group TEXT DEFAULT '',
    custom_llm_provider TEXT DEFAULT '', api_base TEXT DEFAULT '', "user" TEXT DEFAULT '',
    metadata JSONB DEFAULT '{}', cache_hit TEXT DEFAULT '', cache_key TEXT DEFAULT '',
    request_tags JSONB DEFAULT '[]', team_id TEXT, end_user TEXT, requester_ip_address TEXT, status TEXT
)"""


NATIVE_LOGS = Path(__file__).parents[1] / "data" / "native_logs"
LITELLM_COLUMNS = ("request_id", "call_type", "api_key", "spend", "total_tokens", "prompt_tokens", "completion_tokens",
                   "startTime", "endTime", "completionStartTime", "model", "model_group", "custom_llm_provider", "user",
                   "metadata", "team_id", "end_user", "request_tags", "status")  # fmt: skip


def _litellm_table(postgres: PostgresParams, extra: list[dict] = ()) -> str:
    """LiteLLM_SpendLogs holding the fixture's rows (and `extra`); its DSN."""
    import json

    records = [json.loads(line) for line in (NATIVE_LOGS / "litellm" / "spend_logs.jsonl").read_text().splitlines()]
    columns = LITELLM_COLUMNS
    dsn = (f"host={postgres.host} port={postgres.port} user={postgres.user} password={postgres.password} "
           f"dbname={postgres.dbname}")  # fmt: skip
    with psycopg2.connect(dsn) as con, con.cursor() as cur:
        cur.execute('DROP TABLE IF EXISTS "LiteLLM_SpendLogs"')
        cur.execute(LITELLM_SPEND_LOGS)
        for r in [*records, *extra]:
            values = [json.dumps(r.get(c)) if c in ("metadata", "request_tags") else r.get(c) for c in columns]
            values = [v.removesuffix("Z") if isinstance(v, str) and c.endswith("Time") else v
                      for c, v in zip(columns, values, strict=True)]  # fmt: skip
            cur.execute(
                f'INSERT INTO "LiteLLM_SpendLogs" ({", ".join(chr(34) + c + chr(34) for c in columns)}) '
                f"VALUES ({', '.join(['%s'] * len(columns))})",
                values,
            )
    return dsn


def _expected_litellm() -> list[tuple]:
    import json

    expected = json.loads((NATIVE_LOGS / "expected_usage.json").read_text())["litellm"]
    return sorted((e["request_id"], e["input_tokens"], e["cache_read_tokens"], e["cache_write_tokens"],
                   e["output_tokens"], e["status"]) for e in expected)  # fmt: skip


def test_litellm_spend_logs_exported_from_postgres_as_the_readme_says(postgres: PostgresParams, tmp_path: Path) -> None:
    import json
    import shutil
    import subprocess

    dsn = _litellm_table(postgres)
    day_dir = tmp_path / "logs" / "2026-08-01"
    day_dir.mkdir(parents=True)
    psql = shutil.which("psql") or str(Path(shutil.which("initdb") or "/usr/bin/initdb").parent / "psql")
    query = (
        'SELECT row_to_json(s) FROM "LiteLLM_SpendLogs" s\n'
        "WHERE \"startTime\" >= '2026-08-01' AND \"startTime\" < '2026-08-02';\n"
    )
    with open(day_dir / "spend_logs.jsonl", "w") as out:
        subprocess.run([psql, dsn, "-At"], input=query, stdout=out, text=True, check=True, timeout=60)
    with connect(tmp_path / "w.duckdb") as con:
        report = ingest_day(con, LocalDirectorySource(tmp_path / "logs"), date(2026, 8, 1))
        kept = con.execute(
            "SELECT request_id, provider, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, status, "
            "reported_cost_usd, occurred_at FROM raw.llm_requests ORDER BY request_id"
        ).fetchall()
    expected = json.loads((NATIVE_LOGS / "expected_usage.json").read_text())["litellm"]
    assert report.quarantined == 0, report.quarantine_reasons
    assert [(r[0], r[2], r[3], r[4], r[5], r[6]) for r in kept] == _expected_litellm()
    assert {r[1] for r in kept} == {"openai", "anthropic"}
    # timestamp(3) columns carry no zone: read as the UTC times LiteLLM writes
    assert {r[0]: r[8] for r in kept} == {e["request_id"]: datetime.fromisoformat(e["occurred_at"]) for e in expected}


def test_litellm_spend_logs_are_read_from_its_table_one_utc_day_on_the_server(
    postgres: PostgresParams, tmp_path: Path
) -> None:
    edges = [  # the last millisecond before the day and the first after it
        {"request_id": f"edge-{n}", "call_type": "acompletion", "api_key": "88dc28", "spend": 0.001,
         "total_tokens": 15, "prompt_tokens": 10, "completion_tokens": 5, "startTime": t, "endTime": t,
         "completionStartTime": t, "model": "gpt-4o-mini", "model_group": "gpt-4o-mini",
         "custom_llm_provider": "openai", "user": "", "metadata": {}, "team_id": "team-a1", "end_user": "",
         "request_tags": [], "status": "success"}
        for n, t in (("before", "2026-07-31T23:59:59.999"), ("after", "2026-08-02T00:00:00.000"))
    ]  # fmt: skip
    dsn = _litellm_table(postgres, edges)
    source = LiteLlmSpendLogsSource(dsn, download_dir=tmp_path / "downloads", batch_rows=2)
    with connect(tmp_path / "w.duckdb") as con:
        report = ingest_day(con, source, date(2026, 8, 1))
        kept = con.execute(
            "SELECT request_id, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, status "
            "FROM raw.llm_requests ORDER BY request_id"
        ).fetchall()
    assert report.quarantined == 0, report.quarantine_reasons
    assert kept == _expected_litellm()
    assert postgres.password not in source.describe()
