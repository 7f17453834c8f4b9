"""Raw OpenAI and Anthropic response bodies → canonical fields, using genai-prices' usage extractors.

The extractors normalise cache tokens: OpenAI's cached tokens are already inside prompt_tokens, Anthropic's
cache reads and writes are outside input_tokens and get added, so input_tokens is always the total input.

A raw-body log line is either an envelope `{"occurred_at": …, "user_id": …, "response": {body}}` written by
a gateway, or a bare body. Envelope fields win; the body supplies tokens, model, id and (OpenAI) `created`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from genai_prices import data_snapshot

from cost_pipelines.ingest.canonical import FIELDS

ENVELOPE_BODY_KEYS = ("response", "body")
_ENVELOPE_FIELDS = tuple(
    f for f in FIELDS if f not in ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens")
)


class UnreadableBody(ValueError):
    pass


def _split(record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    for key in ENVELOPE_BODY_KEYS:
        if isinstance(record.get(key), dict):
            return record, record[key]
    return {}, record


def _provider_and_flavor(envelope: dict[str, Any], body: dict[str, Any]) -> tuple[str, str]:
    provider = str(envelope.get("provider") or "").strip().lower()
    kind = body.get("object") or body.get("type")
    if kind in ("chat.completion", "chat.completion.chunk"):
        return provider or "openai", "chat"
    if kind == "response":
        return provider or "openai", "responses"
    if kind == "message":
        return provider or "anthropic", "default"
    raise UnreadableBody(f"unrecognised provider body (object/type={kind!r})")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def body_to_fields(line: str) -> dict[str, str | None]:
    """Canonical fields, as text, of one raw-body log line. Raises UnreadableBody with the reason."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise UnreadableBody(f"invalid JSON: {exc.msg}") from exc
    envelope, body = _split(record)
    provider, flavor = _provider_and_flavor(envelope, body)
    # The body's shape, not the hosting provider, decides which extractor reads it. The provider's own
    # extractor is called rather than genai_prices.extract_usage, which also insists on knowing the model:
    # an unknown model must reach pricing (and be reported unpriced), not be rejected here.
    extractor = data_snapshot.get_snapshot().find_provider(None, "anthropic" if flavor == "default" else "openai", None)
    try:
        _, usage = extractor.extract_usage(body, api_flavor=flavor)
    except (ValueError, LookupError, TypeError) as exc:
        raise UnreadableBody(f"no usable usage in {provider} body: {exc}") from exc

    fields: dict[str, str | None] = {f: _text(envelope.get(f)) for f in _ENVELOPE_FIELDS}
    fields["provider"] = provider
    fields["model"] = fields["model"] or _text(body.get("model"))
    fields["request_id"] = fields["request_id"] or _text(body.get("id"))
    if fields["occurred_at"] is None and isinstance(body.get("created"), int | float):
        fields["occurred_at"] = datetime.fromtimestamp(body["created"], UTC).isoformat()
    fields["input_tokens"] = str(usage.reported_value("input_tokens"))
    fields["cache_read_tokens"] = str(usage.reported_value("cache_read_tokens"))
    fields["cache_write_tokens"] = str(usage.reported_value("cache_write_tokens"))
    fields["output_tokens"] = str(usage.reported_value("output_tokens"))
    return fields
