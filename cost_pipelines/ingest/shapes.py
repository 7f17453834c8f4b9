"""The JSON log record shapes the reader knows, in one table: how each is recognised and where its fields are.

A JSON record is a flat request (canonical field names or their aliases, `canonical.ALIASES`) unless it carries a
provider's response body: an object under `response` or `body` (an envelope written by a gateway, whose own fields
win) or a `usage` object (a bare body). The body's `object` (else `type`) names its shape below, and the shape reads
the usage with genai-prices' extractor for that API: its root, paths, which are required and what is summed into
which count. `body_sql` turns those extractors into SQL, so a day of bodies is read in the same DuckDB pass as flat
records; `provider_bodies` applies the same extractors in Python. The SQL only vouches for bodies whose every value
it reads the way Python does (whole non-negative counts, text or integer attributes); any other body — an unknown
shape, a fractional or negative count, a boolean — is handed to Python, which gives its usage or the exact reason
it is unusable. Adding a shape is one entry here; its usage paths come from genai-prices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from genai_prices import data_snapshot
from genai_prices.types import UsageExtractor

from cost_pipelines.ingest.canonical import FIELDS, TOKEN_FIELDS
from cost_pipelines.warehouse import sql_literal as _lit


@dataclass(frozen=True)
class BodyShape:
    name: str
    kinds: tuple[str, ...]  # values of the body's `object` (or, when that is empty, `type`) that mean this shape
    provider: str  # the provider when the envelope names none
    extractor_provider: str  # whose genai-prices extractor reads the usage: the body's API, not its host
    api_flavor: str


BODY_SHAPES: tuple[BodyShape, ...] = (
    BodyShape("openai_chat", ("chat.completion", "chat.completion.chunk"), "openai", "openai", "chat"),
    BodyShape("openai_responses", ("response",), "openai", "openai", "responses"),
    BodyShape("anthropic_message", ("message",), "anthropic", "anthropic", "default"),
)
ENVELOPE_BODY_KEYS = ("response", "body")  # in this order: the first holding an object is the body
BODY_MARKER_KEYS = (*ENVELOPE_BODY_KEYS, "usage")  # a record with an object under any of these holds a body


def shape_of_kind(kind: object) -> BodyShape | None:
    return next((s for s in BODY_SHAPES if isinstance(kind, str) and kind in s.kinds), None)


@cache
def extractor(shape: BodyShape) -> UsageExtractor:
    # The provider's own extractor, not genai_prices.extract_usage, which also insists on knowing the model: an
    # unknown model must reach pricing (and be reported unpriced), not be rejected here.
    provider = data_snapshot.get_snapshot().find_provider(None, shape.extractor_provider, None)
    return next(e for e in provider.extractors or () if e.api_flavor == shape.api_flavor)


def _path(*steps: str) -> str:
    return "$" + "".join('."' + s.replace('"', '\\"') + '"' for s in steps)


def _steps(path: str | list) -> list[str]:
    steps = [path] if isinstance(path, str) else list(path)
    if not all(isinstance(s, str) for s in steps):
        raise ValueError(f"extractor path {path!r} matches in arrays: not read in SQL")
    return steps


# JSON types of a body value that Python reads exactly as the SQL does. Counts: a whole non-negative number
# (UBIGINT); absent or null is 0 when optional, and an optional value of another kind is ignored by the extractor
# (text, objects, arrays) — booleans, negative and fractional numbers are not, so they go to Python.
_WHOLE = "'UBIGINT'"
_IGNORED_WHEN_OPTIONAL = "'NULL', 'UBIGINT', 'VARCHAR', 'OBJECT', 'ARRAY'"
_AS_TEXT = "'NULL', 'VARCHAR', 'UBIGINT', 'BIGINT'"  # str() in Python, the same text in SQL


class BodyPaths:
    """The JSON paths a body is read at, numbered for `json_extract_string(body, [...])` / `json_type(...)`."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def at(self, *steps: str) -> int:
        path = _path(*steps)
        if path not in self.paths:
            self.paths.append(path)
        return self.paths.index(path) + 1  # DuckDB lists are 1-based

    def sql(self) -> str:
        return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in self.paths) + "]"


