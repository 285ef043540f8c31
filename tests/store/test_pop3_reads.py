"""Contract of `Store.read_raw_messages` (POP3's batched read), run on the SQLite back end:
for every uid asked and still present it gives exactly `get_message(...).raw`."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mailstead.store import Delivery, MessageCopy, Store, open_store

# The suite runs with --import-mode=importlib, which puts no test folder on sys.path.
sys.path.insert(0, str(Path(__file__).parent))
from contract import DOMAIN, analysed, message


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_store(f"sqlite://{tmp_path / 'mail.db'}")
    try:
        yield opened
    finally:
        await opened.close()


async def _inbox_with_messages(store: Store, address: str, count: int) -> int:
    account = await store.add_account(address, "hash")
    for i in range(count):
        blob = message(f"m{i}", body=f".line {i}\r\nnot CRLF-terminated")
        structure, text = analysed(blob)
        prefix = f"Return-Path: <s@remote.test>\r\nDelivered-To: {address}\r\n".encode()
        copy = MessageCopy(account.id, prefix, structure, text, recipient=address)
        await store.deliver(Delivery(f"Q{address}{i}", blob, [copy]))
    mailbox = await store.get_mailbox(account.id, "INBOX")
    assert mailbox is not None
    return mailbox.id


async def test_batch_read_matches_get_message(store: Store) -> None:
    await store.add_domain(DOMAIN)
    box = await _inbox_with_messages(store, f"alice@{DOMAIN}", 5)
    other = await _inbox_with_messages(store, f"bob@{DOMAIN}", 2)
    await store.expunge(box, [2])
    got = await store.read_raw_messages(box, [5, 1, 2, 3, 3, 99])
    assert sorted(got) == [1, 3, 5]  # expunged and unknown uids are left out
    for uid, raw in got.items():
        stored = await store.get_message(box, uid)
        assert stored is not None and raw == stored.raw
    # Another mailbox's uids are never read through this one.
    assert set(await store.read_raw_messages(other, [1, 2, 3])) == {1, 2}
    assert (await store.read_raw_messages(other, [1]))[1] != got[1]
    assert await store.read_raw_messages(box, []) == {}
    assert await store.read_raw_messages(987654, [1]) == {}
