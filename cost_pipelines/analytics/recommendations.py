"""What to change to pay less, with the monthly dollars it saves and the evidence behind the figure.

Every saving is computed exactly (Decimal) from the volumes and prices the warehouse holds for the lookback
window, then scaled to a month (365/12 days per month) and rounded to the cent. The assumptions that cannot be
read from billing data (how much of a prompt is cacheable, a commitment's discount, how much stored data is
cold) are settings, and each recommendation carries the values it used in its evidence.

Savings of different recommendations over the same spend overlap (a request moved to a cheaper model and to the
batch API saves less than both figures added): each is measured against today's spend on its own.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

CENT = Decimal("0.01")
DAYS_PER_MONTH = Decimal(365) / Decimal(12)

# Downgrade ladder within one provider (genai-prices model ids): the next cheaper model of the same family.
DEFAULT_MODEL_ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "claude-opus-4-1": ("claude-sonnet-4-5",),
    "claude-opus-4": ("claude-sonnet-4",),
    "claude-sonnet-4-5": ("claude-haiku-4-5",),
    "claude-sonnet-4": ("claude-3-5-haiku-latest",),
    "gpt-4o": ("gpt-4.1-mini", "gpt-4o-mini"),
    "gpt-4.1": ("gpt-4.1-mini",),
    "gpt-4.1-mini": ("gpt-4.1-nano",),
    "gpt-4o-mini": ("gpt-4.1-nano",),
    "o3-mini": ("o4-mini",),
    "gemini-2.5-pro": ("gemini-2.5-flash",),
    "gemini-2.5-flash": ("gemini-2.5-flash-lite",),
}
# Batch APIs bill every token type at a discount in exchange for asynchronous results (within 24 h).
DEFAULT_BATCH_DISCOUNTS: dict[str, Decimal] = {
    "openai": Decimal("0.5"),
    "anthropic": Decimal("0.5"),
    "google": Decimal("0.5"),
}
# AWS service (Cost Explorer name) -> (commitment, discount on the committed spend). Conservative one-year,
# no-upfront figures; check them against the AWS pricing calculator for your instance families.
DEFAULT_COMMITMENTS: dict[str, tuple[str, Decimal]] = {
    "Amazon Elastic Compute Cloud - Compute": ("Compute Savings Plan (1 year, no upfront)", Decimal("0.25")),
    "Amazon Elastic Container Service": ("Compute Savings Plan for Fargate (1 year, no upfront)", Decimal("0.20")),
    "AWS Lambda": ("Compute Savings Plan for Lambda (1 year, no upfront)", Decimal("0.12")),
    "Amazon Relational Database Service": ("RDS Reserved Instances (1 year, no upfront)", Decimal("0.30")),
    "Amazon ElastiCache": ("ElastiCache reserved nodes (1 year, no upfront)", Decimal("0.30")),
    "Amazon OpenSearch Service": ("OpenSearch reserved instances (1 year, no upfront)", Decimal("0.30")),
    "Amazon Redshift": ("Redshift reserved nodes (1 year, no upfront)", Decimal("0.30")),
}
# AWS storage service -> (cheaper tier, its discount against the current tier for data moved there).
DEFAULT_STORAGE_TIERS: dict[str, tuple[str, Decimal]] = {
    "Amazon Simple Storage Service": ("S3 Intelligent-Tiering / Standard-IA lifecycle rule", Decimal("0.40")),
    "Amazon Elastic File System": ("EFS Infrequent Access lifecycle policy", Decimal("0.40")),
}


@dataclass(frozen=True)
class RecommendationSettings:
    lookback_days: int = 28
    min_monthly_savings: Decimal = Decimal("1.00")
    model_alternatives: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: DEFAULT_MODEL_ALTERNATIVES)
    simple_output_tokens: int = 64  # median output at or below this: a switch is easy to validate
    cacheable_share: Decimal = Decimal("0.5")  # of the uncached input of long prompts, a repeated prefix
    cache_write_share: Decimal = Decimal("0.1")  # of those cacheable tokens, written (missed) rather than read
    min_cacheable_input_tokens: int = 1024  # the providers' minimum prompt length for caching
    max_cache_read_share: Decimal = Decimal("0.10")  # caching already works above this share of input read
    batch_task_types: tuple[str, ...] = ("summarization", "extraction")
    batch_discounts: Mapping[str, Decimal] = field(default_factory=lambda: DEFAULT_BATCH_DISCOUNTS)
    commitments: Mapping[str, tuple[str, Decimal]] = field(default_factory=lambda: DEFAULT_COMMITMENTS)
    max_commitment_variation: float = 0.3  # coefficient of variation of daily spend: steady enough to commit
    commitment_quantile: float = 0.1  # commit to the spend of the 10th-percentile day: always used
    min_commitment_days: int = 14
    storage_tiers: Mapping[str, tuple[str, Decimal]] = field(default_factory=lambda: DEFAULT_STORAGE_TIERS)
    cold_storage_share: Decimal = Decimal("0.3")  # of stored data, not read for 30 days
    min_storage_growth: Decimal = Decimal("0.05")  # lookback average vs the lookback before it
    new_spend_days: int = 7


@dataclass(frozen=True)
class Recommendation:
    kind: str
    title: str
    effort: str  # easy | medium | hard
    monthly_savings_usd: Decimal  # rounded to the cent
    window_savings_usd: Decimal  # exact, over the observed days of the lookback window
    window_cost_usd: Decimal  # today's spend the saving is taken from, same window
    observed_days: int
    scope: dict[str, str]
    evidence: dict[str, object]


def monthly(amount: Decimal, days: int) -> Decimal:
    """An amount spent over `days` as a month of 365/12 days, to the cent (banker's rounding)."""
    with localcontext() as ctx:
        ctx.prec = 60
        return (amount * Decimal(365) / (Decimal(12) * days)).quantize(CENT, rounding=ROUND_HALF_EVEN)


# --- LLM: inputs aggregated by the warehouse (token sums per distinct set of unit prices) -------------------


@dataclass(frozen=True)
class Rates:
    """USD per token (cache rates already fall back to the input rate) and per request."""

    input: Decimal
    cache_read: Decimal
    cache_write: Decimal
    output: Decimal
    request: Decimal = Decimal(0)


@dataclass(frozen=True)
class TokenVolume:
    requests: int
    uncached_input: int
    cache_read: int
    cache_write: int
    output: int

    def cost(self, rates: Rates) -> Decimal:
        return (
            self.uncached_input * rates.input
            + self.cache_read * rates.cache_read
            + self.cache_write * rates.cache_write
            + self.output * rates.output
            + self.requests * rates.request
        )


@dataclass(frozen=True)
class Workload:
    """Priced requests of one task type on one model in the window."""

    task_type: str
    provider: str
    model: str
    price_model_id: str | None
    requests: int
    input_tokens: int
    cache_read_tokens: int
    output_tokens: int
    median_output_tokens: float
    cost: Decimal  # exact, as priced by the warehouse
    first_day: date
    last_day: date


@dataclass(frozen=True)
class Repricing:
    """Requests of a workload priced at an alternative model: `alternative` is None where it has no price."""

    task_type: str
    provider: str
    model: str
    alternative_model_id: str
    volume: TokenVolume
    current_cost: Decimal
    alternative: Rates | None


@dataclass(frozen=True)
class LongPrompts:
    """Requests of a workload with at least `min_cacheable_input_tokens` input, per set of current rates."""

    task_type: str
    provider: str
    model: str
    volume: TokenVolume
    input_tokens: int
    rates: Rates


def _key(w: Workload | Repricing | LongPrompts) -> tuple[str, str, str]:
    return (w.task_type, w.provider, w.model)


def _money(value: Decimal) -> str:
    return f"{value.normalize():f}"


def model_switches(
    workloads: Iterable[Workload], repricings: Iterable[Repricing], days: int, s: RecommendationSettings
) -> list[Recommendation]:
    """Per task type and model, the cheapest configured alternative at its point-in-time prices, applied to the
    same token counts (the assumption: the cheaper model needs as many tokens for the task)."""
    by_alternative: dict[tuple[str, str, str, str], list[Repricing]] = {}
    for r in repricings:
        by_alternative.setdefault((*_key(r), r.alternative_model_id), []).append(r)
    workload = {_key(w): w for w in workloads}
    best: dict[tuple[str, str, str], tuple[Decimal, Decimal, str, list[Repricing]]] = {}
    for (*key, alternative), parts in by_alternative.items():
        if any(p.alternative is None for p in parts):
            continue  # the alternative had no price for some of these requests: no honest figure
        current = sum((p.current_cost for p in parts), Decimal(0))
        cheaper = sum((p.volume.cost(p.alternative) for p in parts), Decimal(0))
        if tuple(key) in best and best[tuple(key)][0] - best[tuple(key)][1] >= current - cheaper:
            continue
        best[tuple(key)] = (current, cheaper, alternative, parts)
    found = []
    for key, (current, cheaper, alternative, parts) in best.items():
        w = workload[key]
        saved = current - cheaper
        if saved <= 0 or monthly(saved, days) < s.min_monthly_savings:
            continue
        simple = w.median_output_tokens <= s.simple_output_tokens
        found.append(Recommendation(
            kind="model_switch",
            title=f"Route {w.task_type} from {w.model} to {alternative}",
            effort="easy" if simple else "medium",
            monthly_savings_usd=monthly(saved, days), window_savings_usd=saved, window_cost_usd=current,
            observed_days=days,
            scope={"provider": w.provider, "model": w.model, "task_type": w.task_type},
            evidence={
                "alternative_model": alternative,
                "requests": w.requests, "input_tokens": w.input_tokens, "output_tokens": w.output_tokens,
                "median_output_tokens": w.median_output_tokens,
                "current_cost_usd": _money(current), "alternative_cost_usd": _money(cheaper),
                "alternative_prices_usd_per_mtok": sorted({_per_mtok(p.alternative) for p in parts}),
                "first_day": w.first_day.isoformat(), "last_day": w.last_day.isoformat(),
                "assumption": "the alternative uses the same tokens; check its quality on a sample of the task",
            },
        ))  # fmt: skip
    return found


def _per_mtok(rates: Rates | None) -> str:
    if rates is None:
        return "none"
    m = Decimal(1_000_000)
    parts = (rates.input * m, rates.cache_read * m, rates.cache_write * m, rates.output * m)
    return "input {} / cache read {} / cache write {} / output {}".format(*(_money(p) for p in parts))


def prompt_caching(
    workloads: Iterable[Workload], long_prompts: Iterable[LongPrompts], days: int, s: RecommendationSettings
) -> list[Recommendation]:
    """Long prompts that are rarely read from cache: if `cacheable_share` of their uncached input were a repeated
    prefix, (1 - cache_write_share) of it would be read at the cache-read rate and the rest written once."""
    grouped: dict[tuple[str, str, str], list[LongPrompts]] = {}
    for p in long_prompts:
        grouped.setdefault(_key(p), []).append(p)
    workload = {_key(w): w for w in workloads}
    found = []
    for key, parts in grouped.items():
        input_tokens = sum(p.input_tokens for p in parts)
        read = sum(p.volume.cache_read for p in parts)
        if not input_tokens or Decimal(read) / input_tokens >= s.max_cache_read_share:
            continue
        saved = Decimal(0)
        for p in parts:
            cacheable = p.volume.uncached_input * s.cacheable_share
            r = p.rates
            saved += cacheable * (
                (1 - s.cache_write_share) * (r.input - r.cache_read) - s.cache_write_share * (r.cache_write - r.input)
            )
        if saved <= 0 or monthly(saved, days) < s.min_monthly_savings:
            continue
        w = workload[key]
        current = sum((p.volume.cost(p.rates) for p in parts), Decimal(0))
        automatic = w.provider == "openai"  # OpenAI caches identical prefixes itself; prompts need reordering
        found.append(Recommendation(
            kind="prompt_caching",
            title=f"Cache the repeated prefix of {w.task_type} prompts on {w.model}",
            effort="medium" if automatic else "easy",
            monthly_savings_usd=monthly(saved, days), window_savings_usd=saved, window_cost_usd=current,
            observed_days=days,
            scope={"provider": w.provider, "model": w.model, "task_type": w.task_type},
            evidence={
                "long_prompt_requests": sum(p.volume.requests for p in parts),
                "long_prompt_input_tokens": input_tokens,
                "cache_read_tokens": read,
                "cache_read_share": f"{Decimal(read) / input_tokens:.4f}",
                "min_prompt_tokens": s.min_cacheable_input_tokens,
                "assumed_cacheable_share": str(s.cacheable_share),
                "assumed_cache_write_share": str(s.cache_write_share),
                "prices_usd_per_mtok": sorted({_per_mtok(p.rates) for p in parts}),
                "first_day": w.first_day.isoformat(), "last_day": w.last_day.isoformat(),
            },
        ))  # fmt: skip
    return found


def batch_api(workloads: Iterable[Workload], days: int, s: RecommendationSettings) -> list[Recommendation]:
    """Task types configured as non-interactive, on providers with a batch API: the batch discount of their cost."""
    found = []
    for w in workloads:
        discount = s.batch_discounts.get(w.provider)
        if w.task_type not in s.batch_task_types or discount is None:
            continue
        saved = w.cost * discount
        if saved <= 0 or monthly(saved, days) < s.min_monthly_savings:
            continue
        found.append(Recommendation(
            kind="batch_api",
            title=f"Send {w.task_type} on {w.model} through the {w.provider} batch API",
            effort="medium",
            monthly_savings_usd=monthly(saved, days), window_savings_usd=saved, window_cost_usd=w.cost,
            observed_days=days,
            scope={"provider": w.provider, "model": w.model, "task_type": w.task_type},
            evidence={
                "requests": w.requests, "cost_usd": _money(w.cost), "batch_discount": str(discount),
                "first_day": w.first_day.isoformat(), "last_day": w.last_day.isoformat(),
                "assumption": f"{w.task_type} is not interactive (configured); results may take up to 24 h",
            },
        ))  # fmt: skip
    return found


# --- AWS: daily spend per service ----------------------------------------------------------------------------


def _nearest_rank(values: list[Decimal], quantile: float) -> Decimal:
    ordered = sorted(values)
    rank = max(1, -(-int(quantile * 1000) * len(ordered) // 1000))  # ceil(q * n) without float error
    return ordered[rank - 1]


def _variation(values: list[Decimal]) -> float:
    floats = [float(v) for v in values]
    mean = sum(floats) / len(floats)
    if mean <= 0:
        return float("inf")
    return (sum((v - mean) ** 2 for v in floats) / len(floats)) ** 0.5 / mean


def commitments(daily: Mapping[str, list[Decimal]], s: RecommendationSettings) -> list[Recommendation]:
    """Steady AWS spend on services with Savings Plans or reservations: commit to the spend of a low day (the
    `commitment_quantile` of the lookback), which is used every day, and save the discount on it.

    `daily`: service -> effective cost of each day of the lookback window (every day present, oldest first)."""
    found = []
    for service, costs in daily.items():
        if service not in s.commitments or len(costs) < s.min_commitment_days or min(costs) <= 0:
            continue
        variation = _variation(costs)
        if variation > s.max_commitment_variation:
            continue
        instrument, discount = s.commitments[service]
        per_day = _nearest_rank(costs, s.commitment_quantile)
        saved = per_day * discount * len(costs)
        if monthly(saved, len(costs)) < s.min_monthly_savings:
            continue
        current = sum(costs, Decimal(0))
        found.append(Recommendation(
            kind="commitment",
            title=f"Commit to steady {service} spend: {instrument}",
            effort="easy",
            monthly_savings_usd=monthly(saved, len(costs)), window_savings_usd=saved, window_cost_usd=current,
            observed_days=len(costs),
            scope={"provider": "AWS", "service": service},
            evidence={
                "instrument": instrument, "assumed_discount": str(discount),
                "commitment_usd_per_day": _money(per_day),
                "commitment_usd_per_hour": _money(per_day / 24),
                "commitment_quantile": s.commitment_quantile,
                "daily_cost_min_usd": _money(min(costs)), "daily_cost_max_usd": _money(max(costs)),
                "coefficient_of_variation": round(variation, 4),
                "window_cost_usd": _money(current),
            },
        ))  # fmt: skip
    return found


def storage_tiering(
    daily: Mapping[str, list[Decimal]], previous: Mapping[str, list[Decimal]], s: RecommendationSettings
) -> list[Recommendation]:
    """Growing storage spend: move the data nobody reads (`cold_storage_share`) to a cheaper tier.

    `daily`/`previous`: service -> daily effective cost of the lookback window / of the same number of days
    before it."""
    found = []
    for service, costs in daily.items():
        before = previous.get(service, [])
        if service not in s.storage_tiers or not costs or len(before) < len(costs):
            continue
        now, then = sum(costs, Decimal(0)), sum(before, Decimal(0))
        if then <= 0 or (now - then) / then < s.min_storage_growth:
            continue
        tier, discount = s.storage_tiers[service]
        saved = now * s.cold_storage_share * discount
        if monthly(saved, len(costs)) < s.min_monthly_savings:
            continue
        found.append(Recommendation(
            kind="storage_tiering",
            title=f"{service} spend grows {float((now - then) / then):.0%}: tier cold data ({tier})",
            effort="easy",
            monthly_savings_usd=monthly(saved, len(costs)), window_savings_usd=saved, window_cost_usd=now,
            observed_days=len(costs),
            scope={"provider": "AWS", "service": service},
            evidence={
                "tier": tier, "assumed_discount": str(discount),
                "assumed_cold_share": str(s.cold_storage_share),
                "window_cost_usd": _money(now), "previous_window_cost_usd": _money(then),
                "growth": f"{(now - then) / then:.4f}",
            },
        ))  # fmt: skip
    return found


@dataclass(frozen=True)
class NewSpend:
    dimension: str  # "service" (AWS) or "model" (LLM)
    key: str
    provider: str
    first_day: date
    cost: Decimal  # since first_day, up to the as-of day
    days: int


def new_spend(items: Iterable[NewSpend], s: RecommendationSettings) -> list[Recommendation]:
    """Spend that started within `new_spend_days`: confirm it is wanted; stopping it saves its run rate."""
    found = []
    for n in items:
        if n.cost <= 0 or monthly(n.cost, n.days) < s.min_monthly_savings:
            continue
        found.append(Recommendation(
            kind="new_spend",
            title=f"Confirm the new {n.dimension} {n.key} ({n.provider}), spending since {n.first_day}",
            effort="easy",
            monthly_savings_usd=monthly(n.cost, n.days), window_savings_usd=n.cost, window_cost_usd=n.cost,
            observed_days=n.days,
            scope={"provider": n.provider, n.dimension: n.key},
            evidence={
                "first_day": n.first_day.isoformat(), "cost_since_first_day_usd": _money(n.cost),
                "assumption": "the saving is the run rate if this spend is not intended",
            },
        ))  # fmt: skip
    return found


def ranked(recommendations: Iterable[Recommendation]) -> list[Recommendation]:
    return sorted(recommendations, key=lambda r: (-r.monthly_savings_usd, r.kind, r.title))
