"""The embedded back end: SQLite through apsw, with group commit.

Why apsw and not the stdlib `sqlite3`: the stdlib module here links Debian's SQLite 3.40.1,
which is inside the range of the WAL-reset database corruption bug fixed upstream in 3.51.3
(a checkpoint racing a writer that restarts the WAL can lose committed pages), and it is too
old for FTS5 trigram with `remove_diacritics`. apsw bundles a current SQLite (3.54 here).

Connections
* One writer connection, owned by one thread (`GroupCommitWriter`): every mutation is a work
  item run there, many per transaction, each in its own SAVEPOINT; callers are answered after
  the COMMIT. WAL mode with `synchronous=FULL` makes that commit durable (the WAL is fsynced
  at every commit), so "returned" means "survives kill -9 and power loss".
* Readers: a small thread pool, one read-only connection per thread, every read in its own
  (deferred) transaction so a multi-statement read sees one snapshot. Reads never block the
  event loop and never wait for the writer (WAL).
* Other processes (the CLI while the server runs) open the same file with the same pattern:
  `BEGIN IMMEDIATE` takes the write lock up front and `busy_timeout` waits for it, so two
  writers queue instead of failing with SQLITE_BUSY half-way through a transaction.
  This back end keeps no caches of table contents, so nothing can go stale when another
  process changes accounts or aliases: every call re-queries (the queries are index look-ups
  measured in microseconds, cheaper than checking `PRAGMA data_version` and invalidating).
  Change events of another process's writes are NOT seen by this process's `changes` bus.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import apsw

from mailstead.store import names
from mailstead.store.base import (
    Account,
    Alias,
    AlreadyExists,
    DeliveredCopy,
    Delivery,
    FlagChange,
    FlagMode,
    InvalidName,
    JourneyEvent,
    Mailbox,
    MessageSummary,
    NotFound,
    Store,
    StoredMessage,
    StoreError,
    StoreStats,
)
from mailstead.store.events import ChangeBus, ChangeEvent, ChangeKind
from mailstead.store.sqlite_schema import migrate
from mailstead.store.sqlite_writer import (
    BUSY_TIMEOUT_MS,
    MAX_BATCH_ITEMS,
    GroupCommitWriter,
    Work,
)

T = TypeVar("T")
log = logging.getLogger(__name__)
TextExtractor = Callable[[bytes], str]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024
MAX_ALIAS_DEPTH = 8
# A trigram index costs ~50 ns of CPU and several bytes per character of text: a 50 MB
# text attachment would take minutes to index and bloat the database. Text beyond this is
# not searchable (Dovecot's fts plugins cap what they index too).
MAX_INDEXED_CHARS = 1_000_000

FLAG_BITS = {"\\Seen": 1, "\\Answered": 2, "\\Flagged": 4, "\\Deleted": 8, "\\Draft": 16}

_MAILBOX_COLUMNS = (
    "id, account_id, name, uidvalidity, uidnext, highest_modseq, message_count, subscribed, "
    "special_use"
)
_ACCOUNT_COLUMNS = "id, address, password_hash, created, enabled"
_SUMMARY_COLUMNS = (
    "mailbox_id, uid, size, internal_date, system_flags, keywords, modseq, blob_id, queue_id"
)


def to_micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // ONE_MICROSECOND


def from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def now_micros() -> int:
    return time.time_ns() // 1000


def encode_flags(flags: frozenset[str]) -> tuple[int, str]:
    bits = 0
    keywords = []
    for flag in flags:
        bit = FLAG_BITS.get(flag)
        if bit is None:
            keywords.append(flag)
        else:
            bits |= bit
    return bits, " ".join(sorted(keywords))


def decode_flags(bits: int, keywords: str) -> frozenset[str]:
    flags = {name for name, bit in FLAG_BITS.items() if bits & bit}
    if keywords:
        flags.update(keywords.split(" "))
    return frozenset(flags)


def _account(row: Sequence[Any]) -> Account:
    return Account(
        id=row[0], address=row[1], password_hash=row[2], created=from_micros(row[3]),
        enabled=bool(row[4]),
    )


def _mailbox(row: Sequence[Any]) -> Mailbox:
    return Mailbox(
        id=row[0], account_id=row[1], name=row[2], uidvalidity=row[3], uidnext=row[4],
        highest_modseq=row[5], message_count=row[6], subscribed=bool(row[7]),
        special_use=row[8],
    )


def _summary(row: Sequence[Any]) -> MessageSummary:
    return MessageSummary(
        mailbox_id=row[0], uid=row[1], size=row[2], internal_date=from_micros(row[3]),
        flags=decode_flags(row[4], row[5]), modseq=row[6], blob_id=row[7], queue_id=row[8],
    )


def _uid_list(uids: Sequence[int]) -> str:
    """A JSON array for `IN (SELECT value FROM json_each(?))`: one statement for any count."""
    return json.dumps(sorted({int(uid) for uid in uids}))


def _quote_fts(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class SQLiteStore(Store):
    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        read_threads: int = 2,
        max_batch_items: int = MAX_BATCH_ITEMS,
        text_extractor: TextExtractor | None = None,
    ) -> None:
        self.path = Path(path)
        # Derives a blob's search text when the indexer gets to it (see _store_blob); the
        # default (mailstead.store.default_text_extractor) imports the MIME analyser lazily.
        if text_extractor is None:
            from mailstead.store import default_text_extractor

            text_extractor = default_text_extractor
        self._text_extractor = text_extractor
        self._max_batch_items = max_batch_items
        self.changes = ChangeBus()
        self._read_threads = read_threads
        self._writer: GroupCommitWriter | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._read_connections: list[apsw.Connection] = []
        self._read_connections_lock = threading.Lock()

    # -- connections ---------------------------------------------------------------------
    def _connect_writer(self) -> apsw.Connection:
        try:
            # The data folder may not exist yet (a fresh config); mail is private: 0700.
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            conn = apsw.Connection(str(self.path))
        except (apsw.CantOpenError, OSError) as exc:
            raise StoreError(f"cannot open the database {self.path}: {exc}") from None
        conn.set_busy_timeout(BUSY_TIMEOUT_MS)
        # Several processes creating the database at once (the server and a CLI command on
        # a fresh install): during the switch to WAL, SQLite answers "locked" at once
        # instead of calling the busy handler (it would deadlock otherwise), so retry.
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                mode = self._switch_to_wal(conn)
                break
            except apsw.BusyError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        if mode != "wal":
            raise StoreError(f"{self.path}: cannot switch to WAL mode (got {mode!r})")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
        migrate(conn)
        return conn

    @staticmethod
    def _switch_to_wal(conn: apsw.Connection) -> str:
        # SQLite's default 4 KiB pages: 16 KiB ones halved the writer's system time for a
        # 100 KiB message in isolation, but gained within the noise on SMTP intake and cost
        # 10 % on the POP3 drain (each deleted 4 KiB message rewrites a 16 KiB page).
        return str(conn.execute("PRAGMA journal_mode = WAL").get)

    def _connect_checkpointer(self) -> apsw.Connection:
        conn = apsw.Connection(str(self.path))
        conn.set_busy_timeout(0)
        conn.execute("PRAGMA synchronous = FULL")
        return conn

    def _reader(self) -> apsw.Connection:
        conn: apsw.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = apsw.Connection(str(self.path), flags=apsw.SQLITE_OPEN_READONLY)
            conn.set_busy_timeout(BUSY_TIMEOUT_MS)
            self._local.conn = conn
            with self._read_connections_lock:
                self._read_connections.append(conn)
        return conn

    def _run_read(self, query: Callable[[apsw.Connection], T]) -> T:
        conn = self._reader()
        conn.execute("BEGIN")
        try:
            return query(conn)
        finally:
            conn.execute("COMMIT")

    async def _read(self, query: Callable[[apsw.Connection], T]) -> T:
        if self._readers is None:
            raise StoreError("the store is not open")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._readers, self._run_read, query)
        except apsw.Error as exc:
            raise StoreError(f"{type(exc).__name__}: {exc}") from exc

    async def _write(self, work: Work, size_hint: int = 0) -> Any:
        if self._writer is None:
            raise StoreError("the store is not open")
        return await self._writer.submit(work, size_hint)

    # -- lifecycle -----------------------------------------------------------------------
    async def open(self) -> None:
        if self._writer is not None:
            return
        writer = GroupCommitWriter(
            self._connect_writer, self.changes.publish, max_batch_items=self._max_batch_items,
            background=self._index_pending, connect_checkpointer=self._connect_checkpointer,
        )
        try:
            await asyncio.to_thread(writer.start)
        except apsw.Error as exc:
            raise StoreError(f"cannot open the database {self.path}: {exc}") from exc
        self._writer = writer
        self._readers = ThreadPoolExecutor(self._read_threads, thread_name_prefix="store-read")

    async def close(self) -> None:
        writer, readers = self._writer, self._readers
        self._writer = self._readers = None
        if readers is not None:
            await asyncio.to_thread(readers.shutdown, True)
        with self._read_connections_lock:
            connections, self._read_connections = self._read_connections, []
        for conn in connections:
            conn.close()
        if writer is not None:
            await writer.stop()

    async def check_integrity(self) -> list[str]:
        # On a fresh connection: a long-lived reader's FTS5 module reported a false
        # "checksum mismatch" after rows were deleted by another connection.
        def check() -> list[str]:
            conn = apsw.Connection(str(self.path), flags=apsw.SQLITE_OPEN_READONLY)
            try:
                conn.set_busy_timeout(BUSY_TIMEOUT_MS)
                conn.execute("BEGIN")
                return _integrity_problems(conn)
            finally:
                conn.close()

        if self._readers is None:
            raise StoreError("the store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._readers, check)

    async def stats(self) -> StoreStats:
        def query(conn: apsw.Connection) -> StoreStats:
            def count(sql: str) -> int:
                return int(conn.execute(sql).get or 0)

            stats = StoreStats(
                domains=count("SELECT count(*) FROM domains"),
                accounts=count("SELECT count(*) FROM accounts"),
                messages=count("SELECT count(*) FROM messages"),
                blobs=count("SELECT count(*) FROM blobs"),
                blob_bytes=count("SELECT coalesce(sum(size), 0) FROM blobs"),
            )
            stats.extra["schema_version"] = count("PRAGMA user_version")
            stats.extra["search_pending"] = count("SELECT count(*) FROM search_pending")
            stats.extra["search_garbage"] = count("SELECT count(*) FROM search_garbage")
            return stats

        stats = await self._read(query)
        wal = Path(f"{self.path}-wal")
        stats.extra["wal_bytes"] = wal.stat().st_size if wal.exists() else 0
        if self._writer is not None:
            stats.extra["commits"] = self._writer.commits
            stats.extra["committed_items"] = self._writer.items
        return stats

    # -- domains -------------------------------------------------------------------------
    async def add_domain(self, name: str) -> None:
        name = names.normalize_domain(name)

        def work(conn: apsw.Connection) -> tuple[None, list[ChangeEvent]]:
            try:
                conn.execute(
                    "INSERT INTO domains (name, created) VALUES (?, ?)", (name, now_micros())
                )
            except apsw.ConstraintError:
                raise AlreadyExists(f"the domain {name} exists already") from None
            return None, []

        await self._write(work)

    async def remove_domain(self, name: str) -> None:
        name = names.normalize_domain(name)

        def work(conn: apsw.Connection) -> tuple[None, list[ChangeEvent]]:
            domain_id = conn.execute("SELECT id FROM domains WHERE name = ?", (name,)).get
            if domain_id is None:
                raise NotFound(f"no domain {name}")
            accounts = conn.execute(
                "SELECT count(*) FROM accounts WHERE domain_id = ?", (domain_id,)
            ).get
            if accounts:
                raise StoreError(f"the domain {name} still has {accounts} account(s)")
            conn.execute("DELETE FROM domains WHERE id = ?", (domain_id,))
            return None, []

        await self._write(work)

    async def list_domains(self) -> list[str]:
        return await self._read(
            lambda conn: [row[0] for row in conn.execute("SELECT name FROM domains ORDER BY name")]
        )

    async def is_local_domain(self, name: str) -> bool:
        try:
            name = names.normalize_domain(name)
        except InvalidName:
            return False
        return await self._read(
            lambda conn: conn.execute("SELECT 1 FROM domains WHERE name = ?", (name,)).get
            is not None
        )

    # -- accounts ------------------------------------------------------------------------
    async def add_account(self, address: str, password_hash: str) -> Account:
        address = names.normalize_address(address)
        domain = names.domain_of(address)

        def work(conn: apsw.Connection) -> tuple[Account, list[ChangeEvent]]:
            domain_id = conn.execute("SELECT id FROM domains WHERE name = ?", (domain,)).get
            if domain_id is None:
                raise NotFound(f"{domain} is not a local domain")
            created = now_micros()
            try:
                conn.execute(
                    "INSERT INTO accounts (domain_id, address, password_hash, created) "
                    "VALUES (?, ?, ?, ?)",
                    (domain_id, address, password_hash, created),
                )
            except apsw.ConstraintError:
                raise AlreadyExists(f"the account {address} exists already") from None
            account_id = conn.last_insert_rowid()
            _insert_mailbox(conn, account_id, names.INBOX, None)
            return Account(account_id, address, password_hash, from_micros(created)), []

        return await self._write(work)

    async def remove_account(self, address: str) -> None:
        address = names.normalize_address(address)

        def work(conn: apsw.Connection) -> tuple[None, list[ChangeEvent]]:
            account_id = conn.execute(
                "SELECT id FROM accounts WHERE address = ?", (address,)
            ).get
            if account_id is None:
                raise NotFound(f"no account {address}")
            mailbox_ids = [
                row[0]
                for row in conn.execute(
                    "SELECT id FROM mailboxes WHERE account_id = ?", (account_id,)
                )
            ]
            conn.execute("DELETE FROM accounts WHERE id = ?", (account_id,))
            events = [_mailbox_event(account_id, mailbox_id) for mailbox_id in mailbox_ids]
            return None, events

        await self._write(work)

    async def set_password(self, address: str, password_hash: str) -> None:
        await self._update_account(address, "password_hash", password_hash)

    async def set_enabled(self, address: str, enabled: bool) -> None:
        """Extension: a disabled account keeps receiving mail but cannot log in."""
        await self._update_account(address, "enabled", int(enabled))

    async def _update_account(self, address: str, column: str, value: object) -> None:
        address = names.normalize_address(address)

        def work(conn: apsw.Connection) -> tuple[None, list[ChangeEvent]]:
            conn.execute(f"UPDATE accounts SET {column} = ? WHERE address = ?", (value, address))
            if conn.changes() == 0:
                raise NotFound(f"no account {address}")
            return None, []

        await self._write(work)

    async def get_account(self, address: str) -> Account | None:
        try:
            address = names.normalize_address(address)
        except InvalidName:
            return None
        return await self._read(lambda conn: _get_account(conn, address))

    async def get_account_by_id(self, account_id: int) -> Account | None:
        def query(conn: apsw.Connection) -> Account | None:
            row = conn.execute(
                f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE id = ?", (account_id,)
            ).get
            return _account(row) if row else None

        return await self._read(query)

    async def list_accounts(self, domain: str | None = None) -> list[Account]:
        if domain is None:
            sql, args = f"SELECT {_ACCOUNT_COLUMNS} FROM accounts ORDER BY address", ()
        else:
            try:
                domain = names.normalize_domain(domain)
            except InvalidName:
                return []
            sql = (
                f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE domain_id = "
                "(SELECT id FROM domains WHERE name = ?) ORDER BY address"
            )
            args = (domain,)
        return await self._read(lambda conn: [_account(row) for row in conn.execute(sql, args)])

    # -- aliases -------------------------------------------------------------------------
    async def add_alias(self, source: str, target: str) -> None:
        source, domain = names.normalize_alias_source(source)
        target = names.normalize_address(target)
        if source == target:
            raise InvalidName(f"the alias {source} points at itself")

        def work(conn: apsw.Connection) -> tuple[None, list[ChangeEvent]]:
            domain_id = conn.execute("SELECT id FROM domains WHERE name = ?", (domain,)).get
            if domain_id is None:
                raise NotFound(f"{domain} is not a local domain")
            try:
                conn.execute(
                    "INSERT INTO aliases (domain_id, source, target) VALUES (?, ?, ?)",
                    (domain_id, source, target),
                )
            except apsw.ConstraintError:
                raise AlreadyExists(f"the alias {source} -> {target} exists already") from None
            return None, []

        await self._write(work)

    async def remove_alias(self, source: str, target: str | None = None) -> None:
        source, _domain = names.normalize_alias_source(source)
        target = names.normalize_address(target) if target is not None else None

        def work(conn: apsw.Connection) -> tuple[None, list[ChangeEvent]]:
            if target is None:
                conn.execute("DELETE FROM aliases WHERE source = ?", (source,))
            else:
                conn.execute(
                    "DELETE FROM aliases WHERE source = ? AND target = ?", (source, target)
                )
            if conn.changes() == 0:
                raise NotFound(f"no alias {source}" + (f" -> {target}" if target else ""))
            return None, []

        await self._write(work)

    async def list_aliases(self, domain: str | None = None) -> list[Alias]:
        if domain is None:
            sql, args = "SELECT source, target FROM aliases ORDER BY source, target", ()
        else:
            try:
                domain = names.normalize_domain(domain)
            except InvalidName:
                return []
            sql = (
                "SELECT source, target FROM aliases WHERE domain_id = "
                "(SELECT id FROM domains WHERE name = ?) ORDER BY source, target"
            )
            args = (domain,)
        return await self._read(
            lambda conn: [Alias(row[0], row[1]) for row in conn.execute(sql, args)]
        )

    async def resolve_recipient(self, address: str) -> list[Account]:
        address = address.strip()
        if "@" not in address:
            if address.lower() != "postmaster":
                return []
            return await self._read(lambda conn: _postmaster(conn, None))
        try:
            address = names.normalize_address(address)
        except InvalidName:
            return []
        return await self._read(lambda conn: _resolve(conn, address))

    # -- mailboxes -----------------------------------------------------------------------
    async def list_mailboxes(self, account_id: int) -> list[Mailbox]:
        sql = (
            f"SELECT {_MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = ? "
            "ORDER BY name != 'INBOX', name"
        )
        return await self._read(
            lambda conn: [_mailbox(row) for row in conn.execute(sql, (account_id,))]
        )

    async def get_mailbox(self, account_id: int, name: str) -> Mailbox | None:
        try:
            name = names.normalize_mailbox_name(name)
        except InvalidName:
            return None
        return await self._read(lambda conn: _get_mailbox(conn, account_id, name))

    async def get_mailbox_by_id(self, mailbox_id: int) -> Mailbox | None:
        """Extension: the mailbox with this id (IMAP sessions hold ids, not names)."""

        def query(conn: apsw.Connection) -> Mailbox | None:
            row = conn.execute(
                f"SELECT {_MAILBOX_COLUMNS} FROM mailboxes WHERE id = ?", (mailbox_id,)
            ).get
            return _mailbox(row) if row else None

        return await self._read(query)

    async def create_mailbox(
        self, account_id: int, name: str, special_use: str | None = None
    ) -> Mailbox:
        name = names.normalize_mailbox_name(name)

        def work(conn: apsw.Connection) -> tuple[Mailbox, list[ChangeEvent]]:
            if conn.execute("SELECT 1 FROM accounts WHERE id = ?", (account_id,)).get is None:
                raise NotFound(f"no account with id {account_id}")
            mailbox_id = _insert_mailbox(conn, account_id, name, special_use)
            mailbox = _get_mailbox_by_id(conn, mailbox_id)
            return mailbox, [_mailbox_event(account_id, mailbox_id)]

        return await self._write(work)

    async def delete_mailbox(self, account_id: int, name: str) -> None:
        name = names.normalize_mailbox_name(name)
        if name == names.INBOX:
            raise InvalidName("INBOX cannot be deleted")

        def work(conn: apsw.Connection) -> tuple[None, list[ChangeEvent]]:
            mailbox_id = _mailbox_id(conn, account_id, name)
            conn.execute("DELETE FROM mailboxes WHERE id = ?", (mailbox_id,))
            return None, [_mailbox_event(account_id, mailbox_id)]

        await self._write(work)

    async def rename_mailbox(self, account_id: int, old: str, new: str) -> None:
        """Renames `old` and the mailboxes below it. Renaming INBOX moves its messages to a
        new mailbox `new` and leaves INBOX empty (RFC 9051 §6.3.6)."""
        old = names.normalize_mailbox_name(old)
        new = names.normalize_mailbox_name(new)
        if new == names.INBOX:
            raise AlreadyExists("INBOX exists already")
        if new.startswith(old + names.MAILBOX_DELIMITER):
            raise InvalidName(f"cannot move {old} below itself")

        def work(conn: apsw.Connection) -> tuple[None, list[ChangeEvent]]:
            mailbox_id = _mailbox_id(conn, account_id, old)
            if old == names.INBOX:
                return _rename_inbox(conn, account_id, mailbox_id, new)
            prefix = old + names.MAILBOX_DELIMITER
            moving = conn.execute(
                "SELECT id, name FROM mailboxes WHERE account_id = ? "
                "AND (name = ? OR substr(name, 1, ?) = ?)",
                (account_id, old, len(prefix), prefix),
            ).fetchall()
            events = []
            for moving_id, moving_name in moving:
                renamed = new + moving_name[len(old):]
                try:
                    conn.execute(
                        "UPDATE mailboxes SET name = ? WHERE id = ?", (renamed, moving_id)
                    )
                except apsw.ConstraintError:
                    raise AlreadyExists(f"the mailbox {renamed} exists already") from None
                events.append(_mailbox_event(account_id, moving_id))
            return None, events

        await self._write(work)

    async def set_subscribed(self, account_id: int, name: str, subscribed: bool) -> None:
        name = names.normalize_mailbox_name(name)

        def work(conn: apsw.Connection) -> tuple[None, list[ChangeEvent]]:
            mailbox_id = _mailbox_id(conn, account_id, name)
            conn.execute(
                "UPDATE mailboxes SET subscribed = ? WHERE id = ?", (int(subscribed), mailbox_id)
            )
            return None, []

        await self._write(work)

    # -- messages ------------------------------------------------------------------------
    async def deliver(self, delivery: Delivery) -> list[DeliveredCopy]:
        if not delivery.copies:
            raise StoreError("a delivery needs at least one copy")
        blob = delivery.blob
        copies = [
            (copy, _mailbox_name_or_inbox(copy.mailbox), names.normalize_flags(copy.flags))
            for copy in delivery.copies
        ]
        given_date = to_micros(delivery.internal_date) if delivery.internal_date else None

        def work(conn: apsw.Connection) -> tuple[list[DeliveredCopy], list[ChangeEvent]]:
            internal_date = given_date if given_date is not None else now_micros()
            for event, detail in delivery.journey:
                _insert_journey(conn, delivery.queue_id, event, detail)
            blob_id = _store_blob(conn, blob, copies[0][0].search_text)
            delivered: list[DeliveredCopy] = []
            events: list[ChangeEvent] = []
            for copy, mailbox_name, flags in copies:
                target = conn.execute(
                    "SELECT mb.id, mb.name, a.address FROM mailboxes mb "
                    "JOIN accounts a ON a.id = mb.account_id "
                    "WHERE mb.account_id = ? AND mb.name IN (?, 'INBOX') "
                    "ORDER BY mb.name = 'INBOX' LIMIT 1",
                    (copy.account_id, mailbox_name),
                ).get
                if target is None:
                    raise NotFound(f"no account with id {copy.account_id}")
                mailbox_id, stored_name, address = target
                uid, modseq = _insert_message(
                    conn, mailbox_id, blob_id, copy.prefix, len(copy.prefix) + len(blob),
                    internal_date, flags, copy.structure, delivery.queue_id,
                )
                _insert_journey(
                    conn, delivery.queue_id, "delivered",
                    f"{copy.recipient or address} -> {address} {stored_name} uid {uid}",
                )
                delivered.append(DeliveredCopy(copy.account_id, mailbox_id, uid, modseq))
                events.append(
                    ChangeEvent(ChangeKind.APPEND, copy.account_id, mailbox_id, (uid,), modseq)
                )
            return delivered, events

        return await self._write(work, size_hint=len(blob))

    async def append(
        self,
        account_id: int,
        mailbox: str,
        raw: bytes,
        structure: bytes,
        search_text: str = "",
        flags: frozenset[str] = frozenset(),
        internal_date: datetime | None = None,
    ) -> DeliveredCopy:
        mailbox = names.normalize_mailbox_name(mailbox)
        flags = names.normalize_flags(flags)
        given_date = to_micros(internal_date) if internal_date else None

        def work(conn: apsw.Connection) -> tuple[DeliveredCopy, list[ChangeEvent]]:
            mailbox_id = _mailbox_id(conn, account_id, mailbox)
            blob_id = _store_blob(conn, raw, search_text)
            uid, modseq = _insert_message(
                conn, mailbox_id, blob_id, b"", len(raw),
                given_date if given_date is not None else now_micros(), flags, structure,
            )
            event = ChangeEvent(ChangeKind.APPEND, account_id, mailbox_id, (uid,), modseq)
            return DeliveredCopy(account_id, mailbox_id, uid, modseq), [event]

        return await self._write(work, size_hint=len(raw))

    async def list_messages(self, mailbox_id: int) -> list[MessageSummary]:
        def query(conn: apsw.Connection) -> list[MessageSummary]:
            rows = conn.execute(
                f"SELECT {_SUMMARY_COLUMNS} FROM messages WHERE mailbox_id = ? ORDER BY uid",
                (mailbox_id,),
            ).fetchall()
            if not rows:
                _require_mailbox(conn, mailbox_id)
            return [_summary(row) for row in rows]

        return await self._read(query)

    async def get_message(self, mailbox_id: int, uid: int) -> StoredMessage | None:
        def query(conn: apsw.Connection) -> StoredMessage | None:
            row = conn.execute(
                f"SELECT {', '.join('m.' + c for c in _SUMMARY_COLUMNS.split(', '))}, "
                "m.prefix, b.data, m.structure FROM messages m JOIN blobs b ON b.id = m.blob_id "
                "WHERE m.mailbox_id = ? AND m.uid = ?",
                (mailbox_id, uid),
            ).get
            if row is None:
                return None
            return StoredMessage(_summary(row[:9]), bytes(row[9]) + bytes(row[10]), bytes(row[11]))

        return await self._read(query)

    async def get_structure(self, mailbox_id: int, uid: int) -> bytes | None:
        def query(conn: apsw.Connection) -> bytes | None:
            value = conn.execute(
                "SELECT structure FROM messages WHERE mailbox_id = ? AND uid = ?",
                (mailbox_id, uid),
            ).get
            return bytes(value) if value is not None else None

        return await self._read(query)

    async def search(self, mailbox_id: int, text: str) -> list[int]:
        """Extension: UIDs whose search text contains `text` (case-insensitive; accents are
        ignored for queries of 3 characters or more, which use the trigram index)."""
        if not text:
            try:
                return [summary.uid for summary in await self.list_messages(mailbox_id)]
            except NotFound:
                return []
        if len(text) >= 3:
            sql = (
                "SELECT m.uid FROM search JOIN messages m ON m.blob_id = search.rowid "
                "WHERE search MATCH ? AND m.mailbox_id = ? ORDER BY m.uid"
            )
            args: tuple[object, ...] = (_quote_fts(text), mailbox_id)
        else:
            sql = (
                "SELECT m.uid FROM messages m JOIN search ON search.rowid = m.blob_id "
                "WHERE m.mailbox_id = ? AND search.text LIKE ? ESCAPE '\\' ORDER BY m.uid"
            )
            args = (mailbox_id, _like_pattern(text))

        # Text still waiting for the background indexer is indexed now, for this mailbox
        # only, by the writer (SQLite's C code, off the loop and the GIL): searches are never
        # stale and cost the indexing once.
        def has_pending(conn: apsw.Connection) -> bool:
            return bool(
                conn.execute(
                    "SELECT EXISTS (SELECT 1 FROM messages m JOIN search_pending p "
                    "ON p.blob_id = m.blob_id WHERE m.mailbox_id = ?)",
                    (mailbox_id,),
                ).get
            )

        if await self._read(has_pending):
            await self._write(lambda conn: (self._index_pending_of_mailbox(conn, mailbox_id), []))
        return await self._read(lambda conn: [row[0] for row in conn.execute(sql, args)])

    # -- search indexing (on the writer thread) ----------------------------------------
    def _index_pending(
        self, conn: apsw.Connection, max_rows: int, should_yield: Callable[[], bool]
    ) -> tuple[bool, int]:
        """Background step: drop up to `max_rows` index rows of freed blobs, then index up to
        `max_rows` pending blobs, one at a time, stopping early when `should_yield()`.
        (more of either left, rows done)."""
        garbage = conn.execute(
            "SELECT blob_id FROM search_garbage ORDER BY blob_id LIMIT ?", (max_rows,)
        ).fetchall()
        _drop_index_rows(conn, [row[0] for row in garbage])
        pending = conn.execute(
            "SELECT blob_id, text FROM search_pending ORDER BY blob_id LIMIT ?", (max_rows,)
        ).fetchall()
        done = 0
        for row in pending:
            if done and should_yield():
                break
            self._index_rows(conn, [row])
            done += 1
        more = len(garbage) == max_rows or len(pending) == max_rows or done < len(pending)
        return more, len(garbage) + done

    def _index_pending_of_mailbox(self, conn: apsw.Connection, mailbox_id: int) -> None:
        rows = conn.execute(
            "SELECT p.blob_id, p.text FROM search_pending p WHERE p.blob_id IN "
            "(SELECT blob_id FROM messages WHERE mailbox_id = ?)",
            (mailbox_id,),
        ).fetchall()
        self._index_rows(conn, rows)

    def _index_rows(self, conn: apsw.Connection, rows: list[tuple[int, str]]) -> None:
        if not rows:
            return
        ids = json.dumps([blob_id for blob_id, _text in rows])
        texts = [(blob_id, text or self._derive_text(conn, blob_id)) for blob_id, text in rows]
        # A reused blob id may still have the index row of the blob it replaced.
        reused = conn.execute(
            "SELECT blob_id FROM search_garbage WHERE blob_id IN (SELECT value FROM json_each(?))",
            (ids,),
        ).fetchall()
        _drop_index_rows(conn, [row[0] for row in reused])
        # OR REPLACE: should an index row with this id survive anyway, a stale row must not
        # stop indexing for good.
        conn.executemany("INSERT OR REPLACE INTO search (rowid, text) VALUES (?, ?)", texts)
        conn.execute(
            "DELETE FROM search_pending WHERE blob_id IN (SELECT value FROM json_each(?))", (ids,)
        )

    def _derive_text(self, conn: apsw.Connection, blob_id: int) -> str:
        """The blob's search text, extracted now (a pending row without caller-given text)."""
        data = conn.execute("SELECT data FROM blobs WHERE id = ?", (blob_id,)).get
        if data is None:
            return ""
        try:
            return self._text_extractor(data)[:MAX_INDEXED_CHARS]
        except Exception:
            # Never let one odd message stop the indexer for good: it stays unsearchable.
            log.exception("cannot extract the search text of blob %s", blob_id)
            return ""

    async def set_flags(
        self,
        mailbox_id: int,
        uids: Sequence[int],
        flags: frozenset[str],
        mode: FlagMode,
        unchanged_since: int | None = None,
    ) -> list[FlagChange]:
        changed, _refused = await self.set_flags_conditional(
            mailbox_id, uids, flags, mode, unchanged_since
        )
        return changed

    async def set_flags_conditional(
        self,
        mailbox_id: int,
        uids: Sequence[int],
        flags: frozenset[str],
        mode: FlagMode,
        unchanged_since: int | None = None,
    ) -> tuple[list[FlagChange], list[int]]:
        """Extension of `set_flags` for CONDSTORE: also returns the UIDs left alone because
        their modseq was above `unchanged_since` (the MODIFIED response code, RFC 7162)."""
        flags = names.normalize_flags(flags)
        uid_json = _uid_list(uids)

        def work(
            conn: apsw.Connection,
        ) -> tuple[tuple[list[FlagChange], list[int]], list[ChangeEvent]]:
            account_id = _require_mailbox(conn, mailbox_id)
            rows = conn.execute(
                "SELECT id, uid, system_flags, keywords, modseq FROM messages "
                "WHERE mailbox_id = ? AND uid IN (SELECT value FROM json_each(?)) ORDER BY uid",
                (mailbox_id, uid_json),
            ).fetchall()
            refused: list[int] = []
            updates: list[tuple[int, int, frozenset[str]]] = []
            for message_id, uid, bits, keywords, modseq in rows:
                if unchanged_since is not None and modseq > unchanged_since:
                    refused.append(uid)
                    continue
                current = decode_flags(bits, keywords)
                new = names.apply_flag_mode(current, flags, mode)
                if new != current:
                    updates.append((message_id, uid, new))
            if not updates:
                return ([], refused), []
            modseq = _next_modseq(conn, mailbox_id)
            conn.executemany(
                "UPDATE messages SET system_flags = ?, keywords = ?, modseq = ? WHERE id = ?",
                [(*encode_flags(new), modseq, message_id) for message_id, _uid, new in updates],
            )
            changes = [FlagChange(uid, new, modseq) for _id, uid, new in updates]
            event = ChangeEvent(
                ChangeKind.FLAGS, account_id, mailbox_id, tuple(c.uid for c in changes), modseq
            )
            return (changes, refused), [event]

        return await self._write(work)

    async def expunge(self, mailbox_id: int, uids: Sequence[int]) -> list[int]:
        uid_json = _uid_list(uids)

        def work(conn: apsw.Connection) -> tuple[list[int], list[ChangeEvent]]:
            account_id = _require_mailbox(conn, mailbox_id)
            removed, events = _expunge(conn, account_id, mailbox_id, uid_json)
            return removed, events

        return await self._write(work)

    async def copy_messages(
        self, mailbox_id: int, uids: Sequence[int], target_mailbox_id: int
    ) -> list[tuple[int, int]]:
        uid_json = _uid_list(uids)

        def work(conn: apsw.Connection) -> tuple[list[tuple[int, int]], list[ChangeEvent]]:
            _require_mailbox(conn, mailbox_id)
            return _copy(conn, mailbox_id, uid_json, target_mailbox_id)

        return await self._write(work)

    async def move_messages(
        self, mailbox_id: int, uids: Sequence[int], target_mailbox_id: int
    ) -> list[tuple[int, int]]:
        """Extension (IMAP MOVE, RFC 6851): copy and expunge in one transaction."""
        uid_json = _uid_list(uids)

        def work(conn: apsw.Connection) -> tuple[list[tuple[int, int]], list[ChangeEvent]]:
            account_id = _require_mailbox(conn, mailbox_id)
            pairs, events = _copy(conn, mailbox_id, uid_json, target_mailbox_id)
            if pairs and target_mailbox_id != mailbox_id:
                moved = json.dumps([old for old, _new in pairs])
                events += _expunge(conn, account_id, mailbox_id, moved)[1]
            return pairs, events

        return await self._write(work)

    async def changed_since(self, mailbox_id: int, modseq: int) -> list[MessageSummary]:
        """Extension (CONDSTORE CHANGEDSINCE): messages whose modseq is above `modseq`."""

        def query(conn: apsw.Connection) -> list[MessageSummary]:
            _require_mailbox(conn, mailbox_id)
            return [
                _summary(row)
                for row in conn.execute(
                    f"SELECT {_SUMMARY_COLUMNS} FROM messages WHERE mailbox_id = ? AND modseq > ? "
                    "ORDER BY uid",
                    (mailbox_id, modseq),
                )
            ]

        return await self._read(query)

    async def expunged_since(self, mailbox_id: int, modseq: int) -> list[int]:
        """Extension (QRESYNC VANISHED): UIDs expunged with a modseq above `modseq`."""

        def query(conn: apsw.Connection) -> list[int]:
            _require_mailbox(conn, mailbox_id)
            return [
                row[0]
                for row in conn.execute(
                    "SELECT uid FROM expunged WHERE mailbox_id = ? AND modseq > ? ORDER BY uid",
                    (mailbox_id, modseq),
                )
            ]

        return await self._read(query)

    # -- journey -------------------------------------------------------------------------
    async def record_journeys(self, records: Sequence[tuple[str, str, str]]) -> None:
        rows = list(records)
        if not rows:
            return

        def work(conn: apsw.Connection) -> tuple[None, list[ChangeEvent]]:
            at = now_micros()
            conn.executemany(
                "INSERT INTO journey (queue_id, at, event, detail) VALUES (?, ?, ?, ?)",
                [(queue_id, at, event, detail) for queue_id, event, detail in rows],
            )
            return None, []

        await self._write(work)

    async def record_journey(self, queue_id: str, event: str, detail: str = "") -> None:
        def work(conn: apsw.Connection) -> tuple[None, list[ChangeEvent]]:
            _insert_journey(conn, queue_id, event, detail)
            return None, []

        await self._write(work)

    async def journey(self, queue_id: str) -> list[JourneyEvent]:
        def query(conn: apsw.Connection) -> list[JourneyEvent]:
            return [
                JourneyEvent(queue_id, from_micros(at), event, detail)
                for at, event, detail in conn.execute(
                    "SELECT at, event, detail FROM journey WHERE queue_id = ? ORDER BY at, id",
                    (queue_id,),
                )
            ]

        return await self._read(query)

    async def read_raw_messages(self, mailbox_id: int, uids: Sequence[int]) -> dict[int, bytes]:
        uid_json = _uid_list(uids)

        def query(conn: apsw.Connection) -> dict[int, bytes]:
            return {
                uid: bytes(prefix) + bytes(data)
                for uid, prefix, data in conn.execute(
                    "SELECT m.uid, m.prefix, b.data FROM messages m JOIN blobs b ON b.id = m.blob_id"
                    " WHERE m.mailbox_id = ? AND m.uid IN (SELECT value FROM json_each(?))",
                    (mailbox_id, uid_json),
                )
            }

        return await self._read(query)


