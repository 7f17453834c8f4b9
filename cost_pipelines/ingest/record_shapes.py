"""Native log records of the tools people already run, recognised by their content and mapped to the canonical
request, in one table: adding a tool is one entry.

Each shape names the published schema it follows, the key and value that identify its records, and where each
canonical field is, as a small expression over dotted paths into the record. `fields_sql` turns an entry into SQL
over a reader's way of getting a path's text (a JSON line, or a CSV column holding JSON), so native records are
read in the same DuckDB pass as flat ones and checked by the same rules.

Token counts follow the canonical convention: `input_tokens` is the total input, cache reads and writes included;
a source that reports them outside its input count has them added here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cost_pipelines.ingest.canonical import FIELDS
from cost_pipelines.warehouse import sql_identifier as _q
from cost_pipelines.warehouse import sql_literal as _lit


@dataclass(frozen=True)
class At:
    """The text at a dotted path."""

    path: str


@dataclass(frozen=True)
class FirstOf:
    """The first of these paths that holds a non-empty value."""

    paths: tuple[str, ...]


@dataclass(frozen=True)
class Const:
    value: str


@dataclass(frozen=True)
class Count:
    """A whole number: `required` plus every `added` path present (absent ones are 0). An error record without
    the count counts 0; any other record without it is quarantined as missing it."""

    required: str | FirstOf
    added: tuple[str | FirstOf, ...] = ()
    optional: bool = False  # absent is 0 on every record (a count the source leaves out when there is none)


@dataclass(frozen=True)
class Millis:
    """A duration at `path` in `unit_ms` milliseconds per unit (1000 for seconds), as whole milliseconds."""

    path: str
    unit_ms: int = 1


@dataclass(frozen=True)
class Between:
    """Milliseconds from the timestamp at `start` to the one at `end`."""

    start: str
    end: str


@dataclass(frozen=True)
class ErrorWhen:
    """The record is an error when `path` holds one of `values` (any non-empty value when there are none)."""

    path: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class InputTotal:
    """The total input of a source whose `count` holds cache reads and, depending on the source's version, cache
    writes or not: exact (uncached + cache reads + cache writes) when the uncached input at `uncached` is reported,
    else the count, with cache writes added when it is too small to hold them."""

    count: Count
    uncached: str


@dataclass(frozen=True)
class Joined:
    """A key made of the text at each path (absent ones empty), for records with no id of their own: a usage
    bucket is its start and the values it is grouped by."""

    prefix: str
    paths: tuple[str, ...]


@dataclass(frozen=True)
class Mapped:
    """The value `values` gives the text at `path`; `absent` when the path holds none; any other text as it is
    written (so a check on the field quarantines it, naming it)."""

    path: str
    values: dict[str, str]
    absent: str | None = None


@dataclass(frozen=True)
class KeysSum:
    """The sum of the values of every key that contains `part` in the first of `maps` present, objects whose keys
    are the source's own (`MAP_KEYS`); NULL when no key does, as `Count` treats an absent count. A value that is not
    a whole number is returned as written, so the record is quarantined naming it."""

    maps: tuple[str, ...]
    part: str


@dataclass(frozen=True)
class TrueThen:
    """`then` when `path` holds true, else `otherwise`."""

    path: str
    then: str
    otherwise: At


Value = At | FirstOf | Const | Count | InputTotal | KeysSum | Millis | Between | Joined | Mapped | TrueThen


@dataclass(frozen=True)
class RecordShape:
    name: str
    schema: str  # the published schema (document or source file) the mapping follows
    detect: tuple[str, str | None]  # (top-level key, the value it holds; None: present and not null)
    fields: dict[str, Value]
    error: ErrorWhen | None = None
    also_requires: tuple[str, ...] = field(default=())  # more top-level keys every record of the shape has


# Known model-name prefixes for records that name no provider (Langfuse): the provider whose prices apply. A
# model written as `provider/model` names its provider; anything else is 'unknown' and is reported unpriced.
MODEL_PREFIX_PROVIDERS: tuple[tuple[str, str], ...] = (
    ("gpt-", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("chatgpt-", "openai"),
    ("text-embedding-", "openai"),
    ("claude", "anthropic"),
    ("gemini", "google"),
    ("mistral", "mistral"),
    ("mixtral", "mistral"),
    ("codestral", "mistral"),
    ("ministral", "mistral"),
    ("deepseek", "deepseek"),
    ("grok", "x-ai"),
    ("command", "cohere"),
)

# Anthropic's usage report states the context window a bucket's requests were billed in; its lower bound chooses
# the price tier (`tier_input_tokens`). A report not grouped by it states none: the lower tier.
_CONTEXT_WINDOW_TIERS = {"0-200k": "0", "200k-1M": "200001"}


# Langfuse's usage types are exclusive buckets under names its API (camelCase) and its exports (snake_case) use:
# every type whose name holds `input` is input (uncached, cache reads and writes, audio, ...), every one whose name
# holds `output` is output (text, reasoning, audio, ...), as Langfuse's own UI adds them up.
_LANGFUSE_USAGE = ("usageDetails", "usage_details")
# Objects whose keys a source names as it likes (Langfuse's usage types): read as maps of text, not as structs.
MAP_KEYS = _LANGFUSE_USAGE


def _langfuse_type(*names: str) -> FirstOf:
    return FirstOf(tuple(f"{usage}.{name}" for usage in _LANGFUSE_USAGE for name in names))


_LANGFUSE_CACHE_READ = _langfuse_type("input_cached_tokens", "input_cache_read", "cache_read_input_tokens")
_LANGFUSE_CACHE_WRITE = _langfuse_type("input_cache_creation", "cache_creation_input_tokens")

RECORD_SHAPES: tuple[RecordShape, ...] = (
    RecordShape(
        name="bedrock_invocation_log",
        schema="AWS Bedrock model invocation logging, ModelInvocationLog records (schemaVersion 1.0), as delivered "
        "to S3 and CloudWatch Logs: docs.aws.amazon.com/bedrock/latest/userguide/model-invocation-logging.html",
        detect=("schemaType", "ModelInvocationLog"),
        fields={
            "request_id": At("requestId"),
            "occurred_at": At("timestamp"),
            "provider": Const("aws-bedrock"),
            "model": At("modelId"),
            "user_id": At("identity.arn"),
            "team": At("requestMetadata.team"),
            "project": At("requestMetadata.project"),
            "environment": At("requestMetadata.environment"),
            "task_type": At("operation"),
            # cache reads and writes are counted outside inputTokenCount
            "input_tokens": Count(
                "input.inputTokenCount", ("input.cacheReadInputTokenCount", "input.cacheWriteInputTokenCount")
            ),
            "cache_read_tokens": Count("input.cacheReadInputTokenCount", optional=True),
            "cache_write_tokens": Count("input.cacheWriteInputTokenCount", optional=True),
            "output_tokens": Count("output.outputTokenCount", optional=True),  # none for embeddings
        },
        error=ErrorWhen("errorCode"),
    ),
    RecordShape(
        name="litellm_spend_log",
        schema="LiteLLM proxy LiteLLM_SpendLogs rows (BerriAI/litellm schema.prisma; usage from metadata.usage_object)",
        detect=("call_type", None),
        also_requires=("spend", "startTime"),
        fields={
            "request_id": At("request_id"),
            "occurred_at": At("startTime"),
            "provider": At("custom_llm_provider"),
            "model": At("model"),
            "user_id": FirstOf(("end_user", "user")),
            "team": FirstOf(("metadata.user_api_key_team_alias", "team_id")),
            "project": At("metadata.user_api_key_alias"),
            "task_type": At("call_type"),
            # prompt_tokens hold cache reads; cache writes only in some LiteLLM versions
            "input_tokens": InputTotal(
                Count("prompt_tokens"), "metadata.usage_object.prompt_tokens_details.text_tokens"
            ),
            "cache_read_tokens": Count(
                FirstOf(
                    (
                        "metadata.usage_object.prompt_tokens_details.cached_tokens",
                        "metadata.usage_object.cache_read_input_tokens",
                    )
                ),
                optional=True,
            ),
            "cache_write_tokens": Count(
                FirstOf(
                    (
                        "metadata.usage_object.cache_creation_input_tokens",
                        "metadata.usage_object.prompt_tokens_details.cache_creation_tokens",
                    )
                ),
                optional=True,
            ),
            "output_tokens": Count("completion_tokens"),
            # OpenAI's usage: the audio parts of prompt_tokens and completion_tokens
            "input_audio_tokens": Count("metadata.usage_object.prompt_tokens_details.audio_tokens", optional=True),
            "output_audio_tokens": Count("metadata.usage_object.completion_tokens_details.audio_tokens", optional=True),
            "latency_ms": Between("startTime", "endTime"),
            "reported_cost_usd": At("spend"),
        },
        error=ErrorWhen("status", ("failure",)),
    ),
    RecordShape(
        name="langfuse_generation",
        schema="Langfuse observations of type GENERATION: public API GET /api/public/observations "
        "(fern observations-v1.yml) and blob-storage exports (snake_case)",
        detect=("type", "GENERATION"),
        fields={
            "request_id": At("id"),
            "occurred_at": FirstOf(("startTime", "start_time")),
            "model": FirstOf(("model", "providedModelName", "provided_model_name")),
            "user_id": FirstOf(("userId", "user_id")),
            "environment": At("environment"),
            "task_type": At("name"),
            # usage types are exclusive: `input` holds no cached token, `output` no reasoning or audio token
            "input_tokens": KeysSum(_LANGFUSE_USAGE, "input"),
            "cache_read_tokens": Count(_LANGFUSE_CACHE_READ, optional=True),
            "cache_write_tokens": Count(_LANGFUSE_CACHE_WRITE, optional=True),
            "output_tokens": KeysSum(_LANGFUSE_USAGE, "output"),
            # OpenAI's usage details as Langfuse names them, and LangChain's through Langfuse's callback handler
            "input_audio_tokens": Count(_langfuse_type("input_audio_tokens", "input_audio"), optional=True),
            "output_audio_tokens": Count(_langfuse_type("output_audio_tokens", "output_audio"), optional=True),
            "latency_ms": Millis("latency", 1000),  # seconds
            "reported_cost_usd": FirstOf(("costDetails.total", "cost_details.total", "totalCost", "total_cost")),
        },
        error=ErrorWhen("level", ("ERROR",)),
    ),
    RecordShape(
        name="openai_usage_bucket",
        schema="OpenAI organization Usage API, GET /v1/organization/usage/completions: page.data[].results[] of "
        "object organization.usage.completions.result (platform.openai.com/docs/api-reference/usage)",
        detect=("object", "organization.usage.completions.result"),
        fields={
            "request_id": Joined(
                "openai-usage",
                ("bucket_start_time", "project_id", "user_id", "api_key_id", "model", "batch", "service_tier"),
            ),
            "occurred_at": At("bucket_start_time"),  # the bucket's start, epoch seconds
            "provider": Const("openai"),
            "model": At("model"),  # only when the report is grouped by model
            "user_id": At("user_id"),
            "project": At("project_id"),
            "record_kind": Const("usage_bucket"),
            "request_count": Count("num_model_requests"),
            # input_tokens include cached and cache-write tokens
            "input_tokens": Count("input_tokens"),
            "cache_read_tokens": Count("input_cached_tokens", optional=True),
            "cache_write_tokens": Count("input_cache_write_tokens", optional=True),
            "output_tokens": Count("output_tokens"),
            # the audio parts of input_tokens (which counts text, audio and image tokens) and output_tokens
            "input_audio_tokens": Count("input_audio_tokens", optional=True),
            "output_audio_tokens": Count("output_audio_tokens", optional=True),
            "service_tier": TrueThen("batch", "batch", At("service_tier")),
            "tier_input_tokens": Const("0"),  # the Usage API states no context window: the lower tier
        },
    ),
    RecordShape(
        name="anthropic_usage_bucket",
        schema="Anthropic Admin API usage report, GET /v1/organizations/usage_report/messages: data[].results[] "
        "(platform.claude.com/docs/en/api/admin/usage_report/retrieve_messages)",
        detect=("uncached_input_tokens", None),
        also_requires=("output_tokens",),
        fields={
            "request_id": Joined(
                "anthropic-usage",
                (
                    "bucket_starting_at",
                    "workspace_id",
                    "api_key_id",
                    "model",
                    "service_tier",
                    "context_window",
                    "inference_geo",
                    "speed",
                ),
            ),
            "occurred_at": At("bucket_starting_at"),
            "provider": Const("anthropic"),
            "model": At("model"),
            "user_id": At("api_key_id"),
            "project": At("workspace_id"),
            "record_kind": Const("usage_bucket"),  # the report counts no requests
            # uncached input, cache reads and writes are reported apart: the total input is their sum
            "input_tokens": Count(
                "uncached_input_tokens",
                (
                    "cache_read_input_tokens",
                    "cache_creation.ephemeral_5m_input_tokens",
                    "cache_creation.ephemeral_1h_input_tokens",
                ),
            ),
            "cache_read_tokens": Count("cache_read_input_tokens", optional=True),
            "cache_write_tokens": Count(
                "cache_creation.ephemeral_5m_input_tokens", ("cache_creation.ephemeral_1h_input_tokens",), optional=True
            ),
            "cache_write_1h_tokens": Count("cache_creation.ephemeral_1h_input_tokens", optional=True),
            "output_tokens": Count("output_tokens"),
            "service_tier": At("service_tier"),
            "tier_input_tokens": Mapped("context_window", _CONTEXT_WINDOW_TIERS, absent="0"),
        },
    ),
    RecordShape(
        name="openrouter_generation",
        schema="OpenRouter generation stats, GET /api/v1/generation `data` (OpenRouterTeam/typescript-sdk "
        "src/models/operations/getgeneration.ts)",
        detect=("native_tokens_prompt", None),
        fields={
            "request_id": At("id"),
            "occurred_at": At("created_at"),
            "provider": Const("openrouter"),
            "model": At("model"),
            "user_id": At("external_user"),
            "task_type": At("api_type"),
            # native_tokens_cached is inside native_tokens_prompt; cache writes are not reported
            "input_tokens": Count("native_tokens_prompt"),
            "cache_read_tokens": Count("native_tokens_cached", optional=True),
            "output_tokens": Count("native_tokens_completion"),
            "latency_ms": Millis("latency"),
            "reported_cost_usd": At("total_cost"),
        },
        error=ErrorWhen("finish_reason", ("error",)),
    ),
)


@dataclass(frozen=True)
class NotARequest:
    """Records a tool writes beside its requests that are no LLM request (a trace's spans): counted, not kept."""

    name: str
    key: str  # a top-level key holding one of `values`
    values: tuple[str, ...]
    with_any: tuple[str, ...]  # and one of these top-level keys present, so the record is the tool's


NOT_REQUESTS: tuple[NotARequest, ...] = (
    NotARequest(
        "langfuse_observation",
        "type",
        ("SPAN", "EVENT", "AGENT", "TOOL", "CHAIN", "RETRIEVER", "EVALUATOR", "GUARDRAIL"),
        ("traceId", "trace_id"),
    ),
)


def not_a_request_sql(top: Callable[[str], str]) -> str:
    """SQL: the record is one of `NOT_REQUESTS`, from the text of its top-level keys."""
    checks = [
        f"({top(n.key)} IN ({', '.join(_lit(v) for v in n.values)}) AND "
        f"({' OR '.join(f'{top(k)} IS NOT NULL' for k in n.with_any)}))"
        for n in NOT_REQUESTS
    ]
    return "COALESCE(" + " OR ".join(checks) + ", false)"


def top_keys() -> list[str]:
    """The top-level keys that tell the shapes apart."""
    keys = [k for s in RECORD_SHAPES for k in (s.detect[0], *s.also_requires)]
    keys += [k for n in NOT_REQUESTS for k in (n.key, *n.with_any)]
    return list(dict.fromkeys(keys))


def paths_of(shape: RecordShape) -> list[str]:
    """Every dotted path the shape reads, its detection and error paths included."""
    found: list[str] = [shape.detect[0], *shape.also_requires]
    if shape.error:
        found.append(shape.error.path)

    def visit(value: Value | str) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, At):
            found.append(value.path)
        elif isinstance(value, FirstOf):
            found.extend(value.paths)
        elif isinstance(value, Count):
            for part in (value.required, *value.added):
                visit(part)
        elif isinstance(value, InputTotal):
            visit(value.count)
            found.append(value.uncached)
        elif isinstance(value, KeysSum):
            found.extend(value.maps)
        elif isinstance(value, Millis):
            found.append(value.path)
        elif isinstance(value, Between):
            found.extend((value.start, value.end))
        elif isinstance(value, Joined):
            found.extend(value.paths)
        elif isinstance(value, Mapped):
            found.append(value.path)
        elif isinstance(value, TrueThen):
            found.extend((value.path, value.otherwise.path))

    for value in shape.fields.values():
        visit(value)
    return list(dict.fromkeys(found))


