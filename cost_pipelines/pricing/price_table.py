"""Flatten genai-prices' model prices into point-in-time rows a SQL join can use.

genai-prices stores prices as conditional prices (a start date or a time-of-day window; the last active one
wins) and tiered prices (a cliff: once the request's total input tokens exceed a tier's start, that tier's
rate applies to every token). Rather than re-implementing the precedence rules, each model's timeline is cut
at every constraint boundary and the library itself is asked which price holds inside each piece.

Service tiers (batch, flex, priority) are genai-prices price variants: every model gets rows for every tier the
canonical record knows (`SERVICE_TIERS`), each the price genai-prices gives a request of that tier, which is the
standard price where the model has no variant for it. A request's tier then finds its row by equality.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_EVEN, Decimal

import genai_prices
from genai_prices import data_snapshot, types

from cost_pipelines.ingest.canonical import SERVICE_TIERS

# Token price keys the canonical request record can use; anything else a model prices is listed, not applied.
TOKEN_PRICE_KEYS = (
    "input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok", "cache_write_1h_mtok", "input_audio_mtok",
    "output_audio_mtok",
)  # fmt: skip
REQUEST_PRICE_KEY = "requests_kcount"
EPOCH = date(1970, 1, 1)
# Per-token prices are stored as DECIMAL(38, 18). A few upstream prices carry float noise
# (0.18000000000000002 per MTok); they are rounded to 18 decimals per token (< $1e-11 on a 10M-token request)
# and the row says so.
PRICE_SCALE = 18
_QUANTUM = Decimal(1).scaleb(-PRICE_SCALE)


@dataclass(frozen=True)
class PriceRow:
    provider_id: str
    model_id: str
    model_name: str | None
    effective_from: date
    effective_until: date | None  # exclusive; None = still in force
    time_from: time | None  # UTC time-of-day window, None = whole day
    time_until: time | None  # exclusive; None = end of day
    min_input_tokens: int  # inclusive bounds of the request's total input tokens for this tier
    max_input_tokens: int | None
    input_usd_per_mtok: Decimal | None
    output_usd_per_mtok: Decimal | None
    cache_read_usd_per_mtok: Decimal | None
    cache_write_usd_per_mtok: Decimal | None
    request_usd_per_k: Decimal | None
    other_price_keys: str | None
    deprecated: bool
    service_tier: str = "standard"
    cache_write_1h_usd_per_mtok: Decimal | None = None  # None: 1-hour writes cost what cache writes cost
    input_audio_usd_per_mtok: Decimal | None = None  # None: audio input costs what input costs
    output_audio_usd_per_mtok: Decimal | None = None  # None: audio output costs what output costs

    def _per_mtok(self) -> dict[str, Decimal | None]:
        return {
            "input_usd_per_token": self.input_usd_per_mtok,
            "output_usd_per_token": self.output_usd_per_mtok,
            "cache_read_usd_per_token": self.cache_read_usd_per_mtok,
            "cache_write_usd_per_token": self.cache_write_usd_per_mtok,
            "cache_write_1h_usd_per_token": self.cache_write_1h_usd_per_mtok,
            "input_audio_usd_per_token": self.input_audio_usd_per_mtok,
            "output_audio_usd_per_token": self.output_audio_usd_per_mtok,
        }

    def unit_prices(self) -> dict[str, Decimal | None]:
        """USD per single token (and per request), at storage scale."""
        prices = {k: None if v is None else to_storage_scale(v / 1_000_000) for k, v in self._per_mtok().items()}
        k = self.request_usd_per_k
        prices["request_usd"] = None if k is None else to_storage_scale(k / 1000)
        return prices

    def rounded(self) -> bool:
        stored = self.unit_prices()
        return any(v is not None and stored[k] != v / 1_000_000 for k, v in self._per_mtok().items())


def to_storage_scale(value: Decimal) -> Decimal:
    return value.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)


def genai_prices_version() -> str:
    return genai_prices.__version__


def _conditional_prices(model: types.ModelInfo) -> list[types.ConditionalPrice]:
    if isinstance(model.prices, types.ModelPrice):
        return [types.ConditionalPrice(prices=model.prices)]
    return list(model.prices)


def _constrained(model: types.ModelInfo) -> list[types.ConditionalPrice | types.PriceVariant]:
    """Everything of a model's prices that holds from a date or in a time of day: its prices and their variants."""
    return [*_conditional_prices(model), *(model.price_variants or ())]


def _date_breakpoints(conditions: Iterable[types.ConditionalPrice | types.PriceVariant]) -> list[date]:
    starts = {c.constraint.start_date for c in conditions if isinstance(c.constraint, types.StartDateConstraint)}
    return sorted({EPOCH, *starts})


def _time_breakpoints(conditions: Iterable[types.ConditionalPrice | types.PriceVariant]) -> list[time]:
    points = {time(0, 0)}
    for c in conditions:
        if isinstance(c.constraint, types.TimeOfDateConstraint):
            for t in (c.constraint.start_time, c.constraint.end_time):
                utc = t if t.tzinfo is None else datetime.combine(EPOCH, t).astimezone(UTC).time()
                points.add(utc.replace(tzinfo=None))
    return sorted(points)


