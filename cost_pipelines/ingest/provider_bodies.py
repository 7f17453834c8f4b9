"""Raw provider response bodies → canonical fields in Python, with genai-prices' usage extractors: the reader
for bodies the SQL path (`shapes.body_sql`) does not vouch for, and the oracle it is tested against.

The extractors normalise cache tokens: OpenAI's cached tokens are already inside prompt_tokens, Anthropic's
cache reads and writes are outside input_tokens and get added, so input_tokens is always the total input.

A raw-body log line is either an envelope `{"occurred_at": …, "user_id": …, "response": {body}}` written by
a gateway, or a bare body. Envelope fields win; the body supplies tokens, model, id and (OpenAI) `created`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from cost_pipelines.ingest.canonical import FIELDS, TOKEN_FIELDS
from cost_pipelines.ingest.shapes import ENVELOPE_BODY_KEYS, BodyShape, extractor, shape_of_kind

_ENVELOPE_FIELDS = tuple(f for f in FIELDS if f not in TOKEN_FIELDS)


class UnreadableBody(ValueError):
    pass


def _split(record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    for key in ENVELOPE_BODY_KEYS:
        if isinstance(record.get(key), dict):
            return record, record[key]
    return {}, record


def _shape(envelope: dict[str, Any], body: dict[str, Any]) -> tuple[str, BodyShape]:
    kind = body.get("object") or body.get("type")
    shape = shape_of_kind(kind)
    if shape is None:
        raise UnreadableBody(f"unrecognised provider body (object/type={kind!r})")
    return str(envelope.get("provider") or "").strip().lower() or shape.provider, shape


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
    provider, shape = _shape(envelope, body)
    try:
        _, usage = extractor(shape).extract(body)
    except (ValueError, LookupError, TypeError) as exc:
        raise UnreadableBody(f"no usable usage in {provider} body: {exc}") from exc

    fields: dict[str, str | None] = {f: _text(envelope.get(f)) for f in _ENVELOPE_FIELDS}
    fields["provider"] = provider
    fields["model"] = fields["model"] or _text(body.get("model"))
    fields["request_id"] = fields["request_id"] or _text(body.get("id"))
    if fields["occurred_at"] is None and isinstance(body.get("created"), int | float):
        fields["occurred_at"] = datetime.fromtimestamp(body["created"], UTC).isoformat()
    for f in TOKEN_FIELDS:
        fields[f] = str(usage.reported_value(f))
    return fields
