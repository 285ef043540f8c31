"""The two systems under test: where they listen, which processes are theirs, how to count
what they stored. Addresses and data dirs match bench/peer/setup.sh and
bench/mailstead/setup.sh (the bench's own range, 127.0.40.0/24)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

BENCH_DIR = Path(os.environ.get("BENCH_DIR", "/tmp/mailstead-bench"))
HERE = Path(__file__).resolve().parent


class StoreCounter(Protocol):
    def count(self) -> int: ...


@dataclass
class MaildirCounter:
    """Messages Dovecot has delivered: files in every user's Maildir/new and cur."""

    root: Path

    def count(self) -> int:
        total = 0
        try:
            users = list(os.scandir(self.root))
        except FileNotFoundError:
            return 0
        for user in users:
            for sub in ("new", "cur"):
                with contextlib.suppress(FileNotFoundError):
                    total += len(os.listdir(os.path.join(user.path, "Maildir", sub)))
        return total


@dataclass
class SqlCounter:
    """Messages in Mailstead's store, counted with a read-only SQL query through apsw.

    The query is asked of Mailstead's own bench adapter (bench/mailstead/count_messages.sql)
    so a schema change needs one file edited, not this harness."""

    db_path: Path
    query: str

    def __post_init__(self) -> None:
        self._connection = None

    def count(self) -> int:
        import apsw  # the project's SQLite; imported late so the peer bench runs without it

        if self._connection is None:
            if not self.db_path.exists():
                return 0
            self._connection = apsw.Connection(str(self.db_path), flags=apsw.SQLITE_OPEN_READONLY)
            self._connection.set_busy_timeout(5000)
        for (value,) in self._connection.execute(self.query):
            return int(value)
        return 0


@dataclass
class Target:
    name: str
    smtp: tuple[str, int]
    pop3: tuple[str, int]
    setup_script: Path
    counter: StoreCounter

    def pids(self) -> list[int]:
        """Master pids, as printed by the target's `setup.sh pids`."""
        out = subprocess.run(
            [str(self.setup_script), "pids"], check=True, capture_output=True, text=True
        ).stdout
        pids = [int(word) for word in out.split()]
        if not pids:
            raise SystemExit(f"{self.name} is not running (try {self.setup_script} start)")
        return pids

    def reset(self) -> None:
        """Stop, empty the store, start again: every run starts from the same state."""
        subprocess.run([str(self.setup_script), "reset"], check=True, stdout=subprocess.DEVNULL)


def peer() -> Target:
    return Target(
        name="postfix+dovecot",
        smtp=("127.0.40.1", 25),
        pop3=("127.0.40.2", 110),
        setup_script=HERE / "peer" / "setup.sh",
        counter=MaildirCounter(BENCH_DIR / "dovecot-mail"),
    )


def mailstead() -> Target:
    query_file = HERE / "mailstead" / "count_messages.sql"
    query = query_file.read_text() if query_file.exists() else "SELECT 0"
    return Target(
        name="mailstead",
        smtp=("127.0.40.3", 25),
        pop3=("127.0.40.3", 110),
        setup_script=HERE / "mailstead" / "setup.sh",
        counter=SqlCounter(BENCH_DIR / "ms" / "mail.db", query),
    )


TARGETS = {"peer": peer, "mailstead": mailstead}