# -- helpers run on the writer or a reader thread ---------------------------------------

def _mailbox_event(account_id: int, mailbox_id: int) -> ChangeEvent:
    return ChangeEvent(ChangeKind.MAILBOX, account_id, mailbox_id, (), 0)


def _mailbox_name_or_inbox(name: str) -> str:
    try:
        return names.normalize_mailbox_name(name)
    except InvalidName:
        return names.INBOX


def _get_account(conn: apsw.Connection, address: str) -> Account | None:
    row = conn.execute(
        f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE address = ?", (address,)
    ).get
    return _account(row) if row else None


def _get_mailbox(conn: apsw.Connection, account_id: int, name: str) -> Mailbox | None:
    row = conn.execute(
        f"SELECT {_MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = ? AND name = ?",
        (account_id, name),
    ).get
    return _mailbox(row) if row else None


def _get_mailbox_by_id(conn: apsw.Connection, mailbox_id: int) -> Mailbox:
    row = conn.execute(f"SELECT {_MAILBOX_COLUMNS} FROM mailboxes WHERE id = ?", (mailbox_id,)).get
    if row is None:
        raise NotFound(f"no mailbox with id {mailbox_id}")
    return _mailbox(row)


def _mailbox_id(conn: apsw.Connection, account_id: int, name: str) -> int:
    mailbox_id = conn.execute(
        "SELECT id FROM mailboxes WHERE account_id = ? AND name = ?", (account_id, name)
    ).get
    if mailbox_id is None:
        raise NotFound(f"no mailbox {name!r} for account {account_id}")
    return int(mailbox_id)


