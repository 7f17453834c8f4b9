"""Real servers on loopback for the integration tests: moto (AWS APIs over HTTP) and PostgreSQL."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from tests.net import free_port
from tests.postgres_server import PostgresParams, PostgresUnavailable, postgres_server


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresParams]:
    try:
        with postgres_server() as params:
            yield params
    except PostgresUnavailable as exc:
        pytest.skip(f"NO POSTGRESQL SERVER: {exc}")


PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def postgres_dagster_home(postgres: PostgresParams, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DAGSTER_HOME with the shipped dagster.postgres.yaml, its connection variables pointing at the test server."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
    for name, value in {"DAGSTER_PG_HOST": postgres.host, "DAGSTER_PG_PORT": str(postgres.port),
                        "DAGSTER_PG_USER": postgres.user, "DAGSTER_PG_PASSWORD": postgres.password,
                        "DAGSTER_PG_DB": postgres.dbname}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    return home