def detect_sql(shape: RecordShape, top: Callable[[str], str]) -> str:
    """SQL: the record is one of this shape's, from the text of its top-level keys (`top(key)`)."""
    key, value = shape.detect
    checks = [f"{top(key)} = {_lit(value)}" if value is not None else f"{top(key)} IS NOT NULL"]
    checks += [f"{top(k)} IS NOT NULL" for k in shape.also_requires]
    return "(" + " AND ".join(checks) + ")"


def _whole(text: str) -> str:
    return f"COALESCE(CAST(TRY_CAST({text} AS BIGINT) AS VARCHAR) = {text}, false)"


UNCACHED = "_uncached"  # a first-stage field: the input count that excludes the cache (`InputTotal.uncached`)


def fields_sql(
    shape: RecordShape, value: Callable[[str], str], staged: Callable[[str], str]
) -> tuple[dict[str, str], dict[str, str]]:
    """The SQL of a shape's canonical fields in two stages, from `value(path)`, SQL of the text at a path, and
    `staged(name)`, SQL of a first-stage field: (the fields read from the record, NULL when absent; the fields
    computed from those, which replace them). Two stages keep the SQL small: an input total refers to each cache
    count, and a derived provider to the model, by name, not by repeating their expressions."""
    is_error = "false"
    if shape.error:
        at = value(shape.error.path)
        is_error = (
            f"COALESCE({at} IN ({', '.join(_lit(v) for v in shape.error.values)}), false)"
            if shape.error.values
            else f"COALESCE({at} <> '', false)"
        )

    def text(part: str | FirstOf) -> str:
        if isinstance(part, FirstOf):
            return "COALESCE(" + ", ".join(f"NULLIF({value(p)}, '')" for p in part.paths) + ")"
        return f"NULLIF({value(part)}, '')"

    def count(c: Count) -> str:
        parts = [text(c.required), *(text(p) for p in c.added)]
        # optional: every part may be absent (0), the added ones too
        absent = "" if c.optional else f"WHEN {parts[0]} IS NULL THEN CASE WHEN {is_error} THEN '0' END"
        # A part that is not a whole number is returned as written, so the record is quarantined naming it.
        bad = " ".join(f"WHEN {p} IS NOT NULL AND NOT {_whole(p)} THEN {p}" for p in parts)
        total = " + ".join(f"COALESCE(TRY_CAST({p} AS HUGEINT), 0)" for p in parts)
        return f"CASE {absent} {bad} ELSE CAST({total} AS VARCHAR) END"

    def keys_sum(k: KeysSum) -> str:
        found = "COALESCE(" + ", ".join(value(m) for m in k.maps) + ")"
        named = f"contains(e.key, {_lit(k.part)}) AND e.value IS NOT NULL"
        counted = f"list_filter(map_entries({found}), lambda e: {named})"
        bad = f"list_filter({counted}, lambda e: NOT {_whole('e.value')})"
        total = f"list_sum(list_transform({counted}, lambda e: TRY_CAST(e.value AS HUGEINT)))"
        return (
            f"CASE WHEN COALESCE(len({counted}), 0) = 0 THEN CASE WHEN {is_error} THEN '0' END "
            f"WHEN len({bad}) > 0 THEN {bad}[1].value ELSE CAST({total} AS VARCHAR) END"
        )

    def sql(v: Value) -> str:
        if isinstance(v, Const):
            return _lit(v.value)
        if isinstance(v, At | FirstOf):
            return text(v if isinstance(v, FirstOf) else v.path)
        if isinstance(v, Count):
            return count(v)
        if isinstance(v, InputTotal):
            return count(v.count)  # settled in the second stage, once the cache counts are known
        if isinstance(v, KeysSum):
            return keys_sum(v)
        if isinstance(v, Millis):
            return f"CAST(round(TRY_CAST({value(v.path)} AS DOUBLE) * {v.unit_ms}) AS BIGINT)::VARCHAR"
        if isinstance(v, Joined):
            parts = ", ".join(f"COALESCE({value(p)}, '')" for p in v.paths)  # by position: absent stays a place
            return f"{_lit(v.prefix + ':')} || concat_ws('|', {parts})"
        if isinstance(v, Mapped):
            whens = " ".join(f"WHEN {_lit(k)} THEN {_lit(t)}" for k, t in v.values.items())
            absent = _lit(v.absent) if v.absent is not None else "NULL"
            at = text(v.path)
            return f"CASE WHEN {at} IS NULL THEN {absent} ELSE CASE {at} {whens} ELSE {at} END END"
        if isinstance(v, TrueThen):
            return f"CASE WHEN {value(v.path)} = 'true' THEN {_lit(v.then)} ELSE {text(v.otherwise.path)} END"
        start, end = (f"TRY_CAST({value(p)} AS TIMESTAMPTZ)" for p in (v.start, v.end))
        return f"CAST(epoch_ms({end}) - epoch_ms({start}) AS VARCHAR)"

    first = {name: sql(v) for name, v in shape.fields.items()}
    status = first.get("status")
    first["status"] = f"CASE WHEN {is_error} THEN 'error' ELSE {status or _lit('success')} END"
    second = {}
    if "provider" not in first:
        second["provider"] = provider_from_model_sql(staged("model") if "model" in first else "NULL")
    for name, v in shape.fields.items():
        if isinstance(v, InputTotal):
            first[UNCACHED] = text(v.uncached)
            second[name] = _input_total_sql(
                staged(name), staged("cache_read_tokens"), staged("cache_write_tokens"), staged(UNCACHED)
            )
    return first, second


