"""Forecasts in the warehouse: one row per series and day, one summary row per series, replaced per as-of day."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import duckdb
import pyarrow as pa

from cost_pipelines.analytics.forecast import SeriesForecast
from cost_pipelines.analytics.store import replace_rows

MONEY = "DECIMAL(18, 6)"
DAILY_DDL = f"""
CREATE TABLE IF NOT EXISTS analytics.spend_forecast (
    as_of DATE NOT NULL, dimension VARCHAR NOT NULL, series_key VARCHAR NOT NULL, forecast_date DATE NOT NULL,
    method VARCHAR NOT NULL, forecast_usd {MONEY} NOT NULL,
    lower_80_usd {MONEY}, upper_80_usd {MONEY}, lower_95_usd {MONEY}, upper_95_usd {MONEY},
    PRIMARY KEY (as_of, dimension, series_key, forecast_date)
)"""
SERIES_DDL = f"""
CREATE TABLE IF NOT EXISTS analytics.spend_forecast_series (
    as_of DATE NOT NULL, dimension VARCHAR NOT NULL, series_key VARCHAR NOT NULL, method VARCHAR NOT NULL,
    note VARCHAR, first_day DATE, history_days INTEGER NOT NULL, backtest_days INTEGER,
    mape DOUBLE, coverage_80 DOUBLE, coverage_95 DOUBLE, seasonal_naive_mape DOUBLE,
    month_start DATE NOT NULL, month_to_date_usd DECIMAL(38, 18) NOT NULL,
    month_end_usd {MONEY}, month_end_lower_80_usd {MONEY}, month_end_upper_80_usd {MONEY},
    month_end_lower_95_usd {MONEY}, month_end_upper_95_usd {MONEY}, month_end_p80_usd {MONEY},
    candidates VARCHAR, forecast_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (as_of, dimension, series_key)
)"""


def _money(value: float | None) -> str | None:
    return None if value is None else str(Decimal(repr(float(value))).quantize(Decimal("0.000001")))


def _daily_table(forecasts: list[SeriesForecast]) -> pa.Table:
    columns: dict[str, list] = {name: [] for name in (
        "as_of", "dimension", "series_key", "forecast_date", "method", "forecast_usd",
        "lower_80_usd", "upper_80_usd", "lower_95_usd", "upper_95_usd",
    )}  # fmt: skip
    for f in forecasts:
        for i, day in enumerate(f.days):
            columns["as_of"].append(f.as_of)
            columns["dimension"].append(f.dimension)
            columns["series_key"].append(f.key)
            columns["forecast_date"].append(day)
            columns["method"].append(f.method)
            columns["forecast_usd"].append(_money(f.mean[i]))
            for name in ("lower_80", "upper_80", "lower_95", "upper_95"):
                columns[f"{name}_usd"].append(None if f.intervals is None else _money(f.intervals[name][i]))
    return pa.table(columns)


def _series_table(forecasts: list[SeriesForecast]) -> pa.Table:
    rows = []
    for f in forecasts:
        chosen, end = f.chosen_backtest, f.month_end or {}
        rows.append({
            "as_of": f.as_of, "dimension": f.dimension, "series_key": f.key, "method": f.method, "note": f.note,
            "first_day": f.first_day, "history_days": f.history_days,
            "backtest_days": chosen.days if chosen else None,
            "mape": chosen.mape if chosen else None,
            "coverage_80": chosen.coverage_80 if chosen else None,
            "coverage_95": chosen.coverage_95 if chosen else None,
            "seasonal_naive_mape": f.benchmark.mape if f.benchmark else None,
            "month_start": f.month_start, "month_to_date_usd": str(f.month_to_date),
            **{f"month_end{'' if k == 'mean' else '_' + k}_usd": _money(end.get(k))
               for k in ("mean", "lower_80", "upper_80", "lower_95", "upper_95", "p80")},
            "candidates": json.dumps({name: b.__dict__ for name, b in f.backtests.items()}),
        })  # fmt: skip
    return pa.Table.from_pylist(rows)


def write_forecasts(con: duckdb.DuckDBPyConnection, as_of_days: list, forecasts: list[SeriesForecast]) -> None:
    """Replace the forecasts made as of these days with `forecasts`, atomically."""
    series = _series_table(forecasts) if forecasts else None
    if series is not None:
        series = series.append_column("forecast_at", pa.array([datetime.now(UTC)] * series.num_rows))
    replace_rows(
        con,
        {"spend_forecast": DAILY_DDL, "spend_forecast_series": SERIES_DDL},
        "as_of",
        as_of_days,
        {"spend_forecast": _daily_table(forecasts) if forecasts else None, "spend_forecast_series": series},
    )
