"""The dbt project documents itself: every model, seed, source and column is described, and docs build."""

import json
import subprocess
from pathlib import Path

import pytest

from cost_pipelines.warehouse import connect, ensure_raw_tables
from tests.conftest import DBT_DIR, dbt_executable

MANIFEST = DBT_DIR / "target" / "manifest.json"


def _documented_nodes() -> list[dict]:
    manifest = json.loads(MANIFEST.read_text())
    nodes = [n for n in manifest["nodes"].values() if n["resource_type"] in ("model", "seed")]
    return nodes + list(manifest["sources"].values())


def test_every_model_seed_source_and_column_is_described() -> None:
    missing = []
    for node in _documented_nodes():
        if not node["description"].strip():
            missing.append(node["unique_id"])
        missing += [
            f"{node['unique_id']}.{c}" for c, spec in node["columns"].items() if not spec["description"].strip()
        ]
    assert missing == []


def _run_dbt(tmp: Path, *args: str) -> Path:
    db = tmp / "w.duckdb"
    with connect(db) as con:
        ensure_raw_tables(con)
    env = {"COST_PIPELINES_DUCKDB_PATH": str(db), "PATH": str(Path(dbt_executable()).parent) + ":/usr/bin:/bin"}
    result = subprocess.run(
        [dbt_executable(), *args, "--profiles-dir", ".", "--target-path", str(tmp / "t"), "--log-path", str(tmp / "l")],
        cwd=DBT_DIR, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    return db


@pytest.fixture(scope="module")
def built_empty_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run_dbt(tmp_path_factory.mktemp("dbt"), "build", "--exclude", "test_type:data")


def test_documented_columns_match_what_every_model_produces(built_empty_warehouse: Path) -> None:
    """A documented column the model does not produce (or the reverse) is a stale doc."""
    stale = {}
    with connect(built_empty_warehouse, read_only=True) as con:
        for node in _documented_nodes():
            if node["resource_type"] != "model":
                continue
            actual = sorted(r[0] for r in con.execute(f"DESCRIBE {node['schema']}.{node['alias']}").fetchall())
            if actual != sorted(node["columns"]):
                stale[node["name"]] = set(actual) ^ set(node["columns"])
    assert stale == {}


def test_docs_generate_succeeds(tmp_path: Path) -> None:
    _run_dbt(tmp_path, "docs", "generate")
    catalog = json.loads((tmp_path / "t" / "catalog.json").read_text())
    assert "source.cost_pipelines.raw.llm_requests" in catalog["sources"]