def _require_mailbox(conn: apsw.Connection, mailbox_id: int) -> int:
    """The mailbox's account id; NotFound when the mailbox does not exist."""
    account_id = conn.execute("SELECT account_id FROM mailboxes WHERE id = ?", (mailbox_id,)).get
    if account_id is None:
        raise NotFound(f"no mailbox with id {mailbox_id}")
    return int(account_id)


def _new_uidvalidity(conn: apsw.Connection) -> int:
    """Seconds since the epoch, but strictly increasing across the database: a mailbox
    deleted and re-created within one second must not reuse its UIDVALIDITY."""
    last = conn.execute("SELECT value FROM meta WHERE key = 'uidvalidity'").get or 0
    value = max(int(time.time()), int(last) + 1) & 0xFFFFFFFF
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('uidvalidity', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (value,),
    )
    return value


def _insert_mailbox(
    conn: apsw.Connection, account_id: int, name: str, special_use: str | None
) -> int:
    try:
        conn.execute(
            "INSERT INTO mailboxes (account_id, name, uidvalidity, special_use) "
            "VALUES (?, ?, ?, ?)",
            (account_id, name, _new_uidvalidity(conn), special_use),
        )
    except apsw.ConstraintError:
        raise AlreadyExists(f"the mailbox {name!r} exists already") from None
    return conn.last_insert_rowid()


