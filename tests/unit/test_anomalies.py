"""Anomaly rules on synthetic daily series: seasonality is not news, spikes and new spend are."""

from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd

from cost_pipelines.analytics.anomalies import Anomaly, detect, top_contributors

START = date(2026, 8, 1)
DAYS = [START + timedelta(days=i) for i in range(90)]


def seasonal_series(key: str = "all", level: float = 100.0, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    costs = [level * (0.4 if d.weekday() >= 5 else 1.0) * rng.lognormal(0, 0.05) for d in DAYS]
    return pd.DataFrame({"usage_date": DAYS, "dimension": "total", "key": key, "cost": costs})


def test_weekly_seasonality_alone_raises_nothing() -> None:
    assert detect(seasonal_series(), DAYS) == []


def test_a_spike_is_found_on_its_day_with_what_was_expected() -> None:
    frame = seasonal_series()
    spike_day = date(2026, 10, 14)  # a Wednesday
    frame.loc[frame.usage_date == spike_day, "cost"] *= 3
    (anomaly,) = detect(frame, DAYS)
    assert anomaly.day == spike_day and {"robust_z", "day_over_day"} <= set(anomaly.kinds)
    assert Decimal(90) < anomaly.expected < Decimal(110) and anomaly.actual > Decimal(270)


def test_new_spend_is_flagged_but_not_on_the_first_days_of_data() -> None:
    base = seasonal_series()
    late = pd.DataFrame({"usage_date": DAYS[60:], "dimension": "model", "key": "claude-opus", "cost": 5.0})
    early = pd.DataFrame({"usage_date": DAYS[:3], "dimension": "model", "key": "gpt-4o", "cost": 5.0})
    found = detect(pd.concat([base, late, early]), DAYS)
    assert [(a.key, a.day, a.kinds) for a in found] == [("claude-opus", DAYS[60], ("new_spend",))]


def test_gaps_zero_series_small_series_and_one_day_of_history_do_not_crash() -> None:
    frame = pd.concat([
        seasonal_series().iloc[::2],  # every other day missing
        pd.DataFrame({"usage_date": DAYS, "dimension": "team", "key": "zero", "cost": 0.0}),
        pd.DataFrame({"usage_date": DAYS, "dimension": "team", "key": "tiny", "cost": 0.01}),
        pd.DataFrame({"usage_date": [DAYS[-1]], "dimension": "team", "key": "fresh", "cost": 50.0}),
    ])  # fmt: skip
    found = detect(frame, DAYS)
    assert all(isinstance(a, Anomaly) for a in found)
    assert not any(a.key in ("zero", "tiny") for a in found)


def test_contributors_name_what_moved() -> None:
    rows = []
    for d in DAYS:
        rows += [(d, "u-01", "gpt-4o", 10.0), (d, "u-02", "haiku", 5.0)]
    rows.append((date(2026, 10, 14), "u-07", "opus", 30.0))
    detail = pd.DataFrame(rows, columns=["usage_date", "user_id", "model", "cost"])
    anomaly = Anomaly(date(2026, 10, 14), "total", "all", ("robust_z",), Decimal(45), Decimal(15), 9.0)
    top = top_contributors(detail, anomaly, ["user_id", "model"], n=2)
    assert [(d, v) for d, v, _ in top] == [("user_id", "u-07"), ("model", "opus")]
    assert top[0][2] == Decimal(30)


def _only(frame: pd.DataFrame, key: str = "all") -> list[tuple[date, tuple[str, ...]]]:
    return [(a.day, a.kinds) for a in detect(frame, DAYS) if a.key == key]


def test_a_drop_is_found_and_says_it_is_a_drop() -> None:
    frame = seasonal_series()
    quiet = date(2026, 10, 14)  # logs stopped arriving for a day
    frame.loc[frame.usage_date == quiet, "cost"] = 0.0
    [(day, kinds)] = _only(frame)
    assert day == quiet and "drop" in kinds
    [anomaly] = detect(frame, DAYS)
    assert anomaly.direction == "drop" and anomaly.actual == 0 and anomaly.expected > Decimal(90)


def test_a_credit_day_is_one_drop_and_does_not_poison_the_days_after() -> None:
    frame = seasonal_series()
    credit = date(2026, 10, 7)
    frame.loc[frame.usage_date == credit, "cost"] = -250.0
    assert _only(frame) == [(credit, ("robust_z", "drop"))]


def test_a_series_starting_mid_period_alarms_once_on_its_first_day() -> None:
    # a Savings Plan appearing at $240 a day: new spend on its first day, then the new normal, never a week later
    plan = pd.DataFrame({"usage_date": DAYS[45:], "dimension": "service", "key": "Savings Plans", "cost": 240.0})
    assert _only(pd.concat([seasonal_series(), plan]), "Savings Plans") == [(DAYS[45], ("new_spend",))]


def test_a_monthly_charge_is_news_the_first_month_only() -> None:
    fee = pd.DataFrame({"usage_date": [d for d in DAYS if d.day == 1], "dimension": "service", "key": "Route 53",
                        "cost": 50.0})  # fmt: skip
    base = pd.DataFrame({"usage_date": DAYS, "dimension": "service", "key": "Route 53", "cost": 0.0})
    frame = pd.concat([base, fee]).groupby(["usage_date", "dimension", "key"], as_index=False)["cost"].sum()
    # the data starts on the first fee; September's and October's recur on the same day of the month before
    assert _only(frame, "Route 53") == []
    # a fee that did not come the month before is news
    frame.loc[(frame.usage_date == date(2026, 9, 1)), "cost"] = 0.0
    assert _only(frame, "Route 53") == [(date(2026, 10, 1), ("new_spend",))]


def test_a_level_shift_alarms_once_then_is_the_new_normal() -> None:
    frame = seasonal_series()
    shift = date(2026, 9, 16)
    frame.loc[frame.usage_date >= shift, "cost"] *= 2.5
    assert [day for day, _ in _only(frame)] == [shift]


def test_all_zero_and_one_day_series_raise_nothing() -> None:
    zero = pd.DataFrame({"usage_date": DAYS, "dimension": "team", "key": "zero", "cost": 0.0})
    one = pd.DataFrame({"usage_date": [DAYS[-1]], "dimension": "team", "key": "one", "cost": 500.0})
    assert detect(zero, DAYS) == []
    assert detect(one, DAYS) == []


def test_contributors_are_only_what_moved_and_follow_a_drop() -> None:
    rows = [(d, "u-01", "gpt-4o", 10.0) for d in DAYS] + [(d, "u-02", "haiku", 5.0) for d in DAYS[:-1]]
    detail = pd.DataFrame(rows, columns=["usage_date", "user_id", "model", "cost"])
    drop = Anomaly(DAYS[-1], "total", "all", ("robust_z", "drop"), Decimal(10), Decimal(15), -9.0)
    top = top_contributors(detail, drop, ["user_id", "model"], n=3)
    assert [(d, v, c) for d, v, c in top] == [("user_id", "u-02", Decimal(-5)), ("model", "haiku", Decimal(-5))]
