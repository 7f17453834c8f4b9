"""Daily spend forecasts with prediction intervals; the model is chosen per series by a rolling-origin backtest.

Candidates (statsmodels): ETS(A,Ad,A) with weekly seasonality from six weeks of history, SARIMAX(1,0,0)(0,1,1)7
with drift from eight, and the equal-weight combination of those with seasonal-naive; ETS(A,N,A) while the history
is too short for them. A series with spend on every day also gets the same models fitted to log cost, and their
combination: LLM spend is multiplicative (a weekly factor times volume) and right-skewed (a few heavy requests make
an expensive day), which log-scale models describe and additive ones do not. Seasonal-naive (same weekday last
week) is the floor: a model is only chosen when its backtest MAPE beats seasonal-naive's. The backtest fits each
candidate once on the history before the first origin, then rolls the origin forward a week at a time with those
parameters, forecasting 7 days from each origin; the errors and interval hits of those days are the backtest
(interval widths use the noise scale estimated before the first origin, never the days being scored).

Short history (under two weeks) and flat history (no variation at all) get a labelled fallback: a point forecast
and no interval, rather than an interval that pretends to know the spread.
"""

import calendar
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from multiprocessing import get_context

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

WEEK = 7
Z80 = 1.2815515655446004
Z95 = 1.959963984540054
SHORT_HISTORY = "short_history"
FLAT_HISTORY = "flat_history"
SEASONAL_NAIVE = "seasonal_naive"


@dataclass(frozen=True)
class ForecastSettings:
    backtest_weeks: int = 4
    min_history_days: int = 14
    damped_trend_min_days: int = 42
    sarimax_min_days: int = 56
    extra_days: int = 30  # forecast this far past the end of the as-of month
    outlier_z: float = 5.0
    simulations: int = 1000
    seed: int = 20260801


@dataclass(frozen=True)
class Backtest:
    method: str
    days: int
    mape: float | None  # over backtest days with non-zero actual spend
    coverage_80: float | None
    coverage_95: float | None


@dataclass
class SeriesForecast:
    dimension: str
    key: str
    as_of: date
    method: str
    note: str
    history_days: int
    first_day: date | None
    days: list[date]
    mean: np.ndarray
    intervals: dict[str, np.ndarray] | None  # lower_80, upper_80, lower_95, upper_95
    month_to_date: Decimal
    month_end: dict[str, float] | None  # mean, lower_80, upper_80, lower_95, upper_95, p80
    backtests: dict[str, Backtest] = field(default_factory=dict)  # candidates, fitted on the tempered history
    benchmark: Backtest | None = None  # seasonal-naive on the untouched history: what a model has to beat

    @property
    def chosen_backtest(self) -> Backtest | None:
        return self.backtests.get(self.method)

    @property
    def month_start(self) -> date:
        return month_bounds(self.as_of)[0]


@dataclass(frozen=True)
class _Prediction:
    mean: np.ndarray  # the point forecast (the median for log-scale models)
    lower_80: np.ndarray
    upper_80: np.ndarray
    lower_95: np.ndarray
    upper_95: np.ndarray

    @classmethod
    def gaussian(cls, mean: np.ndarray, sd: np.ndarray) -> "_Prediction":
        return cls(mean, mean - Z80 * sd, mean + Z80 * sd, mean - Z95 * sd, mean + Z95 * sd)

    def map(self, function) -> "_Prediction":
        return _Prediction(*(function(getattr(self, f)) for f in PREDICTION_FIELDS))


PREDICTION_FIELDS = ("mean", "lower_80", "upper_80", "lower_95", "upper_95")