def _rename_inbox(
    conn: apsw.Connection, account_id: int, inbox_id: int, new: str
) -> tuple[None, list[ChangeEvent]]:
    new_id = _insert_mailbox(conn, account_id, new, None)
    uids = [
        row[0]
        for row in conn.execute(
            "SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid", (inbox_id,)
        )
    ]
    # Moving rows with UPDATE fires no insert/delete trigger: counts are moved by hand.
    conn.execute(
        "UPDATE mailboxes SET (uidnext, highest_modseq, message_count) = "
        "(SELECT uidnext, highest_modseq, ? FROM mailboxes WHERE id = ?) WHERE id = ?",
        (len(uids), inbox_id, new_id),
    )
    conn.execute("UPDATE messages SET mailbox_id = ? WHERE mailbox_id = ?", (new_id, inbox_id))
    events = [_mailbox_event(account_id, new_id)]
    if uids:
        modseq = _next_modseq(conn, inbox_id)
        conn.execute("UPDATE mailboxes SET message_count = 0 WHERE id = ?", (inbox_id,))
        conn.executemany(
            "INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq) VALUES (?, ?, ?)",
            [(inbox_id, uid, modseq) for uid in uids],
        )
        events.append(ChangeEvent(ChangeKind.EXPUNGE, account_id, inbox_id, tuple(uids), modseq))
    return None, events


