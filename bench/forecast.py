"""Benchmark: forecast accuracy on the shipped sample and the time to forecast 200 series.

    python bench/forecast.py [--warehouse data/warehouse.duckdb] [--series 200] [--workers 2]
    python bench/forecast.py --rolling [--warehouse data/warehouse.duckdb] [--workers 2]

Needs the demo's warehouse (`make demo`). Every forecast is what production would have published: made as of a
past day with only the data known then (`load_cost_series` as of that day; the model chosen by its own backtest
on that history).

Default mode: one forecast made 28 days before the last day, scored on those 28 days beside seasonal-naive (the
same weekday of the last known week); then speed: the sample's series, repeated with multiplicative noise up to N
series, forecast through `forecast_many`, beside seasonal-naive point forecasts of the same series (the floor: no
model fitting at all) and beside one worker, in the same run.

`--rolling`: eight weekly origins, the as-of days 56, 49, ..., 7 days before the last day, each forecasting 14 days
on every series `load_cost_series` returns (total, providers, services, teams); days after the last day are not
known, so the last origin is scored on 7. On the same days: naive (the last known day carried forward) and
seasonal-naive. Per series, MAPE is the mean of |actual - forecast| / |actual| over all its scored days (every
origin, days with zero spend left out), for the forecast and for both simple methods; its ratio is
MAPE / min(naive MAPE, seasonal-naive MAPE). The summary is the median of that ratio over the series, and the 80 %
and 95 % coverage pooled over every scored day of every series and origin that has an interval (point-only
fallbacks count for MAPE, not for coverage). Targets: median ratio <= 0.90, 80 % coverage 75-85 %, 95 % 90-98 %.
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
ROLLING_ORIGINS = 8
ROLLING_HORIZON = 14


def _actuals(con: duckdb.DuckDBPyConnection, last_day: date) -> dict[tuple[str, str], pd.Series]:
    return {(s.dimension, s.key): prepare_series(s.daily, last_day) for s in load_cost_series(con, last_day)}


def _forecasts_as_of(con: duckdb.DuckDBPyConnection, as_of: date, settings: ForecastSettings, workers: int) -> list:
    jobs = [(s.dimension, s.key, s.daily, as_of, s.month_to_date) for s in load_cost_series(con, as_of)]
    return forecast_many(jobs, settings, workers)


def accuracy(con: duckdb.DuckDBPyConnection, last_day: date, workers: int) -> pd.DataFrame:
    """One forecast made before the held-out days, scored on all of them (1-28 days ahead)."""
    actual = _actuals(con, last_day)
    as_of = last_day - timedelta(days=7 * HOLDOUT_WEEKS)
    rows = []
    for forecast in _forecasts_as_of(con, as_of, ForecastSettings(), workers):
        y = actual.get((forecast.dimension, forecast.key))
        if y is None or forecast.intervals is None:
            continue
        history = y[y.index <= pd.Timestamp(as_of)]
        naive = np.tile(history.to_numpy()[-7:], HOLDOUT_WEEKS) if len(history) >= 7 else None
        for h in range(7 * HOLDOUT_WEEKS):
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


def rolling(con: duckdb.DuckDBPyConnection, last_day: date, workers: int) -> pd.DataFrame:
    """One row per series, origin and scored day: the forecast, naive and seasonal-naive, and the interval hits."""
    actual = _actuals(con, last_day)
    settings = ForecastSettings(horizon_days=ROLLING_HORIZON)
    rows = []
    for week in range(ROLLING_ORIGINS, 0, -1):
        as_of = last_day - timedelta(days=7 * week)
        for forecast in _forecasts_as_of(con, as_of, settings, workers):
            y = actual.get((forecast.dimension, forecast.key))
            if y is not None:
                rows += _rolling_rows(forecast, y, as_of, last_day)
    return pd.DataFrame(rows)


def _rolling_rows(forecast, y: pd.Series, as_of: date, last_day: date) -> list[dict]:
    history = y[y.index <= pd.Timestamp(as_of)].to_numpy()
    last_week = history[-7:] if len(history) >= 7 else None
    bands = forecast.intervals
    rows = []
    for h in range(min(ROLLING_HORIZON, (last_day - as_of).days)):
        a = float(y[pd.Timestamp(as_of + timedelta(days=h + 1))])
        hit = {level: None if bands is None else bool(bands[f"lower_{level}"][h] <= a <= bands[f"upper_{level}"][h])
               for level in (80, 95)}  # fmt: skip
        rows.append({
            "series": f"{forecast.dimension}={forecast.key}", "as_of": as_of, "step": h + 1,
            "method": forecast.method, "actual": a, "forecast": float(forecast.mean[h]),
            "naive": float(history[-1]) if len(history) else np.nan,
            "seasonal_naive": np.nan if last_week is None else float(last_week[h % 7]),
            "in_80": hit[80], "in_95": hit[95],
        })  # fmt: skip
    return rows


def report_rolling(frame: pd.DataFrame) -> bool:
    print(
        f"rolling origins: {ROLLING_ORIGINS} weekly as-of days, {ROLLING_HORIZON} days ahead each, "
        f"{frame['as_of'].min()}..{frame['as_of'].max()}\n"
    )
    print(
        f"{'series':<44} {'days':>4} {'MAPE':>8} {'naive':>8} {'s-naive':>8} {'ratio':>6} {'cov80':>6} {'cov95':>6}"
        "  methods"
    )
    ratios = []
    for name, group in frame.groupby("series", sort=False):
        model, naive, seasonal = (mape(group["actual"], group[c]) for c in ("forecast", "naive", "seasonal_naive"))
        floor = np.nanmin([naive, seasonal]) if not np.isnan([naive, seasonal]).all() else np.nan
        ratio = model / floor if floor > 0 else np.nan
        ratios.append(ratio)
        banded = group.dropna(subset=["in_80"])
        cov80, cov95 = (f"{banded[c].mean():>6.0%}" if len(banded) else f"{'-':>6}" for c in ("in_80", "in_95"))
        methods = ",".join(sorted(set(group["method"])))
        print(
            f"{name:<44.44} {len(group):>4} {model:>8.2%} {naive:>8.2%} {seasonal:>8.2%} {ratio:>6.2f} {cov80} {cov95}"
            f"  {methods}"
        )
    banded = frame.dropna(subset=["in_80"])
    defined = np.array([r for r in ratios if not np.isnan(r)])  # no ratio: no day with spend, or no floor
    median_ratio = float(np.median(defined))
    cov80, cov95 = float(banded["in_80"].mean()), float(banded["in_95"].mean())
    by_week = banded.groupby((banded["step"] - 1) // 7)[["in_80", "in_95"]].mean()
    print(
        f"\n{len(ratios)} series ({len(defined)} with a ratio), {frame['as_of'].nunique()} origins, "
        f"{len(frame)} scored days ({len(frame) - len(banded)} of them from point-only fallbacks, left out of coverage)"
    )
    print(
        f"coverage by horizon: days 1-7 {by_week.iloc[0]['in_80']:.0%} / {by_week.iloc[0]['in_95']:.0%}, "
        f"days 8-14 {by_week.iloc[-1]['in_80']:.0%} / {by_week.iloc[-1]['in_95']:.0%} (80 / 95)"
    )
    ok = median_ratio <= 0.9 and 0.75 <= cov80 <= 0.85 and 0.90 <= cov95 <= 0.98
    print(
        f"pooled: median MAPE / min(naive, seasonal-naive) {median_ratio:.2f} (target <= 0.90), "
        f"{np.mean(defined < 1):.0%} of them below 1; coverage 80% {cov80:.1%} (target 75-85%), "
        f"95% {cov95:.1%} (target 90-98%) -> {'PASS' if ok else 'FAIL'}\n"
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
    parser.add_argument("--rolling", action="store_true", help="weekly origins, 14 days ahead, against naive")
    args = parser.parse_args()
    if not args.warehouse.exists():
        print(f"{args.warehouse} does not exist: run `make demo` first", file=sys.stderr)
        return 2
    con = duckdb.connect(str(args.warehouse), read_only=True)
    last_day = con.execute("SELECT max(usage_date) FROM marts.fct_costs WHERE x_source = 'llm_logs'").fetchone()[0]
    if args.rolling:
        return 0 if report_rolling(rolling(con, last_day, args.workers)) else 1
    ok = report_accuracy(accuracy(con, last_day, args.workers), "one forecast made before them, 1-28 days ahead")
    speed(con, last_day, args.series, args.workers)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
