"""The canonical LLM request record and the column names accepted for each of its fields."""

from __future__ import annotations

# Field → accepted input names, canonical name first. Matching is case-sensitive on the names as logged.
ALIASES: dict[str, tuple[str, ...]] = {
    "request_id": ("request_id", "id", "requestId"),
    "occurred_at": ("occurred_at", "timestamp", "created_at", "ts", "time"),
    "provider": ("provider", "llm_provider", "vendor"),
    "model": ("model", "llm_model", "model_name"),
    "input_tokens": ("input_tokens", "prompt_tokens"),
    "cache_read_tokens": ("cache_read_tokens", "cached_tokens", "cached_input_tokens"),
    "cache_write_tokens": ("cache_write_tokens", "cache_creation_tokens"),
    # the part of cache_write_tokens written for one hour (Anthropic's `ephemeral_1h`), billed at its own rate
    "cache_write_1h_tokens": ("cache_write_1h_tokens",),
    "output_tokens": ("output_tokens", "completion_tokens"),
    # the audio parts of input_tokens and output_tokens, billed at the model's audio rates where it has them
    "input_audio_tokens": ("input_audio_tokens",),
    "output_audio_tokens": ("output_audio_tokens",),
    "user_id": ("user_id", "user"),
    "team": ("team",),
    "project": ("project",),
    "environment": ("environment", "env"),
    "task_type": ("task_type", "metric_name", "task"),
    "latency_ms": ("latency_ms", "latency", "duration_ms"),
    "status": ("status",),
    "reported_cost_usd": ("reported_cost_usd", "cost_usd", "cost"),
    "service_tier": ("service_tier",),
    # a usage bucket (a provider's hourly or daily sum) instead of one request: its requests, and the input tokens
    # that choose its price tier (the provider's stated context window; never the bucket's summed input)
    "record_kind": ("record_kind",),
    "request_count": ("request_count", "num_model_requests"),
    "tier_input_tokens": ("tier_input_tokens",),
}

FIELDS = tuple(ALIASES)
TOKEN_FIELDS = (
    "input_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens", "output_tokens",
    "input_audio_tokens", "output_audio_tokens",
)  # fmt: skip
OPTIONAL_TOKEN_FIELDS = (
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "input_audio_tokens",
    "output_audio_tokens",
)
# Whole numbers that are no token count: absent is NULL (a request record counts one request, see REQUEST_COLUMNS).
OTHER_COUNT_FIELDS = ("request_count", "tier_input_tokens")

REQUEST_KIND, BUCKET_KIND = "request", "usage_bucket"
RECORD_KINDS = (REQUEST_KIND, BUCKET_KIND)
# Service tiers a price can depend on; none stated is 'standard'. Each maps to the genai-prices price variant
# (`when` of its price_variants) that prices it.
SERVICE_TIERS: dict[str, dict[str, str]] = {
    "standard": {},
    "batch": {"processing": "batch"},
    "flex": {"service_tier": "flex"},
    "priority": {"service_tier": "priority"},
}
# What tools write for a tier, lower-cased, when it is not one of SERVICE_TIERS itself.
SERVICE_TIER_ALIASES: dict[str, str] = {"default": "standard", "auto": "standard", "scale": "priority"}

# One id per provider, whatever a tool calls it (lower-cased first): the provider that bills, not the model's
# publisher (Anthropic's models on Bedrock are billed by aws-bedrock).
PROVIDER_ALIASES: dict[str, str] = {
    "bedrock": "aws-bedrock", "amazon-bedrock": "aws-bedrock", "aws_bedrock": "aws-bedrock",
    "amazon_bedrock": "aws-bedrock", "bedrock_converse": "aws-bedrock", "amazon bedrock": "aws-bedrock",
    "vertex": "google-vertex", "vertex_ai": "google-vertex", "vertex-ai": "google-vertex",
    "vertex_ai_beta": "google-vertex", "google_vertex": "google-vertex",
    "gemini": "google", "google_ai_studio": "google", "google-ai-studio": "google",
    "azure": "azure-openai", "azure_openai": "azure-openai", "azure_ai": "azure-openai",
    "xai": "x-ai", "mistralai": "mistral", "together_ai": "together", "fireworks_ai": "fireworks",
}  # fmt: skip

SUCCESS_STATUSES = ("success", "ok", "succeeded", "completed", "200")
ERROR_STATUSES = ("error", "failed", "failure", "timeout", "cancelled")

