"""A throwaway PostgreSQL server for tests that need real row locks.

The ``postgres_url`` fixture (session scope) runs ``initdb`` into a temporary folder and
starts the server on a free port, listening on a unix socket in that folder only, with
``deadlock_timeout=100ms`` so deadlock trials are quick; it stops the server at the end.
initdb refuses to run as root, so as root the server runs as the ``postgres`` user.

Where no PostgreSQL binaries exist the tests skip, unless ``ASYNCMEND_REQUIRE_PG=1``
(set by ``.ci/run``), where they fail: CI must run them.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _unavailable(reason: str) -> None:
    if os.environ.get("ASYNCMEND_REQUIRE_PG") == "1":
        pytest.fail(f"PostgreSQL is required here (ASYNCMEND_REQUIRE_PG=1): {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A SQLAlchemy URL (asyncpg driver) of a fresh, empty PostgreSQL database."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        _unavailable("PostgreSQL server binaries (initdb) not found; apt-get install postgresql")
    assert bin_dir is not None
    prefix: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="asyncmend-pg-"))
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(folder)
            _unavailable("running as root and there is no 'postgres' user to run initdb as")
        os.chown(folder, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()

    def pg(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*prefix, *args], capture_output=True, text=True, timeout=120, check=False
        )

    init = pg(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
              "-E", "UTF8", "--no-sync")  # fmt: skip
    if init.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"initdb failed:\n{init.stdout}\n{init.stderr}")
    options = (
        f"-p {port} -k {folder} -c listen_addresses='' -c deadlock_timeout=100ms "
        "-c fsync=off -c synchronous_commit=off"
    )
    start = pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l",
               str(folder / "server.log"), "-w", "start")  # fmt: skip
    if start.returncode != 0:
        log = (
            (folder / "server.log").read_text(errors="replace")
            if (folder / "server.log").exists()
            else ""
        )
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"pg_ctl start failed:\n{start.stdout}\n{start.stderr}\n{log}")
    try:
        yield f"postgresql+asyncpg://postgres@/postgres?host={folder}&port={port}"
    finally:
        pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)