def _expunge(
    conn: apsw.Connection, account_id: int, mailbox_id: int, uid_json: str
) -> tuple[list[int], list[ChangeEvent]]:
    removed = sorted(
        row[0]
        for row in conn.execute(
            "DELETE FROM messages WHERE mailbox_id = ? "
            "AND uid IN (SELECT value FROM json_each(?)) RETURNING uid",
            (mailbox_id, uid_json),
        )
    )
    if not removed:
        return [], []
    modseq = _next_modseq(conn, mailbox_id)
    conn.executemany(
        "INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq) VALUES (?, ?, ?)",
        [(mailbox_id, uid, modseq) for uid in removed],
    )
    return removed, [
        ChangeEvent(ChangeKind.EXPUNGE, account_id, mailbox_id, tuple(removed), modseq)
    ]


def _copy(
    conn: apsw.Connection, mailbox_id: int, uid_json: str, target_mailbox_id: int
) -> tuple[list[tuple[int, int]], list[ChangeEvent]]:
    target_account = _require_mailbox(conn, target_mailbox_id)
    rows = conn.execute(
        "SELECT uid, blob_id, prefix, size, internal_date, system_flags, keywords, structure, "
        "queue_id FROM messages WHERE mailbox_id = ? "
        "AND uid IN (SELECT value FROM json_each(?)) ORDER BY uid",
        (mailbox_id, uid_json),
    ).fetchall()
    if not rows:
        return [], []
    first_uid, modseq = conn.execute(
        "UPDATE mailboxes SET uidnext = uidnext + ?, highest_modseq = highest_modseq + 1 "
        "WHERE id = ? RETURNING uidnext - ?, highest_modseq",
        (len(rows), target_mailbox_id, len(rows)),
    ).get
    pairs = [(row[0], first_uid + i) for i, row in enumerate(rows)]
    conn.executemany(
        "INSERT INTO messages (mailbox_id, uid, blob_id, prefix, size, internal_date, modseq, "
        "system_flags, keywords, structure, queue_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (target_mailbox_id, new_uid, *row[1:5], modseq, *row[5:9])
            for (_old, new_uid), row in zip(pairs, rows, strict=True)
        ],
    )
    event = ChangeEvent(
        ChangeKind.APPEND, target_account, target_mailbox_id,
        tuple(new for _old, new in pairs), modseq,
    )
    return pairs, [event]


