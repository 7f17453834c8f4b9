"""genai-prices' conditional and tiered prices flatten into non-overlapping point-in-time rows."""

from datetime import UTC, date, datetime, time
from decimal import Decimal

from genai_prices import data_snapshot, types

from cost_pipelines.pricing.model_resolution import resolve_model
from cost_pipelines.pricing.price_table import export_price_rows, model_price_rows, to_storage_scale


def _provider() -> types.Provider:
    return next(p for p in data_snapshot.get_snapshot().providers if p.id == "openai")


def test_start_dates_tiers_and_time_windows_become_rows() -> None:
    model = types.ModelInfo(
        id="m",
        match=types.ClauseEquals(equals="m"),
        prices=[
            types.ConditionalPrice(prices=types.ModelPrice(input_mtok=Decimal(1), output_mtok=Decimal(2))),
            types.ConditionalPrice(
                constraint=types.StartDateConstraint(start_date=date(2026, 1, 1)),
                prices=types.ModelPrice(
                    input_mtok=types.TieredPrices(base=Decimal(3), tiers=[types.Tier(start=200_000, price=Decimal(6))]),
                    output_mtok=Decimal(4),
                ),
            ),
            types.ConditionalPrice(
                constraint=types.TimeOfDateConstraint(start_time=time(16, 30), end_time=time(0, 30)),
                prices=types.ModelPrice(input_mtok=Decimal("0.5"), output_mtok=Decimal(1)),
            ),
        ],
    )
    rows = list(model_price_rows(_provider(), model))
    keyed = {
        (r.effective_from, r.effective_until, r.time_from, r.time_until, r.min_input_tokens, r.max_input_tokens): (
            r.input_usd_per_mtok,
            r.output_usd_per_mtok,
        )
        for r in rows
    }
    night, day_ = (time(0, 0), time(0, 30)), (time(0, 30), time(16, 30))
    evening = (time(16, 30), None)
    epoch, change = date(1970, 1, 1), date(2026, 1, 1)
    assert keyed[(epoch, change, *day_, 0, None)] == (Decimal(1), Decimal(2))
    assert keyed[(epoch, change, *night, 0, None)] == (Decimal("0.5"), Decimal(1))
    assert keyed[(change, None, *evening, 0, None)] == (Decimal("0.5"), Decimal(1))
    assert keyed[(change, None, *day_, 0, 200_000)] == (Decimal(3), Decimal(4))
    assert keyed[(change, None, *day_, 200_001, None)] == (Decimal(6), Decimal(4))
    # Every row agrees with the library at a probe inside it.
    for r in rows:
        probe = datetime.combine(r.effective_from, r.time_from or time(0), UTC)
        price = model.get_prices(probe).input_mtok
        expected = price if isinstance(price, Decimal) else (price.base if r.min_input_tokens == 0 else Decimal(6))
        assert r.input_usd_per_mtok == expected


def test_exported_rows_never_overlap() -> None:
    rows = export_price_rows()
    by_model: dict[tuple[str, str], list] = {}
    for r in rows:
        by_model.setdefault((r.provider_id, r.model_id, r.service_tier), []).append(r)
    for key, model_rows in by_model.items():
        for i, a in enumerate(model_rows):
            for b in model_rows[i + 1 :]:
                dates = a.effective_from < (b.effective_until or date.max) and b.effective_from < (
                    a.effective_until or date.max
                )
                times = (a.time_from or time.min) < (b.time_until or time.max) and (b.time_from or time.min) < (
                    a.time_until or time.max
                )
                tiers = a.min_input_tokens <= (b.max_input_tokens or 2**62) and b.min_input_tokens <= (
                    a.max_input_tokens or 2**62
                )
                assert not (dates and times and tiers), (key, a, b)


def test_float_noise_is_rounded_to_storage_scale_and_flagged() -> None:
    assert to_storage_scale(Decimal("0.18000000000000002") / 1_000_000) == Decimal("1.80000000000000E-7")
    flagged = [r for r in export_price_rows() if r.rounded()]
    assert all(r.unit_prices()["input_usd_per_token"] is not None for r in flagged)


def test_model_resolution_follows_genai_prices_rules() -> None:
    assert resolve_model("openai", "gpt-4o-2024-08-06").price_model_id == "gpt-4o"
    # Azure lists o3-mini itself and falls back to OpenAI's list for gpt-4o.
    assert resolve_model("azure-openai", "o3-mini").price_provider_id == "azure"
    assert resolve_model("azure-openai", "gpt-4o").price_provider_id == "openai"
    assert resolve_model("openai", "no-such-model").match_status == "unknown_model"
    assert resolve_model("self-hosted", "llama-3.1-70b-instruct").match_status == "unknown_provider"
