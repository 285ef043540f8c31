"""Search text is derived by the indexer, off the delivery path, and indexing yields to work."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import apsw
import pytest

from mailstead.store import Delivery, MessageCopy, default_text_extractor, sqlite_writer
from mailstead.store.sqlite import SQLiteStore

sys.path.insert(0, str(Path(__file__).parent))
from contract import DOMAIN, message


@pytest.fixture
async def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SQLiteStore]:
    # No lull-time indexing during the test: the test drives the indexer itself.
    monkeypatch.setattr(sqlite_writer, "BACKGROUND_IDLE_SECONDS", 3600.0)
    extracted: list[bytes] = []

    def extractor(raw: bytes) -> str:
        extracted.append(raw)
        return default_text_extractor(raw)

    opened = SQLiteStore(tmp_path / "mail.db", text_extractor=extractor)
    opened.extracted = extracted  # type: ignore[attr-defined]
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def pending_texts(store: SQLiteStore) -> list[str]:
    conn = apsw.Connection(str(store.path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return [row[0] for row in conn.execute("SELECT text FROM search_pending ORDER BY 1")]
    finally:
        conn.close()


async def deliver(store: SQLiteStore, account_id: int, subject: str, body: str) -> int:
    blob = message(subject, body)
    [copy] = await store.deliver(Delivery("Q", blob, [MessageCopy(account_id, b"", b"s")]))
    return copy.mailbox_id


async def test_delivery_writes_no_text_and_search_derives_it(store: SQLiteStore) -> None:
    await store.add_domain(DOMAIN)
    account = await store.add_account(f"a@{DOMAIN}", "h")
    box = await deliver(store, account.id, "Report", "the quarterly figures\r\n")
    assert pending_texts(store) == [""]  # the blob id alone waits for the indexer
    assert store.extracted == []  # type: ignore[attr-defined]
    assert await store.search(box, "quarterly") == [1]  # indexed first: never stale
    assert store.extracted == [message("Report", "the quarterly figures\r\n")]  # type: ignore[attr-defined]
    assert pending_texts(store) == []


async def test_background_indexing_stops_when_work_waits(store: SQLiteStore) -> None:
    await store.add_domain(DOMAIN)
    account = await store.add_account(f"a@{DOMAIN}", "h")
    for n in range(3):
        box = await deliver(store, account.id, f"Note {n}", f"body-word-{n}\r\n")

    def step(should_yield: bool) -> object:
        return lambda conn: (store._index_pending(conn, 64, lambda: should_yield), [])

    # Work waiting: one row (at least one, so the backlog always moves), then it yields.
    assert await store._write(step(True)) == (True, 1)
    assert len(pending_texts(store)) == 2
    assert await store._write(step(False)) == (False, 2)
    assert pending_texts(store) == []
    assert await store.search(box, "body-word-2") == [3]
    assert len(store.extracted) == 3  # type: ignore[attr-defined]


async def test_the_backlog_is_indexed_in_a_lull(store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import time

    await store.add_domain(DOMAIN)
    account = await store.add_account(f"a@{DOMAIN}", "h")
    monkeypatch.setattr(sqlite_writer, "BACKGROUND_IDLE_SECONDS", 0.05)
    box = await deliver(store, account.id, "Later", "indexed-in-a-lull\r\n")
    deadline = time.monotonic() + 60  # a bound for a loaded machine, not a speed check
    while pending_texts(store) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert pending_texts(store) == []
    assert len(store.extracted) == 1  # type: ignore[attr-defined]
    assert await store.search(box, "in-a-lull") == [1]


async def test_the_backlog_stays_bounded_without_a_lull(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No lull ever comes (see the fixture); past the debt limit every batch is followed by
    # indexing, so the backlog cannot grow with the number of deliveries.
    monkeypatch.setattr(sqlite_writer, "BACKGROUND_MAX_DEBT", 2)
    await store.add_domain(DOMAIN)
    account = await store.add_account(f"a@{DOMAIN}", "h")
    for n in range(7):
        box = await deliver(store, account.id, f"Busy {n}", f"busy-word-{n}\r\n")
    assert len(pending_texts(store)) <= 2
    assert await store.search(box, "busy-word-0") == [1]
    assert await store.search(box, "busy-word-6") == [7]
