"""Benchmark: forecast accuracy on the shipped sample (last 28 days held out) and the time to forecast 200 series.

    python bench/forecast.py [--warehouse data/warehouse.duckdb] [--series 200] [--workers 2]

Needs the demo's warehouse (`make demo`). Accuracy follows what production would have published: for each of the
four weeks before the last day, the forecast is made as of that week's start with only the data known then (the
model chosen by its own backtest on that history) and scored on the 7 days that follow. Seasonal-naive (the same
weekday a week earlier) is scored on the same days. Speed: the sample's series, repeated with multiplicative noise
up to N series, forecast through `forecast_many`, beside seasonal-naive point forecasts of the same series (the
floor: no model fitting at all) and beside one worker, in the same run.
"""

import argparse
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from cost_pipelines.analytics.forecast import ForecastSettings, forecast_many, prepare_series  # noqa: E402
from cost_pipelines.analytics.series import load_cost_series  # noqa: E402

HOLDOUT_WEEKS = 4


def accuracy(con: duckdb.DuckDBPyConnection, last_day: date, workers: int, rolling: bool) -> pd.DataFrame:
    """Forecasts scored on the held-out days: one made before them all, or (rolling) one a week."""
    actual = {(s.dimension, s.key): prepare_series(s.daily, last_day) for s in load_cost_series(con, last_day)}
    rows = []
    origins = range(HOLDOUT_WEEKS, 0, -1) if rolling else [HOLDOUT_WEEKS]
    steps = 7 if rolling else 7 * HOLDOUT_WEEKS
    for week in origins:
        as_of = last_day - timedelta(days=7 * week)
        known = load_cost_series(con, as_of)
        jobs = [(s.dimension, s.key, s.daily, as_of, s.month_to_date) for s in known]
        for forecast in forecast_many(jobs, ForecastSettings(), workers):
            y = actual.get((forecast.dimension, forecast.key))
            if y is None or forecast.intervals is None:
                continue
            history = y[y.index <= pd.Timestamp(as_of)]
            naive = np.tile(history.to_numpy()[-7:], HOLDOUT_WEEKS) if len(history) >= 7 else None
            for h in range(steps):
                day = pd.Timestamp(as_of + timedelta(days=h + 1))
                if day not in y.index:
                    continue
                rows.append({
                    "dimension": forecast.dimension, "key": forecast.key, "as_of": as_of, "day": day.date(),
                    "method": forecast.method, "actual": y[day], "forecast": forecast.mean[h],
                    "naive": None if naive is None else naive[h],
                    "in_80": forecast.intervals["lower_80"][h] <= y[day] <= forecast.intervals["upper_80"][h],
                    "in_95": forecast.intervals["lower_95"][h] <= y[day] <= forecast.intervals["upper_95"][h],
                })  # fmt: skip
    return pd.DataFrame(rows)


def mape(actual: pd.Series, predicted: pd.Series) -> float:
    nonzero = actual.abs() > 1e-9
    return float(((actual - predicted).abs() / actual.abs())[nonzero].mean())


def report_accuracy(frame: pd.DataFrame, title: str) -> bool:
    print(f"accuracy, last {HOLDOUT_WEEKS * 7} days held out: {title}\n")
    print(f"{'series':<44} {'days':>4} {'MAPE':>7} {'naive':>7} {'ratio':>6} {'cov80':>6} {'cov95':>6}  methods")
    ratios = []
    for (dimension, key), group in frame.groupby(["dimension", "key"], sort=False):
        group = group.dropna(subset=["naive"])
        if group.empty:
            continue
        model, naive = mape(group["actual"], group["forecast"]), mape(group["actual"], group["naive"])
        ratio = model / naive if naive else float("nan")
        ratios.append(ratio)
        methods = ",".join(sorted(set(group["method"])))
        print(
            f"{dimension + '=' + str(key):<44.44} {len(group):>4} {model:>7.2%} {naive:>7.2%} {ratio:>6.2f} "
            f"{group['in_80'].mean():>6.0%} {group['in_95'].mean():>6.0%}  {methods}"
        )
    total = frame[frame["dimension"] == "total"]
    model, naive = mape(total["actual"], total["forecast"]), mape(total["actual"], total["naive"])
    coverage = total["in_80"].mean()
    print(
        f"\nall series: median MAPE ratio {np.nanmedian(ratios):.2f}, {np.mean(np.array(ratios) < 1):.0%} beat "
        f"seasonal-naive, 80% coverage {frame['in_80'].mean():.0%}, 95% coverage {frame['in_95'].mean():.0%}"
    )
    ok = model <= 0.8 * naive and 0.7 <= coverage <= 0.9
    print(
        f"total: MAPE {model:.2%} vs seasonal-naive {naive:.2%} = {model / naive:.2f}x (target <= 0.80), "
        f"80% coverage {coverage:.0%} (target 70-90%) -> {'PASS' if ok else 'FAIL'}\n"
    )
    return ok


def speed(con: duckdb.DuckDBPyConnection, last_day: date, count: int, workers: int) -> None:
    base = load_cost_series(con, last_day)
    rng = np.random.default_rng(20261123)
    jobs = []
    for i in range(count):
        s = base[i % len(base)]
        noisy = s.daily * (rng.lognormal(0, 0.05, len(s.daily)) if i >= len(base) else 1.0)
        jobs.append((s.dimension, f"{s.key}#{i}", noisy, last_day, s.month_to_date))
    histories = [len(prepare_series(job[2], last_day)) for job in jobs]

    started = time.perf_counter()
    naive = [prepare_series(job[2], last_day).to_numpy()[-7:] for job in jobs]
    floor = time.perf_counter() - started
    timings = {}
    for n in sorted({1, workers}):
        started = time.perf_counter()
        results = forecast_many(jobs, ForecastSettings(), workers=n)
        timings[n] = time.perf_counter() - started
    methods = pd.Series([r.method for r in results]).value_counts().to_dict()
    print(f"speed: {count} series, {min(histories)}-{max(histories)} days of history each, methods {methods}")
    print(f"  seasonal-naive point forecasts (floor): {floor:.3f} s for {len(naive)} series")
    for n, seconds in timings.items():
        print(
            f"  forecast_many, {n} worker(s): {seconds:.1f} s = {seconds / count * 1000:.0f} ms a series, "
            f"{seconds / floor:.0f}x the floor"
        )
    print(f"  target: {count} series in <= 30 s -> {'PASS' if timings[max(timings)] <= 30 else 'FAIL'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, default=PROJECT_ROOT / "data" / "warehouse.duckdb")
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not args.warehouse.exists():
        print(f"{args.warehouse} does not exist: run `make demo` first", file=sys.stderr)
        return 2
    con = duckdb.connect(str(args.warehouse), read_only=True)
    last_day = con.execute("SELECT max(usage_date) FROM marts.fct_costs WHERE x_source = 'llm_logs'").fetchone()[0]
    ok = report_accuracy(
        accuracy(con, last_day, args.workers, rolling=False), "one forecast made before them, 1-28 days ahead"
    )
    weekly = accuracy(con, last_day, args.workers, rolling=True)
    report_accuracy(weekly, "re-forecast weekly from the data known then, 1-7 days ahead")
    speed(con, last_day, args.series, args.workers)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
