"""Benchmark: hourly runaway detection on the shipped sample, beside a rolling robust z-score, in one run.

    python bench/hourly.py [--warehouse data/warehouse.duckdb] [--plants 3] [--times 20 10 5]

Needs the demo's warehouse (`make demo`); reads `marts.llm_cost_hourly` as `analytics/llm_spend_hourly` does.

Ordinary hours: every hour from the sample's 15th day on, judged once (the sample has one documented anomaly, on
2026-10-14; every other alarm is a false one). Planted loops: for each user, `--plants` seeded weekday hours
between 08:00 and 20:00 of ordinary days, that user's requests and cost multiplied by each of `--times` for two
hours; judged as the data arrives, with only the hours up to the loop's first (detected in its first hour) and
then its second. Counted: plants found naming the user, alarms on other series in the same evaluations.

Baseline in the same run: the cost of each user-hour against the median and MAD of the same user's previous 24
hours, |z| > 3.5, with the same dollar floor (what a generic streaming z-score would say). Times: the median time
of one evaluation (a day of hours, the way the intraday job judges) for both.
"""

import argparse
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from cost_pipelines.analytics.hourly import HourlySettings, judge_hours  # noqa: E402

DOCUMENTED = pd.Timestamp("2026-10-14")


def load(warehouse: Path) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        frame = con.execute(
            "SELECT usage_hour AS hour, provider, model, team, user_id, request_count AS requests, "
            "CAST(total_cost_usd AS DOUBLE) AS cost, CAST(total_cost_usd AS VARCHAR) AS exact "
            "FROM marts.llm_cost_hourly"
        ).df()
    frame["cost_exact"] = [Decimal(v) for v in frame.pop("exact")]
    return frame


def plant(frame: pd.DataFrame, user: str, first: pd.Timestamp, times: int) -> pd.DataFrame:
    out = frame.copy()
    hit = (out.user_id == user) & (out.hour >= first) & (out.hour < first + pd.Timedelta(hours=2))
    out.loc[hit, "requests"] *= times
    out.loc[hit, "cost"] *= times
    out.loc[hit, "cost_exact"] = [c * times for c in out.loc[hit, "cost_exact"]]
    return out


def zscore_flags(frame: pd.DataFrame, hour: pd.Timestamp, floor: float, window: int = 24) -> set[str]:
    """Users whose cost in `hour` is more than 3.5 robust sigmas above their previous `window` hours."""
    recent = frame[(frame.hour < hour) & (frame.hour >= hour - pd.Timedelta(hours=window))]
    hours = pd.date_range(hour - pd.Timedelta(hours=window), hour - pd.Timedelta(hours=1), freq="h")
    past = recent.groupby(["hour", "user_id"])["cost"].sum().unstack(fill_value=0.0).reindex(hours, fill_value=0.0)
    now = frame[frame.hour == hour].groupby("user_id")["cost"].sum()
    flagged = set()
    for user, cost in now.items():
        history = past[user].to_numpy() if user in past else np.zeros(window)
        median = float(np.median(history))
        mad = 1.4826 * float(np.median(np.abs(history - median)))
        z = (cost - median) / mad if mad > 0 else (np.inf if cost > median else 0.0)
        if cost - median >= floor and z > 3.5:
            flagged.add(str(user))
    return flagged


def ordinary(frame: pd.DataFrame, settings: HourlySettings) -> tuple[list, int, int, tuple[list, list]]:
    start = frame.hour.min().normalize() + pd.Timedelta(days=14)
    days = pd.date_range(start, frame.hour.max().normalize(), freq="D")
    found, z_false, z_total, seconds, z_seconds = [], 0, 0, [], []
    for day in days:
        t = time.perf_counter()
        found += judge_hours(frame, day, day + pd.Timedelta(hours=23), settings)
        seconds.append(time.perf_counter() - t)
        t = time.perf_counter()
        flags = [zscore_flags(frame, day + pd.Timedelta(hours=h), float(settings.min_change_usd)) for h in range(24)]
        z_seconds.append(time.perf_counter() - t)
        if day != DOCUMENTED:
            z_false += sum(len(f) for f in flags)
        z_total += 1
    return [a for a in found if a.alarm and a.folded_into is None], z_false, z_total, (seconds, z_seconds)


