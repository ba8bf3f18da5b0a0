"""A throw-away PostgreSQL server for the tests: Debian's binaries, a cluster in a temp folder,
a unix socket there (no TCP), fsync off; removed at the end.

initdb refuses to run as root, so under root (CI, this machine) the cluster belongs to the
``postgres`` user (``nobody`` where there is none) and its programs run through ``runuser``.
Failing to start raises: tests that need it fail, they are never skipped.
"""

from __future__ import annotations

import itertools
import logging
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)
ROLE = "leadguard"
PG_ROOT = Path("/usr/lib/postgresql")


def pg_bin() -> Path:
    """The newest installed server's bin folder."""
    found = sorted(
        (p.parent for p in PG_ROOT.glob("*/bin/initdb")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not found:
        raise RuntimeError(
            f"no PostgreSQL server under {PG_ROOT}: `make setup` installs Debian's postgresql"
        )
    return found[-1]


class PgServer:
    """``durable``: fsync and synchronous commit on, as in production (for benchmarks); the
    tests run with them off."""

    def __init__(self, durable: bool = False) -> None:
        self.durable = durable
        self.bin = pg_bin()
        # short path: a unix socket path must stay under 108 bytes
        self.base = Path(tempfile.mkdtemp(prefix="lgpg-", dir="/tmp"))
        self.data = self.base / "data"
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = "postgres" if _user_exists("postgres") else "nobody"
            pw = pwd.getpwnam(self.user)
            os.chown(self.base, pw.pw_uid, pw.pw_gid)
        self.base.chmod(0o700)
        self._names = itertools.count(1)

    def _run(self, *args: str) -> None:
        cmd = [str(a) for a in args]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log_file = self.base / "server.log"
            tail = log_file.read_text()[-2000:] if log_file.exists() else ""
            raise RuntimeError(
                f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}\n{tail}"
            )

    def start(self) -> PgServer:
        self._run(
            self.bin / "initdb",
            "-D", str(self.data), "-U", ROLE, "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        options = f"-c listen_addresses='' -c unix_socket_directories={self.base} "
        options += "-c max_connections=200"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            self.bin / "pg_ctl", "-D", str(self.data), "-l", str(self.base / "server.log"),
            "-w", "-t", "60", "-o", options, "start",
        )  # fmt: skip
        return self

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://{ROLE}@/{dbname}?host={self.base}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(host=str(self.base), user=ROLE, dbname="postgres") as conn:
            conn.autocommit = True
            conn.execute(sql)

    def new_database(self) -> str:
        """A fresh empty database; its URL."""
        name = f"lg_{os.getpid()}_{next(self._names)}"
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def clone_database(self, url: str) -> str:
        """A copy of a database nobody is connected to (``CREATE DATABASE ... TEMPLATE``)."""
        name = f"lg_{os.getpid()}_{next(self._names)}"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{_name(url)}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{_name(url)}" WITH (FORCE)')

    def stop(self) -> None:
        try:
            self._run(self.bin / "pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        except RuntimeError as exc:
            log.warning("%s", exc)
        shutil.rmtree(self.base, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _name(url: str) -> str:
    from sqlalchemy.engine import make_url

    return str(make_url(url).database)


def copy_workspace(src: Path, dst: Path, server: PgServer | None) -> None:
    """Copy a closed workspace folder; on PostgreSQL its database too (the copy's settings
    file names the copy)."""
    import json
    import tomllib

    shutil.copytree(src, dst)
    settings = dst / "leadguard.toml"
    url = tomllib.loads(settings.read_text()).get("leadguard", {}).get("database_url")
    if url:
        assert server is not None, "a PostgreSQL workspace needs the server to be copied"
        text = settings.read_text().replace(json.dumps(url), json.dumps(server.clone_database(url)))
        settings.write_text(text)
