"""Model strings that name no model by themselves resolve through the user's alias file, and only through it."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from cost_pipelines.ingest.load import ingest_day
from cost_pipelines.ingest.sources import LocalDirectorySource
from cost_pipelines.pricing.model_resolution import ModelAliasesError, read_model_aliases, resolve_model
from cost_pipelines.settings import MODEL_ALIASES_ENV
from cost_pipelines.warehouse import connect

DAY = date(2026, 8, 1)
PROFILE = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6"
TARGET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


def _invocation(request_id: str, model_id: str) -> dict:
    """A Bedrock model invocation log record, as docs.aws.amazon.com/bedrock/latest/userguide/
    model-invocation-logging.html shows one (no bodies)."""
    return {
        "schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": f"{DAY}T09:00:00Z",
        "accountId": "123456789012", "identity": {"arn": "arn:aws:sts::123456789012:assumed-role/app/s1"},
        "region": "us-east-1", "requestId": request_id, "operation": "InvokeModel", "modelId": model_id,
        "input": {"inputContentType": "application/json", "inputTokenCount": 1200},
        "output": {"outputContentType": "application/json", "outputTokenCount": 80},
    }  # fmt: skip


def _model_map(tmp_path: Path) -> dict[str, tuple]:
    logs = tmp_path / "logs" / DAY.isoformat()
    logs.mkdir(parents=True, exist_ok=True)
    lines = [_invocation("r1", PROFILE), _invocation("r2", TARGET)]
    (logs / "bedrock.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    with connect(tmp_path / "w.duckdb") as con:
        ingest_day(con, LocalDirectorySource(tmp_path / "logs"), DAY)
        rows = con.execute(
            "SELECT model, price_provider_id, price_model_id, match_status, resolved_with FROM raw.llm_model_map"
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


def test_an_application_inference_profile_is_unknown_until_it_is_aliased(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MODEL_ALIASES_ENV, str(tmp_path / "none.csv"))
    with pytest.raises(ModelAliasesError, match=r"none\.csv: cannot be read"):
        _model_map(tmp_path)  # a mistyped path is an error, not an empty alias list

    monkeypatch.delenv(MODEL_ALIASES_ENV)
    before = _model_map(tmp_path)
    assert before[PROFILE][2] == "unknown_model" and before[TARGET][2] == "matched"

    aliases = tmp_path / "model_aliases.csv"
    aliases.write_text(f"provider,model,resolves_as\naws-bedrock,{PROFILE},{TARGET}\n")
    monkeypatch.setenv(MODEL_ALIASES_ENV, str(aliases))
    after = _model_map(tmp_path)  # the same day again: the changed alias file resolves every pair again
    assert after[PROFILE][:3] == after[TARGET][:3] == before[TARGET][:3]
    assert after[PROFILE][3] == after[TARGET][3] != before[TARGET][3]
    assert after[PROFILE][3].startswith(before[TARGET][3] + "+aliases:")


def test_an_alias_resolves_as_its_model_and_keeps_the_string_logged() -> None:
    aliases = {("aws-bedrock", PROFILE): TARGET}
    aliased, direct = resolve_model("aws-bedrock", PROFILE, aliases), resolve_model("aws-bedrock", TARGET)
    assert aliased.model == PROFILE and aliased.price_model_id == direct.price_model_id is not None
    assert resolve_model("openai", PROFILE, aliases).match_status != "matched"  # keyed by provider too


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("provider,model\naws-bedrock,x\n", "line 2: needs provider, model, resolves_as"),
        ("provider,model,resolves_as\naws-bedrock,x,a\naws-bedrock,x,b\n", "line 3: x resolves as two models"),
    ],
)
def test_an_unusable_alias_file_says_which_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "aliases.csv"
    path.write_text(text)
    with pytest.raises(ModelAliasesError, match=message):
        read_model_aliases(path)
