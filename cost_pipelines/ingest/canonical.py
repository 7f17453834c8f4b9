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
    "output_tokens": ("output_tokens", "completion_tokens"),
    "user_id": ("user_id", "user"),
    "team": ("team",),
    "project": ("project",),
    "environment": ("environment", "env"),
    "task_type": ("task_type", "metric_name", "task"),
    "latency_ms": ("latency_ms", "latency", "duration_ms"),
    "status": ("status",),
    "reported_cost_usd": ("reported_cost_usd", "cost_usd", "cost"),
}

FIELDS = tuple(ALIASES)
TOKEN_FIELDS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens")
OPTIONAL_TOKEN_FIELDS = ("cache_read_tokens", "cache_write_tokens")

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
    "output_tokens": "BIGINT NOT NULL",
    "user_id": "VARCHAR",
    "team": "VARCHAR",
    "project": "VARCHAR",
    "environment": "VARCHAR",
    "task_type": "VARCHAR",
    "latency_ms": "INTEGER",
    "status": "VARCHAR NOT NULL",
    "reported_cost_usd": "DECIMAL(38, 18)",
    "source": "VARCHAR NOT NULL",
    "source_row": "BIGINT",  # the record's position in its file (1-based)
    "ingested_at": "TIMESTAMPTZ NOT NULL",
}

# What a request says: two rows agreeing on all of these are copies of the same request.
CONTENT_FIELDS = (
    "provider", "model", "occurred_at", "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens",
    "user_id", "team", "project", "environment", "task_type", "latency_ms", "status", "reported_cost_usd",
)  # fmt: skip

QUARANTINE_COLUMNS: dict[str, str] = {
    "partition_date": "DATE NOT NULL",
    "source": "VARCHAR NOT NULL",
    "row_number": "BIGINT NOT NULL",
    "reason": "VARCHAR NOT NULL",
    "raw_record": "VARCHAR",
    "quarantined_at": "TIMESTAMPTZ NOT NULL",
}

# A log file that could not be read at all (truncated gzip, corrupt Parquet, a line too long): one row per file.
UNREADABLE_FILE_COLUMNS: dict[str, str] = {
    "partition_date": "DATE NOT NULL",
    "source": "VARCHAR NOT NULL",
    "reason": "VARCHAR NOT NULL",
    "size_bytes": "BIGINT",
    "quarantined_at": "TIMESTAMPTZ NOT NULL",
}
