"""The store contract run against the SQLite back end, plus what only SQLite has."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import apsw
import pytest

from mailstead.store import Delivery, MessageCopy, Store, create_store, open_store
from mailstead.store.sqlite import SQLiteStore
from mailstead.store.sqlite_schema import SCHEMA_VERSION

# The suite runs with --import-mode=importlib, which puts no test folder on sys.path.
sys.path.insert(0, str(Path(__file__).parent))
from contract import DOMAIN, StoreContract, delivery, message


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path / 'mail.db'}"


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = await open_store(store_url)
    try:
        yield opened
    finally:
        await opened.close()


class TestSQLiteContract(StoreContract):
    pass


def test_url_selects_sqlite(tmp_path: Path) -> None:
    created = create_store(f"sqlite://{tmp_path / 'x.db'}")
    assert isinstance(created, SQLiteStore) and created.path == tmp_path / "x.db"


async def test_connection_settings(store: SQLiteStore) -> None:
    conn = apsw.Connection(str(store.path))
    try:
        assert conn.execute("PRAGMA journal_mode").get == "wal"
        assert conn.execute("PRAGMA user_version").get == SCHEMA_VERSION
    finally:
        conn.close()
    assert apsw.sqlite_lib_version() >= "3.51.3"  # past the WAL-reset corruption fix


async def test_group_commit_batches_concurrent_writers(store: SQLiteStore) -> None:
    await store.add_domain(DOMAIN)
    account = await store.add_account(f"a@{DOMAIN}", "h")
    before = await store.stats()
    await asyncio.gather(
        *(store.deliver(delivery(f"Q{i}", message(f"m{i}"), account.id)) for i in range(200))
    )
    after = await store.stats()
    items = after.extra["committed_items"] - before.extra["committed_items"]
    commits = after.extra["commits"] - before.extra["commits"]
    assert items == 200
    assert commits < items  # callers that waited together shared one commit


async def test_schema_migrations_run_once(tmp_path: Path) -> None:
    path = tmp_path / "mail.db"
    for _ in range(2):
        store = SQLiteStore(path)
        await store.open()
        assert (await store.stats()).extra["schema_version"] == SCHEMA_VERSION
        await store.close()


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mail.db"
    conn = apsw.Connection(str(path))
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    from mailstead.store import StoreError

    with pytest.raises(StoreError, match="newer"):
        await open_store(f"sqlite://{path}")


async def test_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    from mailstead.store import StoreError

    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(StoreError):
        await open_store(f"sqlite://{tmp_path / 'a-file' / 'mail.db'}")


async def test_missing_data_folder_is_created(tmp_path: Path) -> None:
    store = await open_store(f"sqlite://{tmp_path / 'new' / 'data' / 'mail.db'}")
    await store.close()
    assert (tmp_path / "new" / "data" / "mail.db").exists()


async def test_checkpoint_truncates_the_wal(store: SQLiteStore) -> None:
    await store.add_domain(DOMAIN)
    account = await store.add_account(f"a@{DOMAIN}", "h")
    for i in range(20):
        await store.deliver(delivery(f"Q{i}", message(f"m{i}", "x" * 20_000), account.id))
    wal = Path(f"{store.path}-wal")
    assert wal.stat().st_size > 0
    await store.close()  # closing checkpoints with TRUNCATE
    assert not wal.exists() or wal.stat().st_size == 0


async def test_a_growing_wal_is_checkpointed_beside_the_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailstead.store import sqlite_writer

    monkeypatch.setattr(sqlite_writer, "CHECKPOINT_WAL_BYTES", 256 * 1024)
    # No idle TRUNCATE checkpoint in the writer during the test: only the thread beside it.
    monkeypatch.setattr(sqlite_writer, "IDLE_CHECKPOINT_SECONDS", 3600.0)
    store = SQLiteStore(tmp_path / "mail.db")
    await store.open()
    try:
        await store.add_domain(DOMAIN)
        account = await store.add_account(f"a@{DOMAIN}", "h")
        writer = store._writer
        assert writer is not None and writer._checkpointer is not None
        for i in range(40):  # 40 x 50 KB: the WAL passes the threshold several times
            await store.deliver(delivery(f"Q{i}", message(f"m{i}", "x" * 50_000), account.id))
        deadline = time.monotonic() + 60  # a bound for a loaded machine, not a speed check
        while writer._checkpointer.checkpoints < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert writer._checkpointer.checkpoints >= 2
        assert writer.checkpoints == 0  # the writer itself never checkpointed
        # The WAL was restarted from its beginning instead of growing with every message.
        assert Path(f"{store.path}-wal").stat().st_size < 40 * 50_000
        # And what the checkpoints copied is all there, in the database file itself.
        await store.close()
        conn = apsw.Connection(str(store.path), flags=apsw.SQLITE_OPEN_READONLY)
        try:
            assert conn.execute("SELECT count(*) FROM messages").get == 40
            assert conn.execute("PRAGMA integrity_check").get == "ok"
        finally:
            conn.close()
    finally:
        await store.close()


async def wait_until_indexed(store: SQLiteStore) -> None:
    deadline = time.monotonic() + 60  # a bound for a loaded machine, not a speed check
    while time.monotonic() < deadline:
        if (await store.stats()).extra["search_pending"] == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the writer never indexed the pending search text")


async def test_search_reads_the_index_and_the_pending_text(store: SQLiteStore) -> None:
    await store.add_domain(DOMAIN)
    account = await store.add_account(f"a@{DOMAIN}", "h")
    inbox = await store.get_mailbox(account.id, "INBOX")
    assert inbox is not None
    await store.deliver(delivery("Q1", message("Crème brûlée", "Déjà vu.\r\n"), account.id))
    await wait_until_indexed(store)
    conn = apsw.Connection(str(store.path))
    try:
        assert conn.execute("SELECT count(*) FROM search").get == 1
    finally:
        conn.close()
    await store.deliver(delivery("Q2", message("Creme", "deja VU again\r\n"), account.id))
    for query in ["DEJA VU", "déjà", "brulee", "vu", "e"]:
        # uid 1 from the index (or pending, if not yet indexed), uid 2 from either
        found = await store.search(inbox.id, query)
        assert 1 in found or query == "brulee", query
    assert await store.search(inbox.id, "brulee") == [1]
    assert await store.search(inbox.id, "deja vu") == [1, 2]
    await wait_until_indexed(store)
    assert await store.search(inbox.id, "deja vu") == [1, 2]
    assert await store.check_integrity() == []


async def test_processes_opening_a_fresh_database_at_once(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'mail.db'}"
    code = (
        "import asyncio, sys\n"
        "from mailstead.store import open_store\n"
        "async def main():\n"
        "    store = await open_store(sys.argv[1])\n"
        "    await store.add_domain(sys.argv[2])\n"
        "    await store.close()\n"
        "asyncio.run(main())\n"
    )
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, url, f"d{i}.test", stderr=asyncio.subprocess.PIPE
        )
        for i in range(4)
    ]
    for process in processes:
        _out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()
    store = await open_store(url)
    try:
        assert await store.list_domains() == [f"d{i}.test" for i in range(4)]
        assert (await store.stats()).extra["schema_version"] == SCHEMA_VERSION
    finally:
        await store.close()


async def test_a_crashing_work_item_fails_alone(store: SQLiteStore) -> None:
    await store.add_domain(DOMAIN)

    def broken(conn: apsw.Connection) -> tuple[None, list[object]]:
        conn.execute("INSERT INTO domains (name, created) VALUES ('half.test', 0)")
        raise ZeroDivisionError("bug in a work item")

    results = await asyncio.gather(
        store.add_domain("one.test"),
        store._write(broken),  # type: ignore[arg-type]
        store.add_domain("two.test"),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], ZeroDivisionError)
    assert await store.list_domains() == ["example.test", "one.test", "two.test"]


async def test_a_cancelled_caller_still_gets_its_write_committed(store: SQLiteStore) -> None:
    await store.add_domain(DOMAIN)
    account = await store.add_account(f"a@{DOMAIN}", "h")
    task = asyncio.create_task(store.deliver(delivery("Q1", message(), account.id)))
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await store.record_journey("Q2", "barrier")  # runs after the cancelled delivery
    inbox = await store.get_mailbox(account.id, "INBOX")
    assert inbox is not None and inbox.message_count == 1


async def test_a_closed_store_refuses_calls(tmp_path: Path) -> None:
    from mailstead.store import StoreError

    store = await open_store(f"sqlite://{tmp_path / 'mail.db'}")
    await store.close()
    with pytest.raises(StoreError):
        await store.add_domain(DOMAIN)
    with pytest.raises(StoreError):
        await store.list_domains()


async def test_wal_is_reset_once_a_long_reader_lets_go(store: SQLiteStore) -> None:
    await store.add_domain(DOMAIN)
    account = await store.add_account(f"a@{DOMAIN}", "h")
    reader = apsw.Connection(str(store.path), flags=apsw.SQLITE_OPEN_READONLY)
    wal = Path(f"{store.path}-wal")
    try:
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM messages").get == 0  # an old snapshot
        for i in range(30):
            await store.deliver(delivery(f"Q{i}", message(f"m{i}", "x" * 30_000), account.id))
        grown = wal.stat().st_size
        assert grown > 30 * 30_000  # no reset while the reader holds its snapshot
        reader.execute("COMMIT")
    finally:
        reader.close()
    # The idle writer retries a TRUNCATE checkpoint (without ever waiting for readers).
    deadline = time.monotonic() + 60  # a bound for a loaded machine, not a speed check
    while wal.stat().st_size != 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert wal.stat().st_size == 0
    inbox = await store.get_mailbox(account.id, "INBOX")
    assert inbox is not None and inbox.message_count == 30


async def test_indexed_text_is_bounded(store: SQLiteStore) -> None:
    from mailstead.store.sqlite import MAX_INDEXED_CHARS

    await store.add_domain(DOMAIN)
    account = await store.add_account(f"a@{DOMAIN}", "h")
    text = "a" * MAX_INDEXED_CHARS + " needle-beyond-the-cap"
    copy = MessageCopy(account.id, b"", b"s", "needle-within " + text)
    [d] = await store.deliver(Delivery("Q1", b"big message\r\n", [copy]))
    assert await store.search(d.mailbox_id, "needle-within") == [1]
    assert await store.search(d.mailbox_id, "needle-beyond") == []


async def test_a_version_1_database_is_migrated(tmp_path: Path) -> None:
    from mailstead.store.sqlite_schema import MIGRATIONS

    path = tmp_path / "mail.db"
    conn = apsw.Connection(str(path))
    conn.execute("PRAGMA journal_mode = WAL")
    MIGRATIONS[0](conn)
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO domains (name, created) VALUES ('example.test', 0);"
        "INSERT INTO accounts (domain_id, address, password_hash, created) "
        "VALUES (1, 'a@example.test', 'h', 0);"
        "INSERT INTO mailboxes (account_id, name, uidvalidity, uidnext, highest_modseq) "
        "VALUES (1, 'INBOX', 7, 2, 2);"
        "INSERT INTO blobs (sha256, size, data) VALUES (x'00', 5, x'6869210d0a');"
        "INSERT INTO search (rowid, text) VALUES (1, 'hi there');"
        "INSERT INTO messages (mailbox_id, uid, blob_id, size, internal_date, modseq, structure)"
        " VALUES (1, 1, 1, 5, 0, 2, x'');"
    )
    conn.close()
    store = await open_store(f"sqlite://{path}")
    try:
        assert (await store.stats()).extra["schema_version"] == SCHEMA_VERSION
        assert await store.check_integrity() == []
        [summary] = await store.list_messages(1)
        assert summary.queue_id == "" and summary.size == 5
        assert await store.search(1, "there") == [1]
        [d] = await store.deliver(delivery("Q1", message(), 1))
        assert d.uid == 2
    finally:
        await store.close()


async def test_check_integrity_reports_broken_invariants(store: SQLiteStore) -> None:
    await store.add_domain(DOMAIN)
    account = await store.add_account(f"a@{DOMAIN}", "h")
    await store.deliver(delivery("Q1", message(), account.id))
    assert await store.check_integrity() == []
    conn = apsw.Connection(str(store.path))
    try:
        conn.set_busy_timeout(5000)
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("UPDATE blobs SET refcount = 5")
        conn.execute("UPDATE mailboxes SET uidnext = 1, message_count = 7")
        conn.execute("DELETE FROM mailboxes WHERE name = 'INBOX'")
    finally:
        conn.close()
    problems = "\n".join(await store.check_integrity())
    for expected in ["wrong refcount", "account without INBOX", "foreign key"]:
        assert expected in problems, problems


async def wait_until_background_done(store: SQLiteStore) -> None:
    deadline = time.monotonic() + 60  # a bound for a loaded machine, not a speed check
    while time.monotonic() < deadline:
        extra = (await store.stats()).extra
        if extra["search_pending"] == 0 and extra["search_garbage"] == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the writer never finished its background work")


async def test_freed_index_rows_never_leak_into_a_reused_blob_id(store: SQLiteStore) -> None:
    await store.add_domain(DOMAIN)
    alice = await store.add_account(f"alice@{DOMAIN}", "h")
    bob = await store.add_account(f"bob@{DOMAIN}", "h")
    [a] = await store.deliver(delivery("Q1", message("secret", "alpha-secret-words\r\n"), alice.id))
    await wait_until_indexed(store)
    [summary] = await store.list_messages(a.mailbox_id)
    await store.expunge(a.mailbox_id, [a.uid])  # the index row is only queued for removal
    [b] = await store.deliver(delivery("Q2", message("other", "bravo words\r\n"), bob.id))
    [reused] = await store.list_messages(b.mailbox_id)
    assert reused.blob_id == summary.blob_id  # SQLite handed out the freed id again
    assert await store.search(b.mailbox_id, "alpha-secret") == []
    assert await store.search(b.mailbox_id, "bravo") == [b.uid]
    assert await store.check_integrity() == []
    await wait_until_background_done(store)
    assert await store.search(b.mailbox_id, "alpha-secret") == []
    assert await store.search(b.mailbox_id, "bravo") == [b.uid]
    assert await store.check_integrity() == []


async def test_expunge_queues_index_removal(store: SQLiteStore) -> None:
    await store.add_domain(DOMAIN)
    account = await store.add_account(f"a@{DOMAIN}", "h")
    for i in range(10):
        await store.deliver(delivery(f"Q{i}", message(f"m{i}", f"word{i}x\r\n"), account.id))
    await wait_until_indexed(store)
    inbox = await store.get_mailbox(account.id, "INBOX")
    assert inbox is not None
    await store.expunge(inbox.id, range(1, 11))
    assert await store.search(inbox.id, "word3x") == []
    await wait_until_background_done(store)
    conn = apsw.Connection(str(store.path))
    try:
        assert conn.execute("SELECT count(*) FROM search").get == 0
    finally:
        conn.close()
    assert await store.check_integrity() == []