# DuckDB types of the stored raw request table, in column order.
REQUEST_COLUMNS: dict[str, str] = {
    "request_id": "VARCHAR NOT NULL",
    "occurred_at": "TIMESTAMPTZ NOT NULL",
    "usage_date": "DATE NOT NULL",
    "provider": "VARCHAR NOT NULL",
    "model": "VARCHAR NOT NULL",
    "input_tokens": "BIGINT NOT NULL",
    "cache_read_tokens": "BIGINT NOT NULL",
    "cache_write_tokens": "BIGINT NOT NULL",
    "cache_write_1h_tokens": "BIGINT NOT NULL",
    "output_tokens": "BIGINT NOT NULL",
    "input_audio_tokens": "BIGINT NOT NULL",
    "output_audio_tokens": "BIGINT NOT NULL",
    "user_id": "VARCHAR",
    "team": "VARCHAR",
    "project": "VARCHAR",
    "environment": "VARCHAR",
    "task_type": "VARCHAR",
    "latency_ms": "INTEGER",
    "status": "VARCHAR NOT NULL",
    "reported_cost_usd": "DECIMAL(38, 18)",
    "service_tier": "VARCHAR NOT NULL",
    "record_kind": "VARCHAR NOT NULL",
    "request_count": "BIGINT",  # 1 for a request; a bucket's count, NULL when its provider does not report one
    "tier_input_tokens": "BIGINT",  # NULL: the record's own input_tokens choose the tier
    "source": "VARCHAR NOT NULL",
    "source_row": "BIGINT",  # the record's position in its file (1-based)
    "ingested_at": "TIMESTAMPTZ NOT NULL",
}

# What a request says: two rows agreeing on all of these are copies of the same request. Fields added later are
# NULL at their default (concat_ws skips NULLs), so the id a record without a request id gets does not change.
CONTENT_FIELDS = (
    "provider", "model", "occurred_at", "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens",
    "user_id", "team", "project", "environment", "task_type", "latency_ms", "status", "reported_cost_usd",
    "NULLIF(cache_write_1h_tokens, 0)", "NULLIF(service_tier, 'standard')", "NULLIF(record_kind, 'request')",
    "NULLIF(request_count, 1)", "tier_input_tokens", "NULLIF(input_audio_tokens, 0)", "NULLIF(output_audio_tokens, 0)",
)  # fmt: skip

QUARANTINE_COLUMNS: dict[str, str] = {
    "partition_date": "DATE NOT NULL",
    "source": "VARCHAR NOT NULL",
    "row_number": "BIGINT NOT NULL",
    "reason": "VARCHAR NOT NULL",
    "raw_record": "VARCHAR",
    "quarantined_at": "TIMESTAMPTZ NOT NULL",
}

# A provider and day that both request-level logs and the provider's own usage buckets cover: one source of truth
# per provider and day, so the buckets are not counted (the logs carry who and what each request was) and the
# two are compared here. One row per provider and day.
USAGE_OVERLAP_COLUMNS: dict[str, str] = {
    "usage_date": "DATE NOT NULL",
    "provider": "VARCHAR NOT NULL",
    "logged_requests": "BIGINT NOT NULL",
    "logged_input_tokens": "BIGINT NOT NULL",
    "logged_output_tokens": "BIGINT NOT NULL",
    "buckets": "BIGINT NOT NULL",
    "bucket_requests": "BIGINT",  # NULL when the provider's report counts no requests
    "bucket_input_tokens": "BIGINT NOT NULL",
    "bucket_output_tokens": "BIGINT NOT NULL",
    "found_at": "TIMESTAMPTZ NOT NULL",
}

# What a provider's own cost report says a day was billed (OpenAI's Costs API, Anthropic's cost report), per model
# where the report names one, project (workspace) and line item; in the report's currency.
COST_REPORT_COLUMNS: dict[str, str] = {
    "usage_date": "DATE NOT NULL",
    "provider": "VARCHAR NOT NULL",
    "model": "VARCHAR",  # NULL for a line that is no model's (a tool's calls)
    "price_model_id": "VARCHAR",  # the genai-prices model it names, to match the priced records by
    "project": "VARCHAR",
    "line_item": "VARCHAR",
    "amount": "DECIMAL(38, 18) NOT NULL",
    "currency": "VARCHAR NOT NULL",
    "source": "VARCHAR NOT NULL",  # the report: openai_costs, anthropic_costs
    "loaded_at": "TIMESTAMPTZ NOT NULL",
}

# A log file that could not be read at all (truncated gzip, corrupt Parquet, a line too long): one row per file.
UNREADABLE_FILE_COLUMNS: dict[str, str] = {
    "partition_date": "DATE NOT NULL",
    "source": "VARCHAR NOT NULL",
    "reason": "VARCHAR NOT NULL",
    "size_bytes": "BIGINT",
    "quarantined_at": "TIMESTAMPTZ NOT NULL",
}