def _names(alarm, user: str) -> bool:
    """The alarm is the loop's: on the user, or on a coarser series whose top contributor is the user."""
    if alarm.dimension == "user":
        return alarm.key == user
    return bool(alarm.contributors) and alarm.contributors[0][:2] == ("user", user)


def planted(frame: pd.DataFrame, settings: HourlySettings, plants: int, times: int, seed: int = 11) -> dict:
    rng = np.random.default_rng(seed)
    start, end = frame.hour.min().normalize() + pd.Timedelta(days=14), frame.hour.max().normalize()
    days = [d for d in pd.date_range(start, end, freq="D") if d.weekday() < 5 and d != DOCUMENTED]
    counts = dict.fromkeys(
        [
            "plants",
            "first_hour",
            "second_hour",
            "named_user",
            "named_user_later",
            "other_alarms",
            "z_first_hour",
            "z_other",
        ],
        0,
    )
    for user in sorted(frame.user_id.unique()):
        for _ in range(plants):
            first = days[int(rng.integers(len(days)))] + pd.Timedelta(hours=int(rng.integers(8, 20)))
            loop = plant(frame, user, first, times)
            counts["plants"] += 1
            for n, key in ((0, "first_hour"), (1, "second_hour")):
                hour = first + pd.Timedelta(hours=n)
                arrived = loop[loop.hour <= hour]
                found = judge_hours(arrived, hour.normalize(), hour, settings)
                alarms = [a for a in found if a.alarm and a.folded_into is None]
                loop_alarms = [a for a in alarms if _names(a, user)]
                if loop_alarms:
                    counts[key] += 1
                    counts["named_user" if n == 0 else "named_user_later"] += any(
                        a.dimension == "user" for a in loop_alarms
                    )
                if n == 0:
                    counts["other_alarms"] += sum(1 for a in alarms if not _names(a, user))
                    z = zscore_flags(arrived, hour, float(settings.min_change_usd))
                    counts["z_first_hour"] += user in z
                    counts["z_other"] += len(z - {user})
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse", type=Path, default=PROJECT_ROOT / "data" / "warehouse.duckdb")
    parser.add_argument("--plants", type=int, default=3, help="loops planted per user")
    parser.add_argument("--times", type=int, nargs="+", default=[20, 10, 5])
    parser.add_argument("--min-change-usd", type=Decimal, default=Decimal("0.10"),
                        help="the dollar floor (the sample's users spend cents an hour)")  # fmt: skip
    args = parser.parse_args()
    frame = load(args.warehouse)
    settings = HourlySettings(min_change_usd=args.min_change_usd)
    print(f"{len(frame):,} hourly rows, {frame.user_id.nunique()} users, {frame.hour.min()} .. {frame.hour.max()}")
    alarms, z_false, days, seconds = ordinary(frame, settings)
    print(f"\nordinary hours of {days} days: {len(alarms)} detector alarm(s); robust z(24): {z_false} flags")
    for a in alarms:
        print(f"  {a.hour:%Y-%m-%d %H}:00 {a.dimension}={a.key} ${a.actual:,.2f} against ${a.expected:,.2f}, "
              f"{a.requests} requests; also {', '.join(a.also) or '-'}")  # fmt: skip
    detector, baseline = (statistics.median(x) * 1000 for x in seconds)
    print(
        f"one evaluation (a day of hours), median: detector {detector:,.0f} ms, robust z(24) {baseline:,.0f} ms "
        f"(ratio {detector / baseline:.2f})"
    )
    print(
        "\n| loop | plants | detector: first hour (naming the user) | second hour | other alarms "
        "| robust z(24): first hour | other flags |"
    )
    print("|---|---|---|---|---|---|---|")
    for times in args.times:
        c = planted(frame, settings, args.plants, times)
        print(
            f"| x{times} for 2 h | {c['plants']} | {c['first_hour']} ({c['named_user']}) | {c['second_hour']} "
            f"| {c['other_alarms']} | {c['z_first_hour']} | {c['z_other']} |"
        )


if __name__ == "__main__":
    main()
