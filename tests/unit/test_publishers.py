"""The publisher of a model is kept apart from the provider that bills for it."""

import pytest

from cost_pipelines.pricing.model_resolution import publisher_of, resolve_model


@pytest.mark.parametrize(
    ("provider", "model", "publisher"),
    [
        ("aws-bedrock", "us.anthropic.claude-3-7-sonnet-20250219-v1:0", "anthropic"),
        ("aws-bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic"),
        ("aws-bedrock", "arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.meta.llama3-2-3b-instruct-v1:0",
         "meta"),
        ("aws-bedrock", "amazon.nova-pro-v1:0", "amazon"),
        ("aws-bedrock", "mistral.mistral-large-2402-v1:0", "mistral"),
        ("openrouter", "anthropic/claude-3.5-sonnet", "anthropic"),
        ("openrouter", "meta-llama/llama-3.1-70b-instruct", "meta-llama"),
        ("google-vertex", "claude-3-5-sonnet@20240620", "anthropic"),
        ("google-vertex", "gemini-2.5-pro", "google"),
        ("azure-openai", "gpt-4o", "openai"),
        ("azure-openai", "prod-chat", "openai"),
        ("openai", "gpt-4o", "openai"),
        ("anthropic", "claude-sonnet-4-5", "anthropic"),
        ("self-hosted", "llama-3.1-70b-instruct", "self-hosted"),
    ],
)  # fmt: skip
def test_publisher_of(provider: str, model: str, publisher: str) -> None:
    assert publisher_of(provider, model) == publisher


def test_a_resolution_carries_the_publisher_of_the_model_it_resolved_to() -> None:
    found = resolve_model("aws-bedrock", "us.anthropic.claude-3-5-haiku-20241022-v1:0")
    assert (found.provider, found.price_provider_id, found.publisher) == ("aws-bedrock", "aws", "anthropic")
