"""A PostgreSQL server for tests: the one named by COST_PIPELINES_TEST_POSTGRES_URL, or a throwaway cluster.

The throwaway cluster lives in a temporary directory on a free loopback port and is always stopped and removed
on exit. PostgreSQL refuses to run as root, so as root every server command runs as the `postgres` user.
"""

import glob
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from tests.net import free_port

URL_ENV = "COST_PIPELINES_TEST_POSTGRES_URL"
SERVER_USER = "postgres"


class PostgresUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class PostgresParams:
    host: str
    port: int
    user: str
    password: str
    dbname: str


def _bin_dir() -> Path:
    if found := shutil.which("initdb"):
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not candidates:
        raise PostgresUnavailable(f"no initdb on PATH or in /usr/lib/postgresql/*/bin, and {URL_ENV} is not set")
    return Path(candidates[-1]).parent


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", SERVER_USER, "--", *command] if os.geteuid() == 0 else command


def _run(command: list[str], **kwargs: object) -> None:
    subprocess.run(_as_server_user(command), check=True, capture_output=True, timeout=120, **kwargs)


def _create_database(port: int, password: str, name: str) -> None:
    import psycopg2

    con = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", password=password, dbname="postgres")
    try:
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        con.close()


@contextmanager
def postgres_server() -> Iterator[PostgresParams]:
    if url := os.environ.get(URL_ENV):
        parsed = urlparse(url)
        yield PostgresParams(parsed.hostname or "127.0.0.1", parsed.port or 5432, parsed.username or "postgres",
                             parsed.password or "", parsed.path.lstrip("/") or "postgres")  # fmt: skip
        return
    bin_dir = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="pg-test-"))
    data, sockets, password_file = root / "data", root / "sockets", root / "pwfile"
    password, port = secrets.token_hex(12), free_port()
    sockets.mkdir()
    password_file.write_text(password + "\n")
    if os.geteuid() == 0:
        shutil.chown(root, SERVER_USER)
        shutil.chown(sockets, SERVER_USER)
        shutil.chown(password_file, SERVER_USER)
    started = False
    try:
        _run([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--pwfile", str(password_file),
              "-A", "scram-sha-256", "--no-sync"])  # fmt: skip
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "server.log"), "-w",
              "-t", "60", "start"])  # fmt: skip
        started = True
        _create_database(port, password, "dagster")
        yield PostgresParams("127.0.0.1", port, "postgres", password, "dagster")
    finally:
        if started:
            _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "-t", "60", "stop"])
        shutil.rmtree(root, ignore_errors=True)