def _next_modseq(conn: apsw.Connection, mailbox_id: int) -> int:
    return int(
        conn.execute(
            "UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = ? "
            "RETURNING highest_modseq",
            (mailbox_id,),
        ).get
    )


def _store_blob(conn: apsw.Connection, data: bytes, search_text: str) -> int:
    """The blob's id, inserting it unless the same bytes are stored. The pending index row
    holds the caller's search text, or '' (the usual case): the indexer then derives the
    text from the blob itself, so a delivery writes no text on its way to the 250."""
    digest = hashlib.sha256(data).digest()
    blob_id = conn.execute("SELECT id FROM blobs WHERE sha256 = ?", (digest,)).get
    if blob_id is not None:
        return int(blob_id)
    conn.execute(
        "INSERT INTO blobs (sha256, size, data) VALUES (?, ?, ?)", (digest, len(data), data)
    )
    blob_id = conn.last_insert_rowid()
    # Indexed later by the writer (`SQLiteStore._index_pending`): the FTS insert and the
    # text extraction cost ~10x the rest.
    conn.execute(
        "INSERT INTO search_pending (blob_id, text) VALUES (?, ?)",
        (blob_id, search_text[:MAX_INDEXED_CHARS]),
    )
    return blob_id


def _drop_index_rows(conn: apsw.Connection, blob_ids: list[int]) -> None:
    if not blob_ids:
        return
    conn.executemany("DELETE FROM search WHERE rowid = ?", [(blob_id,) for blob_id in blob_ids])
    conn.executemany(
        "DELETE FROM search_garbage WHERE blob_id = ?", [(blob_id,) for blob_id in blob_ids]
    )


