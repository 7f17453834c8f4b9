"""Recommendation rules on small hand-made inputs whose savings are worked out here by hand."""

from datetime import date
from decimal import Decimal

from cost_pipelines.analytics.recommendations import (
    LongPrompts,
    NewSpend,
    Rates,
    RecommendationSettings,
    Repricing,
    TokenVolume,
    Workload,
    batch_api,
    commitments,
    model_switches,
    monthly,
    new_spend,
    prompt_caching,
    ranked,
    storage_tiering,
)

S = RecommendationSettings()
M = Decimal("0.000001")  # $1 per million tokens, per token
DAY = date(2026, 10, 31)


def workload(
    task: str = "chat", model: str = "big", cost: str = "100", median_output: float = 200, provider: str = "openai"
) -> Workload:
    return Workload(task, provider, model, model, 1000, 2_000_000, 0, 500_000, median_output, Decimal(cost), DAY, DAY)


def test_a_month_is_365_over_12_days_to_the_cent() -> None:
    assert monthly(Decimal("28"), 28) == Decimal("30.42")  # 30.41666…
    assert monthly(Decimal("1"), 1) == Decimal("30.42")
    assert monthly(Decimal("0.0164383561643835616"), 1) == Decimal("0.50")  # exactly half a cent rounds to even


def test_model_switch_picks_the_cheapest_alternative_and_reprices_every_token_type() -> None:
    volume = TokenVolume(requests=1000, uncached_input=1_000_000, cache_read=200_000, cache_write=0, output=500_000)
    cheap = Rates(input=M * 2, cache_read=M / 2, cache_write=M * 2, output=M * 8)
    cheaper = Rates(input=M, cache_read=M / 4, cache_write=M, output=M * 4)
    repricings = [
        Repricing("chat", "openai", "big", "mid", volume, Decimal("100"), cheap),
        Repricing("chat", "openai", "big", "small", volume, Decimal("100"), cheaper),
    ]
    [rec] = model_switches([workload()], repricings, 28, S)
    # small: 1.0 + 0.05 + 0 + 2.0 = $3.05 instead of $100
    assert rec.evidence["alternative_model"] == "small"
    assert rec.window_savings_usd == Decimal("96.95")
    assert rec.monthly_savings_usd == monthly(Decimal("96.95"), 28) == Decimal("105.32")  # 96.95 * 365 / 336
    assert rec.effort == "medium"  # median output 200 tokens: not a simple task


def test_an_alternative_without_a_price_for_some_requests_is_not_offered() -> None:
    volume = TokenVolume(10, 1000, 0, 0, 100)
    repricings = [
        Repricing("chat", "openai", "big", "small", volume, Decimal("50"), Rates(M, M, M, M)),
        Repricing("chat", "openai", "big", "small", volume, Decimal("50"), None),
    ]
    assert model_switches([workload()], repricings, 28, S) == []


def test_short_outputs_make_a_switch_easy_and_small_savings_are_dropped() -> None:
    volume = TokenVolume(10, 1000, 0, 0, 100)
    repricing = Repricing("classification", "openai", "big", "small", volume, Decimal("5"), Rates(M, M, M, M))
    [rec] = model_switches([workload("classification", median_output=3)], [repricing], 28, S)
    assert rec.effort == "easy"
    tiny = Repricing("classification", "openai", "big", "small", volume, Decimal("0.5"), Rates(M, M, M, M))
    assert model_switches([workload("classification")], [tiny], 28, S) == []  # $0.54 a month < $1


def test_prompt_caching_counts_the_write_premium_and_skips_prompts_already_cached() -> None:
    rates = Rates(input=M * 3, cache_read=M * Decimal("0.3"), cache_write=M * Decimal("3.75"), output=M * 15)
    volume = TokenVolume(requests=100, uncached_input=10_000_000, cache_read=0, cache_write=0, output=10_000)
    prompts = LongPrompts("rag", "anthropic", "big", volume, 10_000_000, rates)
    [rec] = prompt_caching([workload("rag", provider="anthropic")], [prompts], 28, S)
    # 5M cacheable: 4.5M read saves 2.70 each million, 0.5M written costs 0.75 more each million
    assert rec.window_savings_usd == Decimal("4.5") * Decimal("2.7") - Decimal("0.5") * Decimal("0.75")
    assert rec.effort == "easy"
    cached = LongPrompts("rag", "anthropic", "big", TokenVolume(100, 8_000_000, 2_000_000, 0, 10_000), 10_000_000,
                         rates)  # fmt: skip
    assert (
        prompt_caching([workload("rag", provider="anthropic")], [cached], 28, S) == []
    )  # 20 % already read from cache


def test_batch_only_for_configured_task_types_and_providers_with_a_batch_api() -> None:
    recs = batch_api([workload("summarization", cost="40"), workload("chat", cost="400")], 28, S)
    assert [(r.scope["task_type"], r.window_savings_usd) for r in recs] == [("summarization", Decimal("20.0"))]
    other = Workload("summarization", "self-hosted", "llama", None, 1, 1, 0, 1, 1, Decimal("40"), DAY, DAY)
    assert batch_api([other], 28, S) == []


def test_commitment_covers_the_tenth_percentile_day_of_steady_spend() -> None:
    steady = [Decimal(10 + i % 4) for i in range(28)]  # 10, 11, 12, 13, …
    spiky = [Decimal(1)] * 27 + [Decimal(100)]
    recs = commitments({"Amazon Relational Database Service": steady, "AWS Lambda": spiky}, S)
    [rec] = recs
    # ceil(0.1 * 28) = 3rd lowest day = 10; 30 % off 10 a day
    assert rec.evidence["commitment_usd_per_day"] == "10"
    assert rec.window_savings_usd == Decimal(10) * Decimal("0.30") * 28
    assert rec.monthly_savings_usd == Decimal("91.25")
    assert commitments({"Amazon Relational Database Service": steady[:10]}, S) == []  # too few days
    assert commitments({"Some Service": steady}, S) == []  # nothing to commit to


def test_storage_tiering_only_when_storage_grows() -> None:
    now, before = [Decimal(11)] * 28, [Decimal(10)] * 28
    [rec] = storage_tiering({"Amazon Simple Storage Service": now}, {"Amazon Simple Storage Service": before}, S)
    assert rec.window_savings_usd == Decimal(308) * Decimal("0.3") * Decimal("0.40")
    assert storage_tiering({"Amazon Simple Storage Service": before}, {"Amazon Simple Storage Service": now}, S) == []
    assert storage_tiering({"Amazon Simple Storage Service": now}, {}, S) == []  # no earlier window to compare


def test_new_spend_is_its_run_rate_and_ranking_is_by_savings() -> None:
    found = new_spend([NewSpend("service", "Amazon SageMaker", "AWS", date(2026, 10, 29), Decimal("9"), 3)], S)
    assert found[0].monthly_savings_usd == Decimal("91.25")
    both = ranked([*found, *batch_api([workload("summarization", cost="400")], 28, S)])
    assert [r.kind for r in both] == ["batch_api", "new_spend"]