class _SeasonalNaive:
    """Same weekday last week; errors of a weekly random walk (they add up week by week).

    Every model has the same methods: `fit` (parameters from a history), `predict` (the point forecast and interval
    bounds from the end of a history), `at_origins` (what `predict` gives from the end of each shorter history
    `y[:origin]`, with the noise scale known at the first origin) and `forecast` (the prediction and `n` paths).
    """

    name = SEASONAL_NAIVE

    def fit(self, y: pd.Series) -> np.ndarray:
        residuals = y.to_numpy()[WEEK:] - y.to_numpy()[:-WEEK]
        return np.array([np.sqrt(np.mean(residuals**2))])

    def predict(self, params: np.ndarray, y: pd.Series, horizon: int) -> _Prediction:
        last_week = y.to_numpy()[-WEEK:]
        steps = np.arange(horizon)
        sd = params[0] * np.sqrt(steps // WEEK + 1)
        return _Prediction.gaussian(last_week[steps % WEEK], sd)

    def at_origins(self, params: np.ndarray, y: pd.Series, origins: list[int], horizon: int) -> list[_Prediction]:
        return [self.predict(params, y.iloc[:o], horizon) for o in origins]

    def forecast(
        self, params: np.ndarray, y: pd.Series, horizon: int, n: int, rng: np.random.Generator
    ) -> tuple[_Prediction, np.ndarray]:
        prediction = self.predict(params, y, horizon)
        weeks = -(-horizon // WEEK)
        shocks = rng.normal(0.0, params[0], size=(n, weeks, WEEK)).cumsum(axis=1).reshape(n, weeks * WEEK)
        return prediction, prediction.mean + shocks[:, :horizon]


class _Ets:
    def __init__(self, damped: bool):
        self.damped = damped
        self.name = "ets_damped_trend" if damped else "ets"

    def _model(self, y: pd.Series):
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        trend = {"trend": "add", "damped_trend": True} if self.damped else {}
        return ETSModel(
            y.reset_index(drop=True),
            error="add",
            seasonal="add",
            seasonal_periods=WEEK,
            initialization_method="heuristic",
            **trend,
        )

    def fit(self, y: pd.Series) -> np.ndarray:
        return np.asarray(self._model(y).fit(disp=False, maxiter=200).params)

    @staticmethod
    def _prediction(result, start: int, horizon: int, rescale: float = 1.0) -> _Prediction:
        # dynamic from `start`: a multi-step forecast from the states filtered up to start - 1
        frame = result.get_prediction(start=start, end=start + horizon - 1, dynamic=0).summary_frame(alpha=0.2)
        mean = frame["mean"].to_numpy()
        sd = (frame["pi_upper"].to_numpy() - mean) / Z80  # additive errors: the interval is Gaussian
        return _Prediction.gaussian(mean, sd * rescale)

    def predict(self, params: np.ndarray, y: pd.Series, horizon: int) -> _Prediction:
        return self._prediction(self._model(y).smooth(params), len(y), horizon)

    def at_origins(self, params: np.ndarray, y: pd.Series, origins: list[int], horizon: int) -> list[_Prediction]:
        # One pass over the whole history serves every origin (the filter only looks back); the noise scale is
        # the one estimated before the first origin, so no interval learns from the days it is scored on.
        result = self._model(y).smooth(params)
        rescale = np.sqrt(self._model(y.iloc[: origins[0]]).smooth(params).scale / result.scale)
        return [self._prediction(result, o, horizon, rescale) for o in origins]

    def forecast(
        self, params: np.ndarray, y: pd.Series, horizon: int, n: int, rng: np.random.Generator
    ) -> tuple[_Prediction, np.ndarray]:
        result = self._model(y).smooth(params)
        paths = np.asarray(result.simulate(horizon, anchor="end", repetitions=n, rng=rng)).T
        return self._prediction(result, len(y), horizon), paths


class _Sarimax:
    name = "sarimax"
    order = (1, 0, 0)
    seasonal_order = (0, 1, 1, WEEK)

    def _model(self, y: pd.Series):
        from statsmodels.tsa.statespace.sarimax import SARIMAX

        return SARIMAX(
            y.reset_index(drop=True),
            order=self.order,
            seasonal_order=self.seasonal_order,
            trend="c",
            concentrate_scale=True,
        )

    # intercept (drift per week), AR(1), seasonal MA(1): statsmodels' own start values cost more than the fit
    default_start = np.array([0.0, 0.2, -0.5])

    def fit(self, y: pd.Series) -> np.ndarray:
        return np.asarray(self._model(y).fit(disp=False, maxiter=100, start_params=self.default_start).params)

    def predict(self, params: np.ndarray, y: pd.Series, horizon: int) -> _Prediction:
        forecast = self._model(y).filter(params).get_forecast(horizon)
        return _Prediction.gaussian(np.asarray(forecast.predicted_mean), np.asarray(forecast.se_mean))

    def at_origins(self, params: np.ndarray, y: pd.Series, origins: list[int], horizon: int) -> list[_Prediction]:
        # As for ETS: one filter pass, dynamic predictions from each origin, the scale known at the first one.
        result = self._model(y).filter(params)
        rescale = np.sqrt(self._model(y.iloc[: origins[0]]).filter(params).scale / result.scale)
        predictions = []
        for o in origins:
            p = result.get_prediction(start=o, end=o + horizon - 1, dynamic=True)
            predictions.append(_Prediction.gaussian(np.asarray(p.predicted_mean), np.asarray(p.se_mean) * rescale))
        return predictions

    def forecast(
        self, params: np.ndarray, y: pd.Series, horizon: int, n: int, rng: np.random.Generator
    ) -> tuple[_Prediction, np.ndarray]:
        # Forecast errors are sums of future shocks weighted by the impulse responses; drawing the shocks and
        # weighting them gives correlated paths fast (simulating the state space a thousand times does not).
        # Each day is then rescaled to the forecast's own standard error (which also carries state uncertainty).
        result = self._model(y).filter(params)
        forecast = result.get_forecast(horizon)
        sd = np.asarray(forecast.se_mean)
        mean = np.asarray(forecast.predicted_mean)
        psi = np.asarray(result.impulse_responses(horizon - 1)).ravel()[:horizon]
        weights = np.array([[psi[h - k] if k <= h else 0.0 for k in range(horizon)] for h in range(horizon)])
        errors = rng.normal(0.0, 1.0, size=(n, horizon)) @ weights.T
        paths = mean + errors * (sd / np.sqrt(np.cumsum(psi**2)))
        return _Prediction.gaussian(mean, sd), paths


class _LogScale:
    """A model fitted to log cost, for series that are positive every day: a multiplicative weekly pattern and
    right-skewed errors (a few heavy requests make an expensive day, nothing makes a negative one). Its point
    forecast is the median; intervals and paths are the log-scale ones, exponentiated."""

    def __init__(self, inner):
        self.inner = inner
        self.name = f"log_{inner.name}"

    @staticmethod
    def _exp(values: np.ndarray, cap: float) -> np.ndarray:
        return np.exp(np.minimum(values, cap))  # a runaway log forecast must not overflow to inf

    @staticmethod
    def _cap(y: pd.Series) -> float:
        return float(np.log(y.max())) + 5.0  # ~150x the largest day seen

    def fit(self, y: pd.Series) -> np.ndarray:
        return self.inner.fit(np.log(y))

    def predict(self, params: np.ndarray, y: pd.Series, horizon: int) -> _Prediction:
        cap = self._cap(y)
        return self.inner.predict(params, np.log(y), horizon).map(lambda v: self._exp(v, cap))

    def at_origins(self, params: np.ndarray, y: pd.Series, origins: list[int], horizon: int) -> list[_Prediction]:
        cap = self._cap(y.iloc[: origins[0]])
        return [p.map(lambda v: self._exp(v, cap)) for p in self.inner.at_origins(params, np.log(y), origins, horizon)]

    def forecast(
        self, params: np.ndarray, y: pd.Series, horizon: int, n: int, rng: np.random.Generator
    ) -> tuple[_Prediction, np.ndarray]:
        cap = self._cap(y)
        prediction, paths = self.inner.forecast(params, np.log(y), horizon, n, rng)
        return prediction.map(lambda v: self._exp(v, cap)), self._exp(paths, cap)


class _Combination:
    """Equal-weight average of structurally different members (forecast combinations are hard to beat).

    Interval bounds are the members' bounds averaged (their errors are positively correlated, so this does not
    understate the spread); sample paths are averaged across members drawn from common random numbers.
    """

    def __init__(self, members: list, name: str = "combination"):
        self.members = members
        self.name = name

    def fit(self, y: pd.Series) -> list:
        return [m.fit(y) for m in self.members]

    def predict(self, params: list, y: pd.Series, horizon: int) -> _Prediction:
        return self.combine([m.predict(p, y, horizon) for m, p in zip(self.members, params, strict=True)])

    @staticmethod
    def combine(predictions: list[_Prediction]) -> _Prediction:
        return _Prediction(*(np.mean([getattr(p, f) for p in predictions], axis=0) for f in PREDICTION_FIELDS))

    def forecast(
        self, params: list, y: pd.Series, horizon: int, n: int, rng: np.random.Generator
    ) -> tuple[_Prediction, np.ndarray]:
        seed = int(rng.integers(2**32))
        results = [
            m.forecast(p, y, horizon, n, np.random.default_rng(seed)) for m, p in zip(self.members, params, strict=True)
        ]
        return self.combine([r[0] for r in results]), np.mean([r[1] for r in results], axis=0)


def _candidates(history: pd.Series, settings: ForecastSettings) -> list:
    """Seasonal-naive, ETS, and once there is enough history the trend models and their combination; for a series
    positive on every day, the same models on log cost too, with their own combination.

    Plain ETS(A,N,A) is dropped once the trend models can be fitted: with a few weeks of backtest it wins by luck
    as often as by merit, and it cannot follow a trend.
    """
    naive = _SeasonalNaive()
    trend_models: list = []
    if len(history) >= settings.damped_trend_min_days:
        trend_models.append(_Ets(damped=True))
    if len(history) >= settings.sarimax_min_days:
        trend_models.append(_Sarimax())
    positive = bool((history > 0).all())
    if not trend_models:
        return [naive, _Ets(damped=False), *([_LogScale(_Ets(damped=False))] if positive else [])]
    candidates = [naive, *trend_models, _Combination([naive, *trend_models])]
    if positive:
        logs = [_LogScale(m) for m in trend_models]
        candidates += [*logs, _Combination([naive, *logs], name="log_combination")]
    return candidates


def origin_predictions(model, history: pd.Series, weeks: int) -> tuple[list[_Prediction], np.ndarray]:
    """Fit once before the first origin, then forecast 7 days from each weekly origin with those parameters."""
    first_origin = len(history) - weeks * WEEK
    params = model.fit(history.iloc[:first_origin])
    return model.at_origins(params, history, list(range(first_origin, len(history), WEEK)), WEEK), params


def score(method: str, predictions: list[_Prediction], actual_costs: pd.Series) -> Backtest:
    """Errors and interval hits of origin forecasts against the actual costs of the days they forecast."""
    a = actual_costs.to_numpy()[-WEEK * len(predictions) :]
    joined = {f: np.concatenate([getattr(p, f) for p in predictions]) for f in PREDICTION_FIELDS}
    if not all(np.all(np.isfinite(values)) for values in joined.values()):
        raise FloatingPointError(f"{method} produced non-finite forecasts")
    m = joined["mean"]
    nonzero = np.abs(a) > 1e-9
    return Backtest(
        method=method,
        days=len(a),
        mape=float(np.mean(np.abs(a - m)[nonzero] / np.abs(a[nonzero]))) if nonzero.any() else None,
        coverage_80=float(np.mean((joined["lower_80"] <= a) & (a <= joined["upper_80"]))),
        coverage_95=float(np.mean((joined["lower_95"] <= a) & (a <= joined["upper_95"]))),
    )


def backtest(model, history: pd.Series, actual_costs: pd.Series, weeks: int) -> Backtest:
    """Rolling-origin backtest of one model: it sees `history` (possibly tempered), is scored on `actual_costs`."""
    return score(model.name, origin_predictions(model, history, weeks)[0], actual_costs)


def temper_outliers(y: pd.Series, z: float = 5.0) -> tuple[pd.Series, int]:
    """Replace one-off days (far from the median of the same weekday over the previous four weeks) by that median.

    A one-off spike or credit would otherwise drag the level and the weekly pattern for weeks. Each day is compared
    with earlier days only; the spread that decides what is far is the history's own.
    """
    values = y.to_numpy()
    expected = np.full(len(values), np.nan)
    for i in range(2 * WEEK, len(values)):
        expected[i] = np.median(values[max(0, i - 4 * WEEK) : i][::-1][WEEK - 1 :: WEEK])
    residuals = values - expected
    known = residuals[~np.isnan(residuals)]
    if len(known) < WEEK:
        return y, 0
    scale = 1.4826 * np.median(np.abs(known - np.median(known)))
    outlying = ~np.isnan(residuals) & (np.abs(np.nan_to_num(residuals)) > z * max(scale, 1e-9))
    if scale == 0 or not outlying.any():
        return y, 0
    return pd.Series(np.where(outlying, expected, values), index=y.index), int(outlying.sum())


def month_bounds(as_of: date) -> tuple[date, date]:
    return as_of.replace(day=1), as_of.replace(day=calendar.monthrange(as_of.year, as_of.month)[1])


def prepare_series(daily: pd.Series, as_of: date) -> pd.Series:
    """Daily costs from the series' first day with spend data to `as_of`; days without rows are zero spend."""
    daily = daily[daily.index <= pd.Timestamp(as_of)]
    if daily.empty:
        return daily.astype(float)
    index = pd.date_range(daily.index.min(), pd.Timestamp(as_of), freq="D")
    return daily.groupby(level=0).sum().reindex(index, fill_value=0.0).astype(float)


def forecast_series(
    dimension: str,
    key: str,
    daily: pd.Series,
    as_of: date,
    month_to_date: Decimal,
    settings: ForecastSettings = ForecastSettings(),
) -> SeriesForecast:
    """Forecast one daily series (index: days, values: cost in USD) from `as_of` to 30 days past its month end."""
    y = prepare_series(daily, as_of)
    rest_of_month = (month_bounds(as_of)[1] - as_of).days
    horizon = rest_of_month + settings.extra_days
    days = [as_of + timedelta(days=i + 1) for i in range(horizon)]
    base = {
        "dimension": dimension,
        "key": key,
        "as_of": as_of,
        "history_days": len(y),
        "first_day": y.index[0].date() if len(y) else None,
        "days": days,
        "month_to_date": month_to_date,
    }
    recent = y.iloc[-4 * WEEK :].to_numpy()
    if len(y) < settings.min_history_days:
        level = float(recent[-WEEK:].mean()) if len(y) else 0.0
        note = f"{len(y)} day(s) of history: the recent daily average, no interval until {settings.min_history_days}"
        return _fallback(base, SHORT_HISTORY, note, level, horizon, rest_of_month)
    if np.ptp(recent) == 0:
        note = f"no variation in the last {len(recent)} days: the same daily cost carried forward, no interval"
        return _fallback(base, FLAT_HISTORY, note, float(recent[-1]), horizon, rest_of_month)

    weeks = min(settings.backtest_weeks, (len(y) - settings.min_history_days) // WEEK)
    backtests: dict[str, Backtest] = {}
    fitted: dict[str, np.ndarray] = {}
    notes: list[str] = []
    tempered, outliers = temper_outliers(y, settings.outlier_z)
    if outliers:
        notes.append(f"{outliers} one-off day(s) tempered to their weekday median before fitting")
    models = {m.name: m for m in _candidates(tempered, settings)} if weeks else {}
    benchmark = backtest(_SeasonalNaive(), y, y, weeks) if weeks else None
    predictions: dict[str, list[_Prediction]] = {}
    with warnings.catch_warnings(), threadpool_limits(1):  # small matrices: BLAS threads only contend
        warnings.simplefilter("ignore")
        for name, model in models.items():
            try:
                if isinstance(model, _Combination):  # the members' backtests, averaged: nothing is refitted
                    if not all(m.name in predictions for m in model.members):
                        continue
                    fitted[name] = [fitted[m.name] for m in model.members]
                    predictions[name] = [
                        model.combine(list(origin))
                        for origin in zip(*(predictions[m.name] for m in model.members), strict=True)
                    ]
                else:
                    predictions[name], fitted[name] = origin_predictions(model, tempered, weeks)
                backtests[name] = score(name, predictions[name], y)
            except (ValueError, np.linalg.LinAlgError, FloatingPointError) as error:
                predictions.pop(name, None)
                notes.append(f"{name} failed its backtest ({type(error).__name__})")
        chosen = _choose(backtests)
        model = models.get(chosen) or _SeasonalNaive()
        rng = np.random.default_rng(settings.seed)
        try:
            # The published model is the one scored: the backtest's parameters, states filtered to the last day.
            params = fitted[model.name] if model.name in fitted else model.fit(tempered)
            prediction, paths = model.forecast(params, tempered, horizon, settings.simulations, rng)
        except (ValueError, np.linalg.LinAlgError) as error:
            notes.append(f"{model.name} failed on the full history ({type(error).__name__}); seasonal-naive used")
            model = _SeasonalNaive()
            prediction, paths = model.forecast(model.fit(tempered), tempered, horizon, settings.simulations, rng)
    if not weeks:
        notes.append(f"{len(y)} days of history: too short to backtest, seasonal-naive")
    mean = prediction.mean
    intervals = {name: getattr(prediction, name) for name in PREDICTION_FIELDS if name != "mean"}
    if (y >= 0).all():  # spend without credits cannot go below zero
        mean = np.maximum(mean, 0.0)
        intervals = {name: np.maximum(values, 0.0) for name, values in intervals.items()}
        paths = np.maximum(paths, 0.0)
    return SeriesForecast(
        **base,
        method=model.name,
        note="; ".join(notes),
        mean=mean,
        intervals=intervals,
        month_end=_month_end(month_to_date, mean, paths, rest_of_month),
        backtests=backtests,
        benchmark=benchmark,
    )


def _choose(backtests: dict[str, Backtest]) -> str:
    """The lowest backtest MAPE, provided it beats seasonal-naive (on the same history); seasonal-naive otherwise."""
    floor = backtests.get(SEASONAL_NAIVE)
    scored = [b for b in backtests.values() if b.mape is not None]
    if not scored or floor is None or floor.mape is None:
        return SEASONAL_NAIVE
    best = min(scored, key=lambda b: b.mape)
    return best.method if best.mape < floor.mape else SEASONAL_NAIVE


MONTH_END_QUANTILES = {"lower_95": 0.025, "lower_80": 0.1, "p80": 0.8, "upper_80": 0.9, "upper_95": 0.975}


def _month_end(month_to_date: Decimal, mean: np.ndarray, paths: np.ndarray | None, rest: int) -> dict[str, float]:
    """Month to date plus the rest of the month: the mean, and quantiles of the simulated totals when there are
    paths. Once the month is over its total is known, so every quantile is the month to date."""
    spent = float(month_to_date)
    projection = {"mean": spent + float(mean[:rest].sum())}
    if not rest:
        return projection | dict.fromkeys(MONTH_END_QUANTILES, spent)
    if paths is None:
        return projection
    totals = spent + paths[:, :rest].sum(axis=1)
    quantiles = np.quantile(totals, list(MONTH_END_QUANTILES.values()))
    return projection | {name: float(q) for name, q in zip(MONTH_END_QUANTILES, quantiles, strict=True)}


def _fallback(base: dict, method: str, note: str, level: float, horizon: int, rest: int) -> SeriesForecast:
    mean = np.full(horizon, level)
    month_end = _month_end(base["month_to_date"], mean, None, rest)
    return SeriesForecast(**base, method=method, note=note, mean=mean, intervals=None, month_end=month_end)


def _forecast_one(job: tuple) -> SeriesForecast:
    return forecast_series(*job)


def forecast_many(
    jobs: list[tuple[str, str, pd.Series, date, Decimal]],
    settings: ForecastSettings = ForecastSettings(),
    workers: int | None = None,
) -> list[SeriesForecast]:
    """Forecast many series; with more than a handful, spread them over the machine's cores."""
    workers = workers or os.cpu_count() or 1
    full = [(*job, settings) for job in jobs]
    if workers == 1 or len(jobs) < 8:
        return [_forecast_one(job) for job in full]
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        return list(pool.map(_forecast_one, full, chunksize=max(1, len(full) // (workers * 4))))