def _insert_message(
    conn: apsw.Connection,
    mailbox_id: int,
    blob_id: int,
    prefix: bytes,
    size: int,
    internal_date: int,
    flags: frozenset[str],
    structure: bytes,
    queue_id: str = "",
) -> tuple[int, int]:
    uid, modseq = conn.execute(
        "UPDATE mailboxes SET uidnext = uidnext + 1, highest_modseq = highest_modseq + 1 "
        "WHERE id = ? RETURNING uidnext - 1, highest_modseq",
        (mailbox_id,),
    ).get
    bits, keywords = encode_flags(flags)
    conn.execute(
        "INSERT INTO messages (mailbox_id, uid, blob_id, prefix, size, internal_date, modseq, "
        "system_flags, keywords, structure, queue_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            mailbox_id, uid, blob_id, prefix, size, internal_date, modseq, bits, keywords,
            structure, queue_id,
        ),
    )
    return uid, modseq


def _insert_journey(conn: apsw.Connection, queue_id: str, event: str, detail: str) -> None:
    conn.execute(
        "INSERT INTO journey (queue_id, at, event, detail) VALUES (?, ?, ?, ?)",
        (queue_id, now_micros(), event, detail),
    )


def _resolve(conn: apsw.Connection, address: str) -> list[Account]:
    domain = names.domain_of(address)
    if conn.execute("SELECT 1 FROM domains WHERE name = ?", (domain,)).get is None:
        return []
    found: dict[int, Account] = {}
    _expand(conn, address, 0, set(), found)
    if not found and address.partition("@")[0] == "postmaster":
        return _postmaster(conn, domain)
    return list(found.values())


