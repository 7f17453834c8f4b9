"""Real servers on loopback for the integration tests: moto (AWS APIs over HTTP) and PostgreSQL."""

import socket
from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer

from tests.postgres_server import PostgresParams, PostgresUnavailable, postgres_server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
