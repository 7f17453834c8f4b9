"""Benchmark: one day of N synthetic requests ingested, priced and summarised, beside a bare DuckDB baseline.

    python bench/ingest_price_summarise.py [--rows 1000000] [--day 2026-09-15]

Each stage runs in its own child process so its wall time and peak RSS are its own. The baseline reads the
same Parquet file with DuckDB, joins the same point-in-time prices and aggregates by day/provider/model: the
practical floor on this machine. The pipeline's daily total must equal the baseline's to the last decimal.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

MODELS = [
    ("openai", "gpt-4o-2024-08-06", 0.18), ("openai", "gpt-4o-mini-2024-07-18", 0.22),
    ("openai", "gpt-4.1-2025-04-14", 0.08), ("openai", "o3-mini-2025-01-31", 0.05),
    ("anthropic", "claude-sonnet-4-5-20250929", 0.17), ("anthropic", "claude-3-5-haiku-20241022", 0.12),
    ("anthropic", "claude-opus-4-1-20250805", 0.02), ("google", "gemini-2.5-pro", 0.06),
    ("google", "gemini-2.5-flash", 0.10),
]  # fmt: skip
TASKS = ["chat", "code_review", "summarization", "classification", "extraction", "rag_answer"]
TEAMS = ["search", "support", "research", "platform", "growth"]


def write_day(path: Path, day: date, rows: int, seed: int = 11) -> None:
    rng = np.random.default_rng(seed)
    weights = np.array([w for *_, w in MODELS])
    model_idx = rng.choice(len(MODELS), rows, p=weights / weights.sum())
    input_tokens = np.clip(rng.lognormal(7.0, 1.3, rows), 1, 400_000).astype(np.int64)
    cached = np.where(rng.random(rows) < 0.3, (input_tokens * rng.uniform(0, 0.8, rows)).astype(np.int64), 0)
    is_anthropic = np.array([MODELS[i][0] == "anthropic" for i in range(len(MODELS))])[model_idx]
    writes = np.where(is_anthropic & (rng.random(rows) < 0.2), ((input_tokens - cached) * 0.3).astype(np.int64), 0)
    start = np.datetime64(day.isoformat(), "ms")
    table = pa.table({
        "request_id": pa.array([f"b{i:09d}" for i in range(rows)]),
        "occurred_at": pa.array(start + rng.integers(0, 86_400_000, rows).astype("timedelta64[ms]"),
                                pa.timestamp("ms", tz="UTC")),
        "provider": pa.array([MODELS[i][0] for i in model_idx]), "model": pa.array([MODELS[i][1] for i in model_idx]),
        "input_tokens": input_tokens, "cache_read_tokens": cached, "cache_write_tokens": writes,
        "output_tokens": np.clip(rng.lognormal(5.5, 1.0, rows), 1, 30_000).astype(np.int64),
        "user_id": pa.array([f"u-{i:03d}" for i in rng.integers(0, 300, rows)]),
        "team": pa.array([TEAMS[i] for i in rng.integers(0, len(TEAMS), rows)]),
        "task_type": pa.array([TASKS[i] for i in rng.integers(0, len(TASKS), rows)]),
        "latency_ms": rng.integers(100, 20_000, rows), "status": pa.array(["success"] * rows),
    })  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")


# ---- stages (each runs in a child process) --------------------------------------------------------------


def stage_prices(db: Path, logs: Path, day: date) -> int:
    from cost_pipelines.pricing.load import write_prices
    from cost_pipelines.pricing.price_table import export_price_rows
    from cost_pipelines.warehouse import connect

    with connect(db) as con:
        return write_prices(con, export_price_rows())


def stage_ingest(db: Path, logs: Path, day: date) -> int:
    from cost_pipelines.ingest.load import ingest_day
    from cost_pipelines.ingest.sources import LocalDirectorySource
    from cost_pipelines.warehouse import connect

    with connect(db) as con:
        return ingest_day(con, LocalDirectorySource(logs), day).rows_kept


def stage_dbt(db: Path, logs: Path, day: date) -> int:
    dbt = Path(sys.executable).parent / "dbt"
    window = {"min_date": day.isoformat(), "max_date": (day + timedelta(days=1)).isoformat()}
    subprocess.run(
        [str(dbt), "build", "--profiles-dir", ".", "--vars", json.dumps(window), "--quiet",
         "--target-path", str(db.parent / "dbt_target"), "--log-path", str(db.parent / "dbt_logs")],
        cwd=PROJECT_ROOT / "dbt_project", env={**os.environ, "COST_PIPELINES_DUCKDB_PATH": str(db)}, check=True,
    )  # fmt: skip
    from cost_pipelines.warehouse import connect

    with connect(db, read_only=True) as con:
        return con.execute("SELECT sum(request_count) FROM marts.cost_summary_daily").fetchone()[0]


def stage_baseline(db: Path, logs: Path, day: date) -> int:
    """Bare DuckDB: scan the Parquet file, join point-in-time prices, aggregate exact DECIMAL cost."""
    import duckdb

    from cost_pipelines.pricing.model_resolution import resolve_models

    parquet = str(logs / day.isoformat() / "requests.parquet")
    con = duckdb.connect(str(db.parent / "baseline.duckdb"))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"ATTACH '{db}' AS w (READ_ONLY)")
    pairs = con.execute(f"SELECT DISTINCT provider, model FROM read_parquet('{parquet}')").fetchall()
    con.execute("CREATE OR REPLACE TABLE model_map (provider VARCHAR, model VARCHAR, pid VARCHAR, mid VARCHAR)")
    resolved = [[r.provider, r.model, r.price_provider_id, r.price_model_id] for r in resolve_models(pairs)]
    con.executemany("INSERT INTO model_map VALUES (?, ?, ?, ?)", resolved)
    con.execute(f"""
        CREATE OR REPLACE TABLE summary AS
        SELECT CAST(r.occurred_at AS DATE) AS usage_date, r.provider, r.model, count(*) AS requests,
               sum((r.input_tokens - r.cache_read_tokens - r.cache_write_tokens) * p.input_usd_per_token
                   + r.cache_read_tokens * coalesce(p.cache_read_usd_per_token, p.input_usd_per_token)
                   + r.cache_write_tokens * coalesce(p.cache_write_usd_per_token, p.input_usd_per_token)
                   + r.output_tokens * p.output_usd_per_token) AS cost
        FROM read_parquet('{parquet}') r
        JOIN model_map m USING (provider, model)
        JOIN w.raw.llm_prices p ON p.provider_id = m.pid AND p.model_id = m.mid
            AND CAST(r.occurred_at AS DATE) >= p.effective_from
            AND (p.effective_until IS NULL OR CAST(r.occurred_at AS DATE) < p.effective_until)
            AND r.input_tokens >= p.min_input_tokens
            AND (p.max_input_tokens IS NULL OR r.input_tokens <= p.max_input_tokens)
        GROUP BY ALL""")
    total = con.execute("SELECT sum(requests) FROM summary").fetchone()[0]
    con.close()
    return total


STAGES = {"prices": stage_prices, "ingest": stage_ingest, "dbt": stage_dbt, "baseline": stage_baseline}


def run_stage(name: str, db: Path, logs: Path, day: date) -> dict:
    command = [sys.executable, __file__, "--stage", name, "--db", str(db), "--logs", str(logs), "--day", str(day)]
    began = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - began
    output = process.stdout.read() if process.stdout else ""
    if status != 0:
        raise SystemExit(f"stage {name} failed")
    # ru_maxrss of a reaped child covers its own reaped children too (dbt's subprocess), in KiB on Linux.
    return {"stage": name, "rows": int(output.strip() or 0), "seconds": seconds, "peak_mb": usage.ru_maxrss / 1024}


def daily_totals(db: Path) -> tuple[Decimal, Decimal]:
    import duckdb

    con = duckdb.connect(str(db.parent / "baseline.duckdb"), read_only=True)
    baseline = con.execute("SELECT sum(cost) FROM summary").fetchone()[0]
    con.close()
    con = duckdb.connect(str(db), read_only=True)
    pipeline = con.execute("SELECT sum(total_cost_usd) FROM marts.cost_summary_daily").fetchone()[0]
    con.close()
    return pipeline, baseline


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--day", type=date.fromisoformat, default=date(2026, 9, 15))
    parser.add_argument("--stage", choices=list(STAGES))
    parser.add_argument("--db", type=Path)
    parser.add_argument("--logs", type=Path)
    args = parser.parse_args()
    if args.stage:
        print(STAGES[args.stage](args.db, args.logs, args.day))
        return

    with tempfile.TemporaryDirectory(prefix="cost-bench-") as tmp:
        logs, db = Path(tmp) / "logs", Path(tmp) / "warehouse.duckdb"
        write_day(logs / args.day.isoformat() / "requests.parquet", args.day, args.rows)
        results = [run_stage(name, db, logs, args.day) for name in ("prices", "ingest", "dbt", "baseline")]
        pipeline_total, baseline_total = daily_totals(db)

    baseline = results[-1]["seconds"]
    print(f"\n{args.rows:,} requests on {args.day}, {os.cpu_count()} cores")
    print(f"{'stage':<10}{'rows':>12}{'seconds':>10}{'rows/s':>14}{'peak MB':>10}{'x baseline':>12}")
    for r in results:
        rate = r["rows"] / r["seconds"] if r["seconds"] else 0
        print(f"{r['stage']:<10}{r['rows']:>12,}{r['seconds']:>10.2f}{rate:>14,.0f}{r['peak_mb']:>10.0f}"
              f"{r['seconds'] / baseline:>12.2f}")  # fmt: skip
    pipeline_seconds = sum(r["seconds"] for r in results[:3])
    print(f"pipeline end to end: {pipeline_seconds:.2f} s = {pipeline_seconds / baseline:.1f} x baseline; "
          f"ingest + price: {(results[1]['seconds'] + results[0]['seconds']) / baseline:.1f} x baseline")  # fmt: skip
    print(
        f"daily total: pipeline ${pipeline_total} vs baseline ${baseline_total}: "
        f"{'identical' if pipeline_total == baseline_total else 'DIFFERENT'}"
    )


if __name__ == "__main__":
    main()