def _expand(
    conn: apsw.Connection, address: str, depth: int, seen: set[str], found: dict[int, Account]
) -> None:
    """Account, else aliases (recursively, at most MAX_ALIAS_DEPTH deep), else catch-all."""
    if address in seen or depth > MAX_ALIAS_DEPTH:
        return
    seen.add(address)
    account = _get_account(conn, address)
    if account is not None:
        found.setdefault(account.id, account)
        return
    targets = [
        row[0]
        for row in conn.execute(
            "SELECT target FROM aliases WHERE source = ? ORDER BY id", (address,)
        )
    ]
    if not targets:
        domain = names.domain_of(address)
        targets = [
            row[0]
            for row in conn.execute(
                "SELECT target FROM aliases WHERE source = ? ORDER BY id", (f"@{domain}",)
            )
        ]
    for target in targets:
        _expand(conn, target, depth + 1, seen, found)


def _postmaster(conn: apsw.Connection, domain: str | None) -> list[Account]:
    """RFC 5321 §4.5.1: postmaster always works. The postmaster alias (already tried by the
    caller for a domain), else the domain's first account, else the first of any domain."""
    if domain is None:
        for (name,) in conn.execute("SELECT name FROM domains ORDER BY id").fetchall():
            found: dict[int, Account] = {}
            _expand(conn, f"postmaster@{name}", 0, set(), found)
            if found:
                return list(found.values())
    sql = f"SELECT {_ACCOUNT_COLUMNS} FROM accounts"
    if domain is not None:
        row = conn.execute(
            f"{sql} WHERE domain_id = (SELECT id FROM domains WHERE name = ?) ORDER BY id LIMIT 1",
            (domain,),
        ).get
        if row:
            return [_account(row)]
    # The first domain (in creation order) that has accounts: its first account.
    row = conn.execute(
        f"{sql} WHERE id = (SELECT a.id FROM accounts a JOIN domains d ON d.id = a.domain_id "
        "ORDER BY d.id, a.id LIMIT 1)"
    ).get
    return [_account(row)] if row else []


def _integrity_problems(conn: apsw.Connection) -> list[str]:
    problems = [
        f"integrity_check: {row[0]}"
        for row in conn.execute("PRAGMA integrity_check")
        if row[0] != "ok"
    ]
    problems += [
        f"foreign key: {table} row {rowid} -> {parent}"
        for table, rowid, parent, _fk in conn.execute("PRAGMA foreign_key_check")
    ]
    checks = {
        "message without its blob": (
            "SELECT m.mailbox_id || '/' || m.uid FROM messages m "
            "LEFT JOIN blobs b ON b.id = m.blob_id WHERE b.id IS NULL"
        ),
        "blob with a wrong refcount": (
            "SELECT b.id || ' has ' || b.refcount || ', referenced ' || count(m.id) "
            "FROM blobs b LEFT JOIN messages m ON m.blob_id = b.id GROUP BY b.id "
            "HAVING b.refcount != count(m.id) OR b.refcount <= 0"
        ),
        "blob with a wrong size": "SELECT id FROM blobs WHERE size != length(data)",
        "message with a wrong size": (
            "SELECT m.mailbox_id || '/' || m.uid FROM messages m JOIN blobs b ON b.id = m.blob_id "
            "WHERE m.size != length(m.prefix) + b.size"
        ),
        "mailbox with uidnext <= a UID": (
            "SELECT mb.id FROM mailboxes mb JOIN messages m ON m.mailbox_id = mb.id "
            "GROUP BY mb.id HAVING max(m.uid) >= mb.uidnext"
        ),
        "mailbox with highest_modseq < a message's modseq": (
            "SELECT mb.id FROM mailboxes mb JOIN messages m ON m.mailbox_id = mb.id "
            "GROUP BY mb.id HAVING max(m.modseq) > mb.highest_modseq"
        ),
        "mailbox with a wrong message_count": (
            "SELECT mb.id FROM mailboxes mb LEFT JOIN messages m ON m.mailbox_id = mb.id "
            "GROUP BY mb.id HAVING count(m.id) != mb.message_count"
        ),
        "account without INBOX": (
            "SELECT a.address FROM accounts a WHERE NOT EXISTS "
            "(SELECT 1 FROM mailboxes mb WHERE mb.account_id = a.id AND mb.name = 'INBOX')"
        ),
        "blob without search text": (
            "SELECT b.id FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM search WHERE rowid = b.id)"
            " AND NOT EXISTS (SELECT 1 FROM search_pending WHERE blob_id = b.id)"
        ),
        "blob both indexed and pending": (
            "SELECT p.blob_id FROM search_pending p JOIN search s ON s.rowid = p.blob_id "
            "WHERE NOT EXISTS (SELECT 1 FROM search_garbage WHERE blob_id = p.blob_id)"
        ),
        "search text without its blob": (
            "SELECT s.rowid FROM search s WHERE NOT EXISTS (SELECT 1 FROM blobs WHERE id = s.rowid)"
            " AND NOT EXISTS (SELECT 1 FROM search_garbage WHERE blob_id = s.rowid)"
        ),
        "index garbage shadowing a live, indexed blob": (
            "SELECT g.blob_id FROM search_garbage g JOIN blobs b ON b.id = g.blob_id "
            "WHERE NOT EXISTS (SELECT 1 FROM search_pending WHERE blob_id = g.blob_id)"
        ),
    }
    for what, sql in checks.items():
        problems += [f"{what}: {row[0]}" for row in conn.execute(sql)]
    return problems