def _shape_sql(shape: BodyShape, paths: BodyPaths, value: str, kind: str) -> tuple[str, dict[str, str]]:
    """(whether SQL reads this body exactly, count field -> SQL text of its value) for one shape."""
    ex = extractor(shape)
    root = _steps(ex.root)
    checks = [f"{kind}[{paths.at(*root)}] = 'OBJECT'"]
    sums: dict[str, list[str]] = {f: [] for f in TOKEN_FIELDS}
    for mapping in ex.mappings:
        at = paths.at(*root, *_steps(mapping.path))
        allowed = _WHOLE if mapping.required else _IGNORED_WHEN_OPTIONAL
        checks.append(
            f"{kind}[{at}] IN ({allowed})" if mapping.required else f"COALESCE({kind}[{at}] IN ({allowed}), true)"
        )
        if mapping.dest in sums:
            sums[mapping.dest].append(
                f"CASE WHEN {kind}[{at}] = 'UBIGINT' THEN CAST({value}[{at}] AS HUGEINT) ELSE 0 END"
            )
    counts = {f: "CAST(" + (" + ".join(terms) if terms else "0") + " AS VARCHAR)" for f, terms in sums.items()}
    return " AND ".join(checks), counts


def body_sql(
    body: str, envelope_value: Callable[[str], str], envelope_kind: Callable[[str], str], is_envelope: str
) -> tuple[str, str, dict[str, str]]:
    """SQL reading a provider body held as JSON text in column `body`.

    `envelope_value(f)`/`envelope_kind(f)` give SQL for the text and JSON type of the envelope's canonical field
    f; `is_envelope` is SQL for whether the body came in an envelope. Returns (the SELECT list of `_bv`/`_bt`, the
    extracted values and types, over `body`; SQL over them saying whether SQL reads the body exactly; field -> SQL
    text, NULL-able, of every canonical field)."""
    paths = BodyPaths()
    obj, typ = paths.at("object"), paths.at("type")
    model, rid, created = paths.at("model"), paths.at("id"), paths.at("created")
    kind_sql = (
        f"CASE WHEN _bt[{obj}] = 'VARCHAR' AND _bv[{obj}] <> '' THEN _bv[{obj}] "
        f"WHEN COALESCE(_bt[{obj}] = 'NULL' OR (_bt[{obj}] = 'VARCHAR' AND _bv[{obj}] = ''), true) "
        f"AND _bt[{typ}] = 'VARCHAR' THEN _bv[{typ}] END"
    )
    per_shape = {s: _shape_sql(s, paths, "_bv", "_bt") for s in BODY_SHAPES}

    def by_shape(value: Callable[[BodyShape], str]) -> str:
        """A CASE over the body's kind: `value(shape)` for the shape it names, NULL when it names none."""
        whens = (f"WHEN {kind_sql} IN ({', '.join(_lit(k) for k in s.kinds)}) THEN {value(s)}" for s in BODY_SHAPES)
        return f"CASE {' '.join(whens)} END"

    def envelope(field: str) -> str:
        return f"CASE WHEN {is_envelope} THEN {envelope_value(field)} END"

    def envelope_ok(field: str, allowed: str = _AS_TEXT) -> str:
        return f"(NOT {is_envelope} OR COALESCE({envelope_kind(field)} IN ({allowed}), true))"

    fields = {f: envelope(f) for f in FIELDS if f not in TOKEN_FIELDS}
    default_provider = by_shape(lambda s: _lit(s.provider))
    fields["provider"] = f"COALESCE(NULLIF(lower(trim({envelope('provider')})), ''), {default_provider})"
    fields["model"] = f"COALESCE(NULLIF({envelope('model')}, ''), _bv[{model}])"
    fields["request_id"] = f"COALESCE(NULLIF({envelope('request_id')}, ''), _bv[{rid}])"
    fields["occurred_at"] = (
        f"COALESCE({envelope('occurred_at')}, CASE WHEN _bt[{created}] = 'UBIGINT' THEN _bv[{created}] END)"
    )
    fields |= {f: by_shape(lambda s, f=f: per_shape[s][1][f]) for f in TOKEN_FIELDS}
    exact = " AND ".join(
        [
            f"COALESCE({by_shape(lambda s: per_shape[s][0])}, false)",
            *(envelope_ok(f) for f in FIELDS if f not in (*TOKEN_FIELDS, "provider")),
            envelope_ok("provider", "'NULL', 'VARCHAR'"),
            f"COALESCE(_bt[{model}] IN ('NULL', 'VARCHAR'), true)",
            f"COALESCE(_bt[{rid}] IN ({_AS_TEXT}), true)",
            # an epoch in seconds reads the same in both; other numbers (fractions, milliseconds) go to Python
            f"({envelope('occurred_at')} IS NOT NULL OR COALESCE(_bt[{created}] NOT IN ('UBIGINT', 'BIGINT', 'DOUBLE', "
            f"'BOOLEAN'), true) OR (_bt[{created}] = 'UBIGINT' AND length(_bv[{created}]) IN (9, 10)))",
        ]
    )
    select = f"json_extract_string({body}, {paths.sql()}) AS _bv, json_type({body}, {paths.sql()}) AS _bt"
    return select, exact, fields
