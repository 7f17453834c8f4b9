"""Resolve the (provider, model) strings seen in logs to genai-prices models, once per distinct pair.

genai-prices matches model references by rules (prefixes, dated snapshots, aliases), so raw model strings
cannot be joined to price rows by equality.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from genai_prices import data_snapshot, types

from cost_pipelines.pricing.price_table import genai_prices_version

# Canonical provider names used in this project → genai-prices provider ids where they differ.
PROVIDER_IDS = {
    "aws-bedrock": "aws",
    "bedrock": "aws",
    "azure-openai": "azure",
    "google-vertex": "google",
    "vertex": "google",
    "gemini": "google",
    "xai": "x-ai",
}


@dataclass(frozen=True)
class ModelResolution:
    provider: str
    model: str
    price_provider_id: str | None
    price_model_id: str | None
    price_model_name: str | None
    match_status: str  # matched | unknown_provider | unknown_model
    resolved_with: str


@cache
def _owners() -> dict[int, types.Provider]:
    """The first provider listing each model object (some providers share model objects, or fall back to others)."""
    owners: dict[int, types.Provider] = {}
    for provider in data_snapshot.get_snapshot().providers:
        for model in provider.models:
            owners.setdefault(id(model), provider)
    return owners


def resolve_model(provider: str, model: str) -> ModelResolution:
    snapshot = data_snapshot.get_snapshot()
    provider_id = PROVIDER_IDS.get(provider, provider)
    try:
        price_provider = snapshot.find_provider(None, provider_id, None)
    except LookupError:
        return ModelResolution(provider, model, None, None, None, "unknown_provider", genai_prices_version())
    found = price_provider.find_model(model.lower(), all_providers=snapshot.providers)
    if found is None:
        return ModelResolution(provider, model, price_provider.id, None, None, "unknown_model", genai_prices_version())
    listed_here = any(m is found for m in price_provider.models)
    owner = price_provider if listed_here else _owners().get(id(found), price_provider)
    return ModelResolution(provider, model, owner.id, found.id, found.name, "matched", genai_prices_version())


def resolve_models(pairs: Iterable[tuple[str, str]]) -> list[ModelResolution]:
    return [resolve_model(provider, model) for provider, model in sorted(set(pairs))]