def _price_at(price: Decimal | types.TieredPrices | None, min_input_tokens: int) -> Decimal | None:
    if price is None or isinstance(price, Decimal):
        return price
    applicable = price.base
    for tier in reversed(price.tiers):
        if min_input_tokens > tier.start:
            applicable = tier.price
            break
    return applicable


def _input_bands(model_price: types.ModelPrice) -> list[tuple[int, int | None]]:
    starts = sorted(
        {
            tier.start
            for key in (*TOKEN_PRICE_KEYS, REQUEST_PRICE_KEY)
            if isinstance(price := getattr(model_price, key, None), types.TieredPrices)
            for tier in price.tiers
        }
    )
    bounds = [-1, *starts]
    return [(low + 1, bounds[i + 1] if i + 1 < len(bounds) else None) for i, low in enumerate(bounds)]


def _other_price_keys(model_price: types.ModelPrice) -> str | None:
    keys = sorted(
        key
        for key, value in model_price.__dict__.items()
        if value is not None and not key.startswith("_") and key not in (*TOKEN_PRICE_KEYS, REQUEST_PRICE_KEY)
    )
    return ",".join(keys) or None


def model_price_rows(provider: types.Provider, model: types.ModelInfo) -> Iterator[PriceRow]:
    conditions = _constrained(model)
    dates = _date_breakpoints(conditions)
    times = _time_breakpoints(conditions)
    whole_day = len(times) == 1
    for i, start in enumerate(dates):
        until = dates[i + 1] if i + 1 < len(dates) else None
        for j, time_from in enumerate(times):
            time_until = times[j + 1] if j + 1 < len(times) else None
            probe = datetime.combine(start, time_from, tzinfo=UTC)
            for tier, context in SERVICE_TIERS.items():
                yield from _rows_at(
                    provider,
                    model,
                    model.get_prices(probe, dict(context) or None),
                    tier,
                    start,
                    until,
                    None if whole_day else time_from,
                    None if whole_day else time_until,
                )


def _rows_at(
    provider: types.Provider,
    model: types.ModelInfo,
    model_price: types.ModelPrice,
    tier: str,
    start: date,
    until: date | None,
    time_from: time | None,
    time_until: time | None,
) -> Iterator[PriceRow]:
    for low, high in _input_bands(model_price):
        yield PriceRow(
            provider_id=provider.id,
            model_id=model.id,
            model_name=model.name,
            effective_from=start,
            effective_until=until,
            time_from=time_from,
            time_until=time_until,
            min_input_tokens=low,
            max_input_tokens=high,
            input_usd_per_mtok=_price_at(model_price.input_mtok, low),
            output_usd_per_mtok=_price_at(model_price.output_mtok, low),
            cache_read_usd_per_mtok=_price_at(model_price.cache_read_mtok, low),
            cache_write_usd_per_mtok=_price_at(model_price.cache_write_mtok, low),
            request_usd_per_k=_price_at(model_price.requests_kcount, low),
            other_price_keys=_other_price_keys(model_price),
            deprecated=bool(model.deprecated),
            service_tier=tier,
            cache_write_1h_usd_per_mtok=_price_at(getattr(model_price, "cache_write_1h_mtok", None), low),
            input_audio_usd_per_mtok=_price_at(model_price.input_audio_mtok, low),
            output_audio_usd_per_mtok=_price_at(model_price.output_audio_mtok, low),
        )


def _merge_unchanged(rows: list[PriceRow]) -> list[PriceRow]:
    """Join consecutive date intervals whose prices did not change (a start date may only touch a variant)."""
    merged: list[PriceRow] = []
    for row in rows:
        prev = next(
            (
                m
                for m in reversed(merged)
                if m.effective_until == row.effective_from
                and (m.service_tier, m.time_from, m.time_until, m.min_input_tokens)
                == (row.service_tier, row.time_from, row.time_until, row.min_input_tokens)
            ),
            None,
        )
        if prev is not None and _same_prices(prev, row):
            merged[merged.index(prev)] = _with_until(prev, row.effective_until)
        else:
            merged.append(row)
    return merged


def _same_prices(a: PriceRow, b: PriceRow) -> bool:
    fields = (
        "max_input_tokens",
        "input_usd_per_mtok",
        "output_usd_per_mtok",
        "cache_read_usd_per_mtok",
        "cache_write_usd_per_mtok",
        "cache_write_1h_usd_per_mtok",
        "input_audio_usd_per_mtok",
        "output_audio_usd_per_mtok",
        "request_usd_per_k",
        "other_price_keys",
    )
    return all(getattr(a, f) == getattr(b, f) for f in fields)


def _with_until(row: PriceRow, until: date | None) -> PriceRow:
    return PriceRow(**{**row.__dict__, "effective_until": until})


def export_price_rows() -> list[PriceRow]:
    """Every model of every provider genai-prices knows, as point-in-time price rows."""
    rows: list[PriceRow] = []
    for provider in data_snapshot.get_snapshot().providers:
        for model in provider.models:
            rows.extend(_merge_unchanged(list(model_price_rows(provider, model))))
    return rows