def _input_total_sql(counted: str, read: str, write: str, uncached: str) -> str:
    """SQL of `InputTotal` over the SQL of its count, the cache counts and the uncached input."""
    prompt = counted
    as_int = "TRY_CAST({} AS HUGEINT)".format
    return f"""CASE
        WHEN {_whole(uncached)} AND {_whole(read)} AND {_whole(write)}
            THEN CAST({as_int(uncached)} + {as_int(read)} + {as_int(write)} AS VARCHAR)
        WHEN {_whole(prompt)} AND {_whole(read)} AND {_whole(write)}
             AND {as_int(prompt)} < {as_int(read)} + {as_int(write)}
            THEN CAST({as_int(prompt)} + {as_int(write)} AS VARCHAR)
        ELSE {prompt} END"""


def native_sql(top: Callable[[str], str], at: Callable[[str], str], staged: str) -> tuple[str, str, str]:
    """SQL reading native records, given `top(key)`, the text of a top-level key, and `at(path)`, the text at a
    dotted path (both read in the reader's one parse of the record): (the WHENs telling which shape a record is,
    as `_native` = its number; the CASE of the struct of the fields read from it, to be named `staged`; the struct
    of every canonical field, computed from that one)."""
    stages = [fields_sql(shape, at, lambda f: f"{staged}.{_q(f)}") for shape in RECORD_SHAPES]
    which = " ".join(f"WHEN {detect_sql(shape, top)} THEN {n}" for n, shape in enumerate(RECORD_SHAPES, start=1))
    # every field under one CASE: native SQL is large, and evaluated for no row of a flat file
    read = " ".join(
        f"WHEN _native = {n} THEN struct_pack("
        + ", ".join(f"{_q(f)} := {first.get(f, 'NULL::VARCHAR')}" for f in (*FIELDS, UNCACHED))
        + ")"
        for n, (first, _) in enumerate(stages, start=1)
    )

    def computed(f: str) -> str:
        whens = " ".join(f"WHEN {n} THEN {second[f]}" for n, (_, second) in enumerate(stages, start=1) if f in second)
        return f"CASE _native {whens} ELSE {staged}.{_q(f)} END" if whens else f"{staged}.{_q(f)}"

    return which, f"CASE {read} END", "struct_pack(" + ", ".join(f"{_q(f)} := {computed(f)}" for f in FIELDS) + ")"


def provider_from_model_sql(model: str) -> str:
    """The provider of a model name, for records that name none (see `MODEL_PREFIX_PROVIDERS`)."""
    lowered = f"lower({model})"
    whens = " ".join(f"WHEN starts_with({lowered}, {_lit(p)}) THEN {_lit(v)}" for p, v in MODEL_PREFIX_PROVIDERS)
    return (
        f"CASE WHEN {model} IS NULL THEN NULL WHEN contains({model}, '/') THEN split_part({model}, '/', 1) "
        f"{whens} ELSE 'unknown' END"
    )
