"""Resolve the (provider, model) strings seen in logs to genai-prices models, once per distinct pair.

genai-prices matches model references by rules (prefixes, dated snapshots, aliases), so raw model strings
cannot be joined to price rows by equality.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

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
    publisher: str = ""  # who made the model (Anthropic), apart from the provider that bills (aws-bedrock)

    def with_publisher(self) -> ModelResolution:
        return replace(self, publisher=publisher_of(self.provider, self.price_model_id or self.model))


# Providers that resell other publishers' models, and the model-name prefixes that tell the publisher apart.
_RESELLERS = {"aws-bedrock", "google-vertex", "azure-openai", "openrouter", "together", "fireworks", "groq"}
_PUBLISHER_PREFIXES: tuple[tuple[str, str], ...] = (
    ("claude", "anthropic"), ("gpt-", "openai"), ("o1", "openai"), ("o3", "openai"), ("o4", "openai"),
    ("chatgpt", "openai"), ("text-embedding", "openai"), ("gemini", "google"), ("gemma", "google"),
    ("llama", "meta"), ("mistral", "mistral"), ("mixtral", "mistral"), ("codestral", "mistral"),
    ("deepseek", "deepseek"), ("grok", "x-ai"), ("command", "cohere"), ("qwen", "qwen"), ("nova", "amazon"),
    ("titan", "amazon"),
)  # fmt: skip
_REGION_PREFIXES = ("regional.", "global.", "us-gov.", "us.", "eu.", "apac.", "jp.", "au.", "ca.")


def publisher_of(provider: str, model: str) -> str:
    """The publisher of a model string (preferably the genai-prices model id it resolved to): the provider itself,
    unless the provider resells others' models (Bedrock `[region.]anthropic.claude-…`, OpenRouter `vendor/model`,
    Vertex `claude-…`), when the model says whose it is."""
    if provider not in _RESELLERS:
        return provider
    name = model.lower().rsplit("/", 1)[-1] if model.lower().startswith("arn:") else model.lower()
    if "/" in name:
        return name.split("/", 1)[0]
    for prefix in _REGION_PREFIXES:
        name = name.removeprefix(prefix)
    if provider == "aws-bedrock" and "." in name:
        return name.split(".", 1)[0]  # Bedrock ids name their publisher: anthropic.claude-…, meta.llama3-…
    found = next((publisher for prefix, publisher in _PUBLISHER_PREFIXES if name.startswith(prefix)), None)
    return found or ("openai" if provider == "azure-openai" else provider)


@cache
def _owners() -> dict[int, types.Provider]:
    """The first provider listing each model object (some providers share model objects, or fall back to others)."""
    owners: dict[int, types.Provider] = {}
    for provider in data_snapshot.get_snapshot().providers:
        for model in provider.models:
            owners.setdefault(id(model), provider)
    return owners


# A model string a log writes that names no model by itself (a Bedrock application inference profile ARN, an
# Azure deployment name), keyed by (provider, model as logged): the model it stands for, as its owner lists it.
ModelAliases = Mapping[tuple[str, str], str]
ALIAS_COLUMNS = ("provider", "model", "resolves_as")


class ModelAliasesError(ValueError):
    """The model alias file cannot be used as it is."""


def read_model_aliases(path: Path) -> dict[tuple[str, str], str]:
    """The aliases of a CSV file with the columns `provider,model,resolves_as` (provider ids as ingest writes
    them, e.g. `aws-bedrock`)."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as error:
        raise ModelAliasesError(f"model aliases {path}: cannot be read ({error.strerror})") from None
    aliases: dict[tuple[str, str], str] = {}
    for line, row in enumerate(rows, start=2):
        values = {c: (row.get(c) or "").strip() for c in ALIAS_COLUMNS}
        if not all(values.values()):
            raise ModelAliasesError(f"model aliases {path}, line {line}: needs {', '.join(ALIAS_COLUMNS)}")
        key = (values["provider"].lower(), values["model"])
        if aliases.get(key, values["resolves_as"]) != values["resolves_as"]:
            raise ModelAliasesError(f"model aliases {path}, line {line}: {key[1]} resolves as two models")
        aliases[key] = values["resolves_as"]
    return aliases


def resolution_tag(aliases: ModelAliases) -> str:
    """What a resolution was made with: the genai-prices version and, when there are aliases, their digest, so a
    changed alias file resolves every pair again."""
    if not aliases:
        return genai_prices_version()
    listed = "\n".join(f"{p}\t{m}\t{t}" for (p, m), t in sorted(aliases.items()))
    return f"{genai_prices_version()}+aliases:{hashlib.sha256(listed.encode()).hexdigest()[:12]}"


def resolve_model(provider: str, model: str, aliases: ModelAliases | None = None) -> ModelResolution:
    """The genai-prices model of a (provider, model) pair; an alias resolves as the model it stands for."""
    aliases = aliases or {}
    target = aliases.get((provider, model))
    if target is not None:
        found = resolve_model(provider, target)
        return replace(found, model=model, resolved_with=resolution_tag(aliases)).with_publisher()
    snapshot = data_snapshot.get_snapshot()
    provider_id = PROVIDER_IDS.get(provider, provider)
    try:
        price_provider = snapshot.find_provider(None, provider_id, None)
    except LookupError:
        return ModelResolution(
            provider, model, None, None, None, "unknown_provider", genai_prices_version()
        ).with_publisher()
    found = price_provider.find_model(model.lower(), all_providers=snapshot.providers)
    if found is None:
        return ModelResolution(
            provider, model, price_provider.id, None, None, "unknown_model", genai_prices_version()
        ).with_publisher()
    listed_here = any(m is found for m in price_provider.models)
    owner = price_provider if listed_here else _owners().get(id(found), price_provider)
    return ModelResolution(
        provider, model, owner.id, found.id, found.name, "matched", genai_prices_version()
    ).with_publisher()


def resolve_models(pairs: Iterable[tuple[str, str]], aliases: ModelAliases | None = None) -> list[ModelResolution]:
    tag = resolution_tag(aliases or {})
    return [
        replace(resolution, resolved_with=tag)
        for resolution in (resolve_model(provider, model, aliases) for provider, model in sorted(set(pairs)))
    ]
