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
