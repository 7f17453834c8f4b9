"""Benchmark: the daily run does not grow with history (P2), and a 90-day backfill is one run equal to 90 daily
runs (P3).

    python bench/history.py p2 [--rows 1000000] [--history-rows 100000] [--short 7] [--long 365]
    python bench/history.py p3 [--days 90] [--rows 2000]

P2: two warehouses are given 7 and 365 days of history (`--history-rows` requests a day, stored in bulk as one
file per day with `request_store.store_days` and built into every mart by one `dbt build`; not timed), then the
next day's `--rows` requests go through the same Dagster run the daily schedule launches for a partition (ingest
and transform groups with their checks) in each. The two runs' wall times are compared: incremental models must
touch only the partition.

P3: `--days` days of `--rows` requests each are materialized twice into fresh warehouses: as one run over the
partition range (single-run backfill: ingest loops over the days, dbt builds the window once), and as one run
per partition. Every mart's totals must be identical between the two.
"""

import argparse
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
for path in (PROJECT_ROOT, PROJECT_ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from ingest_price_summarise import (  # noqa: E402
    peak_rss_mb,
    point_project_at,
    run_ingest_and_transform,
    synthetic_requests,
)

FIRST_DAY = date(2025, 10, 1)
MARTS = ("cost_summary_daily", "llm_cost_by_provider", "llm_cost_by_model", "llm_cost_by_metric", "llm_cost_by_user",
         "cost_by_team", "fct_costs")  # fmt: skip


def configure(root: Path, start: date) -> Path:
    """Point the project at `root` (warehouse, logs, empty FOCUS folder) before its definitions are imported."""
    point_project_at(root / "warehouse.duckdb", root / "logs", root / "focus", start)
    return root / "warehouse.duckdb"


def write_day(root: Path, day: date, rows: int) -> None:
    import pyarrow.parquet as pq

    folder = root / "logs" / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(synthetic_requests(day, rows, seed=day.toordinal()), folder / "requests.parquet")


def materialize(day_from: date, day_to: date) -> float:
    """One Dagster run of the ingest and transform groups over [day_from, day_to]; its wall seconds."""
    import cost_pipelines.definitions  # noqa: F401  (loaded before the clock, as in a long-running worker)

    began = time.perf_counter()
    run_ingest_and_transform(day_from, day_to)
    return time.perf_counter() - began


def seed_history(warehouse: Path, root: Path, days: int, rows: int) -> None:
    """`days` days of history before the measured day, `rows` requests each, built into every mart (not timed)."""
    import subprocess

    from cost_pipelines.ingest.load import update_model_map
    from cost_pipelines.ingest.request_store import store_days
    from cost_pipelines.pricing.load import write_prices
    from cost_pipelines.pricing.price_table import export_price_rows
    from cost_pipelines.warehouse import connect, ensure_raw_tables

    template = root / "history_template.parquet"
    import pyarrow.parquet as pq

    pq.write_table(synthetic_requests(FIRST_DAY, rows, seed=7), template)
    with connect(warehouse) as con:
        ensure_raw_tables(con)
        write_prices(con, export_price_rows())
        store_days(
            con,
            f"""SELECT request_id || '-' || k AS request_id, occurred_at + to_days(CAST(k AS INTEGER)) AS occurred_at,
                   CAST(occurred_at + to_days(CAST(k AS INTEGER)) AS DATE) AS usage_date, provider, model,
                   input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, user_id, team, project,
                   environment, task_type, latency_ms, status, NULL AS reported_cost_usd, 'history' AS source,
                   row_number() OVER () AS source_row, now() AS ingested_at
            FROM read_parquet('{template}') CROSS JOIN range({days}) AS r(k)""",
        )
        update_model_map(con, "SELECT DISTINCT provider, model FROM raw.llm_requests")
    dbt = Path(sys.executable).parent / "dbt"
    subprocess.run([str(dbt), "build", "--profiles-dir", ".", "--quiet", "--target-path", str(root / "dbt_target"),
                    "--log-path", str(root / "dbt_logs")], cwd=PROJECT_ROOT / "dbt_project", check=True)  # fmt: skip


def p2_child(root: Path, history_days: int, history_rows: int, rows: int) -> None:
    measured = FIRST_DAY + timedelta(days=history_days)
    warehouse = configure(root, FIRST_DAY)
    began = time.perf_counter()
    seed_history(warehouse, root, history_days, history_rows)
    write_day(root, measured, rows)
    setup = time.perf_counter() - began
    seconds = materialize(measured, measured)
    print(f"RESULT {history_days} {seconds:.3f} {peak_rss_mb():.0f} {setup:.1f}")


def p2(args: argparse.Namespace) -> None:
    import subprocess

    results = {}
    for days in (args.short, args.long):
        with tempfile.TemporaryDirectory(prefix="cost-history-") as tmp:
            command = [sys.executable, __file__, "p2-child", "--root", tmp, "--history-days", str(days),
                       "--history-rows", str(args.history_rows), "--rows", str(args.rows)]  # fmt: skip
            out = subprocess.run(command, capture_output=True, text=True, check=False)
            line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT")), None)
            if line is None:
                raise SystemExit(out.stdout[-3000:] + out.stderr[-3000:])
            _, _, seconds, rss, setup = line.split()
            results[days] = float(seconds)
            history = f"{days:>4} days of history ({days * args.history_rows:,} requests; setup {setup} s, not timed)"
            print(f"{history}: the daily run of {args.rows:,} requests took {float(seconds):.2f} s, peak RSS {rss} MB")
    ratio = results[args.long] / results[args.short]
    verdict = "PASS" if ratio <= 1.3 else "FAIL"
    print(f"P2: {args.long} days / {args.short} days = {ratio:.2f} (target <= 1.30) -> {verdict}")


def mart_totals(warehouse: Path) -> dict[str, list[tuple]]:
    from cost_pipelines.warehouse import connect

    with connect(warehouse, read_only=True) as con:
        totals = {}
        for mart in MARTS:
            money = "billed_cost" if mart == "fct_costs" else "total_cost_usd"
            count = "x_request_count" if mart == "fct_costs" else "request_count"
            totals[mart] = con.execute(
                f"SELECT usage_date, count(*), sum({count}), sum({money}) FROM marts.{mart} GROUP BY 1 ORDER BY 1"
            ).fetchall()
    return totals


def p3_child(root: Path, days: int, rows: int, mode: str) -> None:
    warehouse = configure(root, FIRST_DAY)
    last = FIRST_DAY + timedelta(days=days - 1)
    for i in range(days):
        write_day(root, FIRST_DAY + timedelta(days=i), rows)
    if mode == "single-run":
        seconds = materialize(FIRST_DAY, last)
    else:
        seconds = sum(materialize(FIRST_DAY + timedelta(days=i), FIRST_DAY + timedelta(days=i)) for i in range(days))
    import json

    totals = {m: [[str(v) for v in row] for row in rows_] for m, rows_ in mart_totals(warehouse).items()}
    (root / f"{mode}.json").write_text(json.dumps(totals))
    print(f"RESULT {seconds:.3f} {peak_rss_mb():.0f}")


def p3(args: argparse.Namespace) -> None:
    import json
    import subprocess

    outcome = {}
    with tempfile.TemporaryDirectory(prefix="cost-backfill-") as tmp:
        for mode in ("single-run", "per-partition"):
            root = Path(tmp) / mode
            command = [sys.executable, __file__, "p3-child", "--root", str(root), "--days", str(args.days),
                       "--rows", str(args.rows), "--mode", mode]  # fmt: skip
            out = subprocess.run(command, capture_output=True, text=True, check=False)
            line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT")), None)
            if line is None:
                raise SystemExit(out.stdout[-3000:] + out.stderr[-3000:])
            _, seconds, rss = line.split()
            outcome[mode] = (float(seconds), json.loads((root / f"{mode}.json").read_text()))
            runs = 1 if mode == "single-run" else args.days
            print(f"{mode:<14} {runs:>3} run(s) over {args.days} days x {args.rows:,} requests: "
                  f"{float(seconds):.1f} s, peak RSS {rss} MB")  # fmt: skip
    single, per = outcome["single-run"][1], outcome["per-partition"][1]
    same = single == per
    total = sum(Decimal(row[3]) for row in single["cost_summary_daily"])
    print(f"P3: {len(single['cost_summary_daily'])} days, ${total} in cost_summary_daily; every mart's daily rows, "
          f"request counts and dollars {'identical' if same else 'DIFFER'} -> {'PASS' if same else 'FAIL'}; "
          f"single run {outcome['per-partition'][0] / outcome['single-run'][0]:.1f}x faster")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["p2", "p3", "p2-child", "p3-child"])
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--history-rows", type=int, default=100_000)
    parser.add_argument("--short", type=int, default=7)
    parser.add_argument("--long", type=int, default=365)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--root", type=Path)
    parser.add_argument("--history-days", type=int)
    parser.add_argument("--mode", dest="run_mode", default="single-run")
    args = parser.parse_args()
    if args.mode == "p2":
        args.rows = args.rows or 1_000_000
        p2(args)
    elif args.mode == "p3":
        args.rows = args.rows or 2_000
        p3(args)
    elif args.mode == "p2-child":
        p2_child(args.root, args.history_days, args.history_rows, args.rows)
    else:
        p3_child(args.root, args.days, args.rows, args.run_mode)


if __name__ == "__main__":
    main()
