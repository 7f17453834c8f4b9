"""Benchmark: evaluating 1,000 budgets, and the budget alert sensor's tick.

    python bench/alerts.py [--budgets 1000] [--days 92] [--rows-per-day 2000]

A synthetic `marts.fct_costs` (N days x R rows a day over providers, services, models, users, teams, projects) in
a temporary DuckDB file, and B budgets spread over every scope and period. Measured in the same run:

- baseline: one bare `sum(billed_cost)` per scope dimension over the month to date (the floor of any evaluation);
- budget status: spend per budget over its own period (`budget_status`, what the alerts run computes);
- alert evaluation: status -> alerts -> the new ones stored with their notifications (`record_alerts`), first
  when every alert is new, then again when none is (the steady state of a daily run);
- sensor tick: `budget_alert_sensor` on a Dagster instance holding many materializations, with a new
  materialization to react to and with nothing new.
"""

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pyarrow as pa

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from cost_pipelines.alerts.budgets import PERIODS, SCOPE_KEYS, parse_budgets  # noqa: E402
from cost_pipelines.alerts.evaluate import budget_alerts  # noqa: E402
from cost_pipelines.alerts.outbox import record_alerts  # noqa: E402
from cost_pipelines.alerts.status import SCOPE_COLUMNS, budget_status  # noqa: E402
from cost_pipelines.defs.alert_sensors import budget_alert_sensor  # noqa: E402
from cost_pipelines.defs.alerts import BUDGET_STATUS  # noqa: E402

AS_OF = date(2026, 10, 31)
VALUES = {"provider": 6, "service": 25, "model": 15, "user": 300, "team": 8, "project": 30}


def facts(con: duckdb.DuckDBPyConnection, days: int, per_day: int) -> int:
    rng = np.random.default_rng(20261124)
    n = days * per_day
    first = AS_OF - timedelta(days=days - 1)
    columns = {
        "usage_date": pa.array([first + timedelta(days=int(d)) for d in np.repeat(np.arange(days), per_day)]),
        **{
            SCOPE_COLUMNS[key]: pa.array([f"{key}-{int(i)}" for i in rng.integers(0, count, n)])
            for key, count in VALUES.items()
        },
        "billed_cost": pa.array([f"{c:.6f}" for c in rng.lognormal(-1, 1.2, n)]),
    }
    con.register("_facts", pa.table(columns))
    con.execute("CREATE SCHEMA marts")
    select = ", ".join(c for c in columns if c != "billed_cost")
    con.execute(
        f"CREATE TABLE marts.fct_costs AS SELECT {select}, CAST(billed_cost AS DECIMAL(38, 18)) AS billed_cost "
        "FROM _facts"
    )
    con.unregister("_facts")
    return n


def budgets_yaml(count: int) -> str:
    rng = np.random.default_rng(7)
    lines = ["budgets:"]
    for i in range(count):
        kind = ["total", *SCOPE_KEYS][i % (len(SCOPE_KEYS) + 1)]
        scope = "{}" if kind == "total" else f"{{{kind}: {kind}-{int(rng.integers(0, VALUES[kind]))}}}"
        period = PERIODS[int(rng.integers(0, len(PERIODS)))]
        limit = round(float(rng.lognormal(4, 1.5)), 2) + 1
        lines.append(f"  - {{name: b{i:04d}, scope: {scope}, period: {period}, limit_usd: {limit}, "
                     "forecast_threshold: 100, notify: [slack, email]}")  # fmt: skip
    return "\n".join(lines) + "\n"


def timed(function: Callable[[], object], repeat: int = 5) -> tuple[float, object]:
    """Median wall seconds over `repeat` runs, and the last result."""
    seconds, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=int, default=1000)
    parser.add_argument("--days", type=int, default=92)
    parser.add_argument("--rows-per-day", type=int, default=2000)
    args = parser.parse_args()
    budgets = parse_budgets(budgets_yaml(args.budgets))
    rows: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(str(Path(tmp) / "warehouse.duckdb"))
        n = facts(con, args.days, args.rows_per_day)
        month_start = AS_OF.replace(day=1)

        def baseline() -> list:
            sql = "SELECT {}, sum(billed_cost) FROM marts.fct_costs WHERE usage_date >= ? GROUP BY 1"
            return [con.execute(sql.format(column), [month_start]).fetchall() for column in SCOPE_COLUMNS.values()]

        floor, _ = timed(baseline)
        rows.append(("baseline: sum per scope dimension, month to date", floor, ""))
        status_s, statuses = timed(lambda: budget_status(con, budgets, AS_OF))
        rows.append((f"budget status of {len(budgets):,} budgets", status_s, ""))
        alerts = budget_alerts(statuses)
        recipients = {"slack": "slack incoming webhook", "email": "finops@example.com"}
        started = time.perf_counter()
        new = record_alerts(con, alerts, recipients, datetime.now(UTC))
        first = time.perf_counter() - started
        rows.append((f"alerts: evaluate + store, all new ({len(new):,} alerts)", status_s + first, ""))

        def steady() -> int:
            return len(record_alerts(con, budget_alerts(budget_status(con, budgets, AS_OF)), recipients,
                                     datetime.now(UTC)))  # fmt: skip

        steady_s, again = timed(steady)
        assert again == 0
        rows.append(("alerts: evaluate + store, nothing new (daily steady state)", steady_s, ""))
        con.close()

    with dg.instance_for_test() as instance:
        for i in range(500):
            instance.report_runless_asset_event(
                dg.AssetMaterialization(BUDGET_STATUS, partition=(AS_OF - timedelta(days=i % 92)).isoformat())
            )
        cursor: list[str | None] = [None]

        def tick() -> object:
            context = dg.build_sensor_context(instance=instance, cursor=cursor[0])
            result = budget_alert_sensor(context)
            if isinstance(result, dg.SensorResult):
                cursor[0] = result.cursor
            return result

        def tick_with_news() -> object:
            instance.report_runless_asset_event(dg.AssetMaterialization(BUDGET_STATUS, partition=AS_OF.isoformat()))
            return tick()

        tick()
        news_s, _ = timed(tick_with_news)
        quiet_s, quiet = timed(tick)
        assert isinstance(quiet, dg.SkipReason)
        rows.append(("sensor tick, a new budget_status materialization", news_s, "500 events in the instance"))
        rows.append(("sensor tick, nothing new", quiet_s, ""))

    print(f"{args.budgets:,} budgets over {n:,} fct_costs rows ({args.days} days), {AS_OF}; median of 5 runs\n")
    print(f"{'what':<62} {'seconds':>9} {'x baseline':>11}")
    for what, seconds, note in rows:
        print(f"{what:<62} {seconds:>9.4f} {seconds / floor:>11.1f}  {note}")
    evaluation = steady_s
    print(f"\ntarget: 1,000 budgets evaluated in <= 1 s -> {'PASS' if evaluation <= 1 else 'FAIL'} "
          f"({evaluation:.3f} s steady state, {status_s + first:.3f} s when every alert is new)")  # fmt: skip
    return 0 if evaluation <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
