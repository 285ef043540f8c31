"""The store contract: what every back end must do, written against the abstract `Store`.

A back end's test module subclasses `StoreContract` and provides two fixtures:

* `store_url`: a URL `mailstead.store.open_store` opens (a fresh, empty store per test);
* `store`: an opened `Store` for that URL (closed after the test).

Everything else here goes through the public interface only, so the PostgreSQL back end runs
the very same tests by adding its two fixtures. Tests that need another process run
`python -c` with `open_store(url)`, so they too work for any back end.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import pytest

from mailstead.store import (
    AlreadyExists,
    ChangeKind,
    Delivery,
    FlagMode,
    InvalidName,
    MessageCopy,
    NotFound,
    Store,
    StoreError,
    open_store,
)

try:  # the MIME module arrives in parallel; the store treats structure as opaque bytes
    from mailstead.mime import analyse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - depends on the tree's state
    analyse = None

DOMAIN = "example.test"
SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src")


def message(subject: str = "Hello", body: str = "Hello, world.\r\n") -> bytes:
    return (
        f"Received: from client.test by mx.example.test\r\n"
        f"From: Sender <sender@remote.test>\r\nTo: alice@{DOMAIN}\r\n"
        f"Subject: {subject}\r\nMessage-ID: <{subject}@remote.test>\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    ).encode()


def analysed(raw: bytes) -> tuple[bytes, str]:
    """(structure, search_text) as delivery computes them, or placeholders without mime."""
    if analyse is not None:
        info = analyse(raw)
        return info.dumps(), info.search_text()
    return b"structure:" + raw[:16], raw.decode("utf-8", "replace")


def copy_for(account_id: int, blob: bytes, recipient: str = "", **kw: object) -> MessageCopy:
    """A copy as delivery builds it: no search text, the back end derives it from the blob."""
    prefix = f"Delivered-To: {recipient or account_id}\r\n".encode()
    structure, _text = analysed(prefix + blob)
    return MessageCopy(account_id, prefix, structure, recipient=recipient, **kw)  # type: ignore[arg-type]


def delivery(queue_id: str, blob: bytes, *account_ids: int, **kw: object) -> Delivery:
    copies = [copy_for(a, blob, f"user{a}@{DOMAIN}") for a in account_ids]
    return Delivery(queue_id, blob, copies, **kw)  # type: ignore[arg-type]


def run_python(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.path.abspath(SRC))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True, text=True, timeout=timeout, env=env, check=False,
    )


class StoreContract:
    # -- helpers -------------------------------------------------------------------------
    @pytest.fixture
    async def domain(self, store: Store) -> str:
        await store.add_domain(DOMAIN)
        return DOMAIN

    @pytest.fixture
    async def alice(self, store: Store, domain: str):  # type: ignore[no-untyped-def]
        return await store.add_account(f"alice@{domain}", "hash-alice")

    @pytest.fixture
    async def bob(self, store: Store, domain: str):  # type: ignore[no-untyped-def]
        return await store.add_account(f"bob@{domain}", "hash-bob")

    async def inbox_id(self, store: Store, account_id: int) -> int:
        mailbox = await store.get_mailbox(account_id, "INBOX")
        assert mailbox is not None
        return mailbox.id

    # -- lifecycle -----------------------------------------------------------------------
    async def test_fresh_store_is_sound_and_empty(self, store: Store) -> None:
        assert await store.check_integrity() == []
        stats = await store.stats()
        assert (stats.domains, stats.accounts, stats.messages, stats.blobs) == (0, 0, 0, 0)

    async def test_close_is_idempotent(self, store_url: str) -> None:
        other = await open_store(store_url)
        await other.close()
        await other.close()

    async def test_reopen_keeps_everything(self, store: Store, store_url: str, alice) -> None:  # type: ignore[no-untyped-def]
        await store.deliver(delivery("Q1", message(), alice.id))
        await store.close()
        again = await open_store(store_url)
        try:
            account = await again.get_account(alice.address)
            assert account == alice
            inbox = await again.get_mailbox(alice.id, "INBOX")
            assert inbox is not None and inbox.message_count == 1
            assert await again.check_integrity() == []
        finally:
            await again.close()

    # -- domains -------------------------------------------------------------------------
    async def test_domains(self, store: Store) -> None:
        await store.add_domain("Example.TEST")
        await store.add_domain("other.test")
        assert await store.list_domains() == ["example.test", "other.test"]
        assert await store.is_local_domain("EXAMPLE.test")
        assert await store.is_local_domain("example.test.")
        assert not await store.is_local_domain("nowhere.test")
        assert not await store.is_local_domain("not a domain")
        with pytest.raises(AlreadyExists):
            await store.add_domain("example.TEST")
        await store.remove_domain("OTHER.test")
        assert await store.list_domains() == ["example.test"]
        with pytest.raises(NotFound):
            await store.remove_domain("other.test")

    @pytest.mark.parametrize("name", ["", "a b.test", "@x.test", "a..test", "-a.test", "x_y.test"])
    async def test_invalid_domain_names(self, store: Store, name: str) -> None:
        with pytest.raises(InvalidName):
            await store.add_domain(name)

    async def test_domain_with_accounts_cannot_be_removed(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        with pytest.raises(StoreError):
            await store.remove_domain(DOMAIN)
        assert await store.is_local_domain(DOMAIN)

    async def test_removing_a_domain_removes_its_aliases(self, store: Store, domain: str) -> None:
        await store.add_alias(f"info@{domain}", "someone@remote.test")
        await store.remove_domain(domain)
        assert await store.list_aliases() == []

    # -- accounts ------------------------------------------------------------------------
    async def test_add_account_creates_inbox(self, store: Store, domain: str) -> None:
        account = await store.add_account(f"Alice@{domain.upper()}", "h1")
        assert account.address == f"alice@{domain}"
        assert account.enabled and account.password_hash == "h1"
        assert account.created.tzinfo is not None
        mailboxes = await store.list_mailboxes(account.id)
        assert [m.name for m in mailboxes] == ["INBOX"]
        inbox = mailboxes[0]
        assert (inbox.uidnext, inbox.message_count) == (1, 0)
        assert inbox.uidvalidity > 0

    async def test_account_lookup_is_case_insensitive(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        assert await store.get_account("ALICE@Example.Test") == alice
        assert await store.get_account_by_id(alice.id) == alice
        assert await store.get_account("nobody@example.test") is None
        assert await store.get_account("not an address") is None
        assert await store.get_account_by_id(alice.id + 1000) is None

    async def test_account_errors(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        with pytest.raises(AlreadyExists):
            await store.add_account("ALICE@example.test", "h")
        with pytest.raises(NotFound):
            await store.add_account("carol@nowhere.test", "h")
        for bad in ["", "alice", "@example.test", "a b@example.test", "a@b@", "<a>@example.test"]:
            with pytest.raises(InvalidName):
                await store.add_account(bad, "h")
        with pytest.raises(NotFound):
            await store.set_password("nobody@example.test", "h")
        with pytest.raises(NotFound):
            await store.remove_account("nobody@example.test")

    async def test_list_accounts(self, store: Store, alice, bob) -> None:  # type: ignore[no-untyped-def]
        await store.add_domain("other.test")
        carol = await store.add_account("carol@other.test", "h")
        assert await store.list_accounts() == [alice, bob, carol]
        assert await store.list_accounts("EXAMPLE.test") == [alice, bob]
        assert await store.list_accounts("nowhere.test") == []

    async def test_set_password(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        await store.set_password("Alice@example.test", "new-hash")
        account = await store.get_account(alice.address)
        assert account is not None and account.password_hash == "new-hash"

    async def test_set_enabled(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        await store.set_enabled(alice.address, False)
        account = await store.get_account(alice.address)
        assert account is not None and not account.enabled
        await store.set_enabled(alice.address, True)
        account = await store.get_account(alice.address)
        assert account is not None and account.enabled
        with pytest.raises(NotFound):
            await store.set_enabled("nobody@example.test", False)

    async def test_remove_account_removes_its_mail(self, store: Store, alice, bob) -> None:  # type: ignore[no-untyped-def]
        await store.deliver(delivery("Q1", message("shared"), alice.id, bob.id))
        await store.deliver(delivery("Q2", message("own"), alice.id))
        await store.remove_account(alice.address)
        assert await store.get_account(alice.address) is None
        assert await store.list_mailboxes(alice.id) == []
        stats = await store.stats()
        assert (stats.accounts, stats.messages, stats.blobs) == (1, 1, 1)
        assert await store.check_integrity() == []

    # -- aliases -------------------------------------------------------------------------
    async def test_aliases(self, store: Store, alice, bob) -> None:  # type: ignore[no-untyped-def]
        await store.add_alias("Info@example.test", "alice@example.test")
        await store.add_alias("info@example.test", "BOB@example.test")
        await store.add_alias("@example.test", "alice@example.test")
        aliases = await store.list_aliases()
        assert [(a.source, a.target) for a in aliases] == [
            ("@example.test", "alice@example.test"),
            ("info@example.test", "alice@example.test"),
            ("info@example.test", "bob@example.test"),
        ]
        assert await store.list_aliases("example.test") == aliases
        assert await store.list_aliases("nowhere.test") == []
        with pytest.raises(AlreadyExists):
            await store.add_alias("info@example.test", "alice@example.test")
        with pytest.raises(NotFound):
            await store.add_alias("info@nowhere.test", "alice@example.test")
        with pytest.raises(InvalidName):
            await store.add_alias("info@example.test", "not an address")
        with pytest.raises(InvalidName):
            await store.add_alias("info@example.test", "info@example.test")
        await store.remove_alias("info@example.test", "bob@example.test")
        assert len(await store.list_aliases()) == 2
        await store.remove_alias("INFO@example.test")
        assert [a.source for a in await store.list_aliases()] == ["@example.test"]
        with pytest.raises(NotFound):
            await store.remove_alias("info@example.test")
        with pytest.raises(NotFound):
            await store.remove_alias("@example.test", "bob@example.test")

    async def test_resolve_account(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        assert await store.resolve_recipient("alice@example.test") == [alice]
        assert await store.resolve_recipient("ALICE@EXAMPLE.TEST") == [alice]
        assert await store.resolve_recipient("nobody@example.test") == []
        assert await store.resolve_recipient("alice@remote.test") == []
        assert await store.resolve_recipient("") == []
        assert await store.resolve_recipient("alice") == []

    async def test_resolve_aliases_recursively(self, store: Store, alice, bob) -> None:  # type: ignore[no-untyped-def]
        await store.add_alias("team@example.test", "alice@example.test")
        await store.add_alias("team@example.test", "all@example.test")
        await store.add_alias("all@example.test", "bob@example.test")
        await store.add_alias("all@example.test", "alice@example.test")
        await store.add_alias("all@example.test", "outside@remote.test")
        assert await store.resolve_recipient("Team@example.test") == [alice, bob]

    async def test_alias_loops_are_bounded(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        await store.add_alias("a@example.test", "b@example.test")
        await store.add_alias("b@example.test", "a@example.test")
        assert await store.resolve_recipient("a@example.test") == []
        chain = [f"l{i}@example.test" for i in range(30)]
        for source, target in itertools.pairwise(chain):
            await store.add_alias(source, target)
        await store.add_alias(chain[-1], alice.address)
        assert await store.resolve_recipient(chain[-2]) == [alice]
        assert await store.resolve_recipient(chain[0]) == []  # deeper than the bound

    async def test_catch_all_only_when_nothing_else_matches(self, store: Store, alice, bob) -> None:  # type: ignore[no-untyped-def]
        await store.add_alias("@example.test", "bob@example.test")
        await store.add_alias("sales@example.test", "alice@example.test")
        assert await store.resolve_recipient("anything@example.test") == [bob]
        assert await store.resolve_recipient("alice@example.test") == [alice]
        assert await store.resolve_recipient("sales@example.test") == [alice]

    async def test_postmaster_always_resolves(self, store: Store, domain: str) -> None:
        assert await store.resolve_recipient(f"postmaster@{domain}") == []  # nobody at all
        await store.add_domain("other.test")
        carol = await store.add_account("carol@other.test", "h")
        # no account in example.test: the first account of any domain
        assert await store.resolve_recipient(f"postmaster@{domain}") == [carol]
        alice = await store.add_account(f"alice@{domain}", "h")
        bob = await store.add_account(f"bob@{domain}", "h")
        assert await store.resolve_recipient(f"PostMaster@{domain}") == [alice]
        assert await store.resolve_recipient("postmaster") == [alice]
        await store.add_alias(f"postmaster@{domain}", bob.address)
        assert await store.resolve_recipient(f"postmaster@{domain}") == [bob]
        assert await store.resolve_recipient("Postmaster") == [bob]
        assert await store.resolve_recipient("postmaster@remote.test") == []

    # -- mailboxes -----------------------------------------------------------------------
    async def test_get_mailbox(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        inbox = await store.get_mailbox(alice.id, "inbox")
        assert inbox is not None and inbox.name == "INBOX" and inbox.account_id == alice.id
        assert await store.get_mailbox(alice.id, "InBoX") == inbox
        assert await store.get_mailbox_by_id(inbox.id) == inbox
        assert await store.get_mailbox_by_id(inbox.id + 1000) is None
        assert await store.get_mailbox(alice.id, "Archive") is None
        assert await store.get_mailbox(alice.id + 1000, "INBOX") is None

    async def test_create_mailbox(self, store: Store, alice, bob) -> None:  # type: ignore[no-untyped-def]
        sent = await store.create_mailbox(alice.id, "Sent", special_use="\\Sent")
        assert sent.name == "Sent" and sent.special_use == "\\Sent" and sent.uidnext == 1
        await store.create_mailbox(alice.id, "Archive/2026")
        await store.create_mailbox(alice.id, "Ünïcode")
        await store.create_mailbox(bob.id, "Sent")
        names = [m.name for m in await store.list_mailboxes(alice.id)]
        assert names[0] == "INBOX" and sorted(names) == sorted(
            ["INBOX", "Sent", "Archive/2026", "Ünïcode"]
        )
        assert await store.get_mailbox(alice.id, "sent") is None  # only INBOX ignores case
        with pytest.raises(AlreadyExists):
            await store.create_mailbox(alice.id, "Sent")
        with pytest.raises(AlreadyExists):
            await store.create_mailbox(alice.id, "inbox")
        with pytest.raises(NotFound):
            await store.create_mailbox(alice.id + 1000, "Sent")
        for bad in ["", "/x", "x/", "a//b", "a*", "a%", "tab\there"]:
            with pytest.raises(InvalidName):
                await store.create_mailbox(alice.id, bad)

    async def test_recreated_mailbox_gets_a_new_uidvalidity(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        first = await store.create_mailbox(alice.id, "Box")
        await store.delete_mailbox(alice.id, "Box")
        second = await store.create_mailbox(alice.id, "Box")
        assert second.uidvalidity != first.uidvalidity

    async def test_delete_mailbox(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        box = await store.create_mailbox(alice.id, "Box")
        await store.append(alice.id, "Box", message(), *analysed(message()))
        await store.delete_mailbox(alice.id, "Box")
        assert await store.get_mailbox(alice.id, "Box") is None
        assert await store.get_mailbox_by_id(box.id) is None
        assert (await store.stats()).blobs == 0
        with pytest.raises(NotFound):
            await store.delete_mailbox(alice.id, "Box")
        with pytest.raises(InvalidName):
            await store.delete_mailbox(alice.id, "INBOX")

    async def test_rename_mailbox_with_children(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        work = await store.create_mailbox(alice.id, "Work")
        await store.create_mailbox(alice.id, "Work/2026")
        await store.create_mailbox(alice.id, "Workshop")
        await store.rename_mailbox(alice.id, "Work", "Job")
        names = sorted(m.name for m in await store.list_mailboxes(alice.id))
        assert names == ["INBOX", "Job", "Job/2026", "Workshop"]
        job = await store.get_mailbox(alice.id, "Job")
        assert job is not None and job.id == work.id and job.uidvalidity == work.uidvalidity
        with pytest.raises(NotFound):
            await store.rename_mailbox(alice.id, "Work", "Other")
        with pytest.raises(AlreadyExists):
            await store.rename_mailbox(alice.id, "Job", "Workshop")
        with pytest.raises(AlreadyExists):
            await store.rename_mailbox(alice.id, "Job", "INBOX")

    async def test_rename_inbox_moves_its_messages(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        await store.deliver(delivery("Q1", message("one"), alice.id))
        await store.deliver(delivery("Q2", message("two"), alice.id))
        await store.rename_mailbox(alice.id, "INBOX", "Old")
        inbox = await store.get_mailbox(alice.id, "INBOX")
        old = await store.get_mailbox(alice.id, "Old")
        assert inbox is not None and old is not None
        assert inbox.message_count == 0 and await store.list_messages(inbox.id) == []
        assert [m.uid for m in await store.list_messages(old.id)] == [1, 2]
        assert old.message_count == 2 and old.uidnext == 3
        copies = await store.deliver(delivery("Q3", message("three"), alice.id))
        assert copies[0].mailbox_id == inbox.id and copies[0].uid == 3
        assert await store.check_integrity() == []

    async def test_subscriptions(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        await store.create_mailbox(alice.id, "Box")
        await store.set_subscribed(alice.id, "Box", False)
        box = await store.get_mailbox(alice.id, "Box")
        assert box is not None and not box.subscribed
        await store.set_subscribed(alice.id, "Box", True)
        box = await store.get_mailbox(alice.id, "Box")
        assert box is not None and box.subscribed
        with pytest.raises(NotFound):
            await store.set_subscribed(alice.id, "Nope", True)

    # -- delivery ------------------------------------------------------------------------
    async def test_deliver_and_read_back(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        blob = message()
        copy = copy_for(alice.id, blob, alice.address)
        when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        [delivered] = await store.deliver(Delivery("Q1", blob, [copy], internal_date=when))
        inbox_id = await self.inbox_id(store, alice.id)
        assert (delivered.account_id, delivered.mailbox_id, delivered.uid) == (
            alice.id, inbox_id, 1,
        )
        [summary] = await store.list_messages(inbox_id)
        assert summary.uid == 1 and summary.size == len(copy.prefix) + len(blob)
        assert summary.internal_date == when and summary.flags == frozenset()
        assert summary.modseq == delivered.modseq
        assert summary.queue_id == "Q1"
        stored = await store.get_message(inbox_id, 1)
        assert stored is not None
        assert stored.raw == copy.prefix + blob
        assert stored.structure == copy.structure
        assert stored.summary == summary
        assert await store.get_structure(inbox_id, 1) == copy.structure
        assert await store.get_message(inbox_id, 2) is None
        assert await store.get_structure(inbox_id, 2) is None
        inbox = await store.get_mailbox(alice.id, "INBOX")
        assert inbox is not None and inbox.uidnext == 2 and inbox.message_count == 1
        assert inbox.highest_modseq >= delivered.modseq

    async def test_internal_date_defaults_to_now(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        before = datetime.now(UTC)
        await store.deliver(delivery("Q1", message(), alice.id))
        [summary] = await store.list_messages(await self.inbox_id(store, alice.id))
        assert before.timestamp() - 1 <= summary.internal_date.timestamp()
        assert summary.internal_date.timestamp() <= datetime.now(UTC).timestamp() + 1

    async def test_uids_increase(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        for i in range(5):
            await store.deliver(delivery(f"Q{i}", message(f"m{i}"), alice.id))
        summaries = await store.list_messages(await self.inbox_id(store, alice.id))
        assert [s.uid for s in summaries] == [1, 2, 3, 4, 5]
        modseqs = [s.modseq for s in summaries]
        assert modseqs == sorted(set(modseqs))

    async def test_blob_is_stored_once_for_many_recipients(self, store: Store, domain: str) -> None:
        accounts = [await store.add_account(f"u{i}@{domain}", "h") for i in range(20)]
        blob = message("big", "x" * 50_000 + "\r\n")
        delivered = await store.deliver(delivery("Q1", blob, *(a.id for a in accounts)))
        assert len(delivered) == 20
        stats = await store.stats()
        assert stats.messages == 20 and stats.blobs == 1
        assert stats.blob_bytes == len(blob)
        summaries = [
            (await store.list_messages(copy.mailbox_id))[0] for copy in delivered
        ]
        assert len({s.blob_id for s in summaries}) == 1
        for account, copy in zip(accounts, delivered, strict=True):
            stored = await store.get_message(copy.mailbox_id, copy.uid)
            assert stored is not None
            assert stored.raw == f"Delivered-To: user{account.id}@{DOMAIN}\r\n".encode() + blob

    async def test_blob_freed_after_last_expunge(self, store: Store, alice, bob) -> None:  # type: ignore[no-untyped-def]
        delivered = await store.deliver(delivery("Q1", message(), alice.id, bob.id))
        await store.expunge(delivered[0].mailbox_id, [delivered[0].uid])
        assert (await store.stats()).blobs == 1
        stored = await store.get_message(delivered[1].mailbox_id, delivered[1].uid)
        assert stored is not None
        await store.expunge(delivered[1].mailbox_id, [delivered[1].uid])
        stats = await store.stats()
        assert (stats.messages, stats.blobs, stats.blob_bytes) == (0, 0, 0)
        assert await store.check_integrity() == []

    async def test_deliver_to_named_mailbox_and_fallback(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        box = await store.create_mailbox(alice.id, "Lists")
        blob = message()
        copies = [
            copy_for(alice.id, blob, mailbox="Lists"),
            copy_for(alice.id, blob, mailbox="Missing"),
            copy_for(alice.id, blob, mailbox="bad//name"),
        ]
        delivered = await store.deliver(Delivery("Q1", blob, copies))
        inbox_id = await self.inbox_id(store, alice.id)
        assert [d.mailbox_id for d in delivered] == [box.id, inbox_id, inbox_id]
        assert [d.uid for d in delivered] == [1, 1, 2]

    async def test_deliver_with_flags(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        blob = message()
        copy = copy_for(alice.id, blob, flags=frozenset({"\\seen", "$Junk"}))
        [delivered] = await store.deliver(Delivery("Q1", blob, [copy]))
        [summary] = await store.list_messages(delivered.mailbox_id)
        assert summary.flags == {"\\Seen", "$Junk"}

    async def test_delivery_is_atomic(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        blob = message()
        with pytest.raises(NotFound):
            await store.deliver(delivery("Q1", blob, alice.id, alice.id + 1000))
        stats = await store.stats()
        assert (stats.messages, stats.blobs) == (0, 0)
        assert await store.journey("Q1") == []
        inbox = await store.get_mailbox(alice.id, "INBOX")
        assert inbox is not None and inbox.uidnext == 1
        with pytest.raises(StoreError):
            await store.deliver(Delivery("Q2", blob, []))

    async def test_failed_delivery_does_not_fail_its_neighbours(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        results = await asyncio.gather(
            *(
                store.deliver(delivery(f"Q{i}", message(f"m{i}"), alice.id if i % 3 else 99999))
                for i in range(30)
            ),
            return_exceptions=True,
        )
        failed = [r for r in results if isinstance(r, BaseException)]
        assert len(failed) == 10 and all(isinstance(r, NotFound) for r in failed)
        summaries = await store.list_messages(await self.inbox_id(store, alice.id))
        assert [s.uid for s in summaries] == list(range(1, 21))

    async def test_append(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        await store.create_mailbox(alice.id, "Sent")
        raw = message("sent")
        structure, text = analysed(raw)
        when = datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC)
        copy = await store.append(
            alice.id, "Sent", raw, structure, text, frozenset({"\\Seen"}), when
        )
        assert copy.uid == 1
        stored = await store.get_message(copy.mailbox_id, 1)
        assert stored is not None and stored.raw == raw and stored.structure == structure
        assert stored.summary.flags == {"\\Seen"} and stored.summary.internal_date == when
        assert stored.summary.size == len(raw)
        assert stored.summary.queue_id == ""
        with pytest.raises(NotFound):
            await store.append(alice.id, "Nope", raw, structure, text)
        with pytest.raises(InvalidName):
            await store.append(alice.id, "Sent", raw, structure, text, frozenset({"\\Recent"}))

    async def test_identical_bytes_share_a_blob(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        raw = message("same")
        structure, text = analysed(raw)
        await store.append(alice.id, "INBOX", raw, structure, text)
        await store.append(alice.id, "INBOX", raw, structure, text)
        assert (await store.stats()).blobs == 1
        await store.expunge(await self.inbox_id(store, alice.id), [1])
        assert (await store.stats()).blobs == 1
        assert await store.check_integrity() == []

    async def test_list_messages_of_unknown_mailbox(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        assert await store.list_messages(await self.inbox_id(store, alice.id)) == []
        with pytest.raises(NotFound):
            await store.list_messages(987654)

    async def test_copy_messages_shares_blobs(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        for i in range(3):
            await store.deliver(delivery(f"Q{i}", message(f"m{i}"), alice.id))
        inbox_id = await self.inbox_id(store, alice.id)
        await store.set_flags(inbox_id, [2], frozenset({"\\Flagged"}), FlagMode.ADD)
        archive = await store.create_mailbox(alice.id, "Archive")
        pairs = await store.copy_messages(inbox_id, [3, 2, 99], archive.id)
        assert pairs == [(2, 1), (3, 2)]
        copied = await store.list_messages(archive.id)
        assert [c.flags for c in copied] == [{"\\Flagged"}, frozenset()]
        assert (await store.stats()).blobs == 3
        original = await store.get_message(inbox_id, 2)
        duplicate = await store.get_message(archive.id, 1)
        assert original is not None and duplicate is not None
        assert original.raw == duplicate.raw and original.structure == duplicate.structure
        assert await store.copy_messages(inbox_id, [], archive.id) == []
        with pytest.raises(NotFound):
            await store.copy_messages(inbox_id, [1], 987654)
        await store.expunge(inbox_id, [1, 2, 3])
        assert (await store.stats()).blobs == 2
        assert await store.check_integrity() == []

    # -- flags ---------------------------------------------------------------------------
    async def test_flag_modes(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        [d] = await store.deliver(delivery("Q1", message(), alice.id))
        box = d.mailbox_id
        changes = await store.set_flags(box, [1], frozenset({"\\seen", "Work"}), FlagMode.ADD)
        assert [(c.uid, c.flags) for c in changes] == [(1, {"\\Seen", "Work"})]
        assert changes[0].modseq > d.modseq
        changes = await store.set_flags(box, [1], frozenset({"\\Flagged"}), FlagMode.ADD)
        assert changes[0].flags == {"\\Seen", "Work", "\\Flagged"}
        changes = await store.set_flags(box, [1], frozenset({"work", "\\SEEN"}), FlagMode.REMOVE)
        assert changes[0].flags == {"\\Flagged"}
        changes = await store.set_flags(box, [1], frozenset({"\\Draft", "$Label1"}), FlagMode.SET)
        assert changes[0].flags == {"\\Draft", "$Label1"}
        changes = await store.set_flags(box, [1], frozenset(), FlagMode.SET)
        assert changes[0].flags == frozenset()
        [summary] = await store.list_messages(box)
        assert summary.flags == frozenset() and summary.modseq == changes[0].modseq

    async def test_keywords_are_case_insensitive(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        [d] = await store.deliver(delivery("Q1", message(), alice.id))
        await store.set_flags(d.mailbox_id, [1], frozenset({"Work"}), FlagMode.ADD)
        assert await store.set_flags(d.mailbox_id, [1], frozenset({"WORK"}), FlagMode.ADD) == []
        [summary] = await store.list_messages(d.mailbox_id)
        assert summary.flags == {"Work"}

    async def test_unchanged_flags_get_no_modseq(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        [d] = await store.deliver(delivery("Q1", message(), alice.id))
        await store.set_flags(d.mailbox_id, [1], frozenset({"\\Seen"}), FlagMode.ADD)
        before = await store.get_mailbox(alice.id, "INBOX")
        assert await store.set_flags(d.mailbox_id, [1], frozenset({"\\Seen"}), FlagMode.ADD) == []
        assert await store.set_flags(d.mailbox_id, [7], frozenset({"\\Seen"}), FlagMode.ADD) == []
        after = await store.get_mailbox(alice.id, "INBOX")
        assert before is not None and after is not None
        assert after.highest_modseq == before.highest_modseq

    async def test_flag_changes_share_one_new_modseq(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        for i in range(4):
            await store.deliver(delivery(f"Q{i}", message(f"m{i}"), alice.id))
        box = await self.inbox_id(store, alice.id)
        before = await store.get_mailbox(alice.id, "INBOX")
        changes = await store.set_flags(box, [4, 2, 3], frozenset({"\\Seen"}), FlagMode.ADD)
        assert [c.uid for c in changes] == [2, 3, 4]
        assert len({c.modseq for c in changes}) == 1
        after = await store.get_mailbox(alice.id, "INBOX")
        assert before is not None and after is not None
        assert changes[0].modseq == after.highest_modseq > before.highest_modseq

    async def test_unchanged_since(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        for i in range(3):
            await store.deliver(delivery(f"Q{i}", message(f"m{i}"), alice.id))
        box = await self.inbox_id(store, alice.id)
        [c1] = await store.set_flags(box, [1], frozenset({"\\Seen"}), FlagMode.ADD)
        mark = c1.modseq
        [c2] = await store.set_flags(box, [2], frozenset({"\\Seen"}), FlagMode.ADD)
        # uid 2 changed after `mark`: left alone; uids 1 and 3 are not newer than `mark`
        changes = await store.set_flags(box, [1, 2, 3], frozenset({"\\Flagged"}), FlagMode.ADD, mark)
        assert [c.uid for c in changes] == [1, 3]
        changes, refused = await store.set_flags_conditional(
            box, [1, 2, 3], frozenset({"\\Answered"}), FlagMode.ADD, c2.modseq
        )
        assert [c.uid for c in changes] == [2]
        assert refused == [1, 3]
        changed, refused = await store.set_flags_conditional(
            box, [1, 2, 3], frozenset({"\\Draft"}), FlagMode.ADD, 0
        )
        assert changed == [] and refused == [1, 2, 3]

    @pytest.mark.parametrize("flag", ["\\Recent", "\\Bogus", "", "two words", "par(en", "naïve"])
    async def test_invalid_flags(self, store: Store, alice, flag: str) -> None:  # type: ignore[no-untyped-def]
        [d] = await store.deliver(delivery("Q1", message(), alice.id))
        with pytest.raises(InvalidName):
            await store.set_flags(d.mailbox_id, [1], frozenset({flag}), FlagMode.ADD)

    async def test_flags_of_unknown_mailbox(self, store: Store) -> None:
        with pytest.raises(NotFound):
            await store.set_flags(987654, [1], frozenset({"\\Seen"}), FlagMode.ADD)

    # -- expunge -------------------------------------------------------------------------
    async def test_expunge(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        for i in range(5):
            await store.deliver(delivery(f"Q{i}", message(f"m{i}"), alice.id))
        box = await self.inbox_id(store, alice.id)
        before = await store.get_mailbox(alice.id, "INBOX")
        assert await store.expunge(box, [4, 2, 99, 2]) == [2, 4]
        assert [s.uid for s in await store.list_messages(box)] == [1, 3, 5]
        after = await store.get_mailbox(alice.id, "INBOX")
        assert before is not None and after is not None
        assert after.highest_modseq > before.highest_modseq
        assert after.uidnext == 6 and after.message_count == 3
        assert await store.expunge(box, [2, 4]) == []
        assert await store.expunge(box, []) == []
        [d] = await store.deliver(delivery("Q9", message("new"), alice.id))
        assert d.uid == 6  # UIDs are never reused
        with pytest.raises(NotFound):
            await store.expunge(987654, [1])

    async def test_expunge_of_many_is_atomic(self, store: Store, store_url: str, alice) -> None:  # type: ignore[no-untyped-def]
        for i in range(50):
            await store.deliver(delivery(f"Q{i}", message(f"m{i}"), alice.id))
        box = await self.inbox_id(store, alice.id)
        other = await open_store(store_url)
        try:
            counts: list[int] = []

            async def watch() -> None:
                while True:
                    counts.append(len(await other.list_messages(box)))
                    await asyncio.sleep(0)

            watcher = asyncio.create_task(watch())
            while not counts:
                await asyncio.sleep(0.001)
            assert len(await store.expunge(box, range(1, 51))) == 50
            while counts[-1] != 0 and not watcher.done():  # the watcher sees the commit
                await asyncio.sleep(0.001)
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            assert set(counts) <= {0, 50}  # never a partial expunge
            assert len(await other.list_messages(box)) == 0
        finally:
            await other.close()

    # -- search --------------------------------------------------------------------------
    async def test_search(self, store: Store, alice, bob) -> None:  # type: ignore[no-untyped-def]
        await store.deliver(delivery("Q1", message("Café", "Rendez-vous au café.\r\n"), alice.id))
        await store.deliver(delivery("Q2", message("Lunch", "Pizza at noon.\r\n"), alice.id))
        await store.deliver(delivery("Q3", message("Café", "café for bob\r\n"), bob.id))
        box = await self.inbox_id(store, alice.id)
        assert await store.search(box, "pizza") == [2]
        assert await store.search(box, "CAFE") == [1]  # accents and case are ignored
        assert await store.search(box, "zz") == [2]
        assert await store.search(box, "nothing-like-this") == []
        assert await store.search(box, "") == [1, 2]
        await store.expunge(box, [1])
        assert await store.search(box, "cafe") == []
        assert await store.search(987654, "cafe") == []

    async def test_search_uses_the_text_a_caller_gives(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        raw = message("Plain", "nothing special\r\n")
        structure, _text = analysed(raw)
        await store.append(alice.id, "INBOX", raw, structure, "words-given-by-the-caller")
        box = await self.inbox_id(store, alice.id)
        assert await store.search(box, "given-by-the") == [1]
        assert await store.search(box, "special") == []

    # -- events --------------------------------------------------------------------------
    async def test_events_follow_commits(self, store: Store, alice, bob) -> None:  # type: ignore[no-untyped-def]
        everything = store.changes.subscribe()
        only_bob = store.changes.subscribe(bob.id)
        try:
            [a_copy, _b_copy] = await store.deliver(delivery("Q1", message(), alice.id, bob.id))
            # published before deliver() returned, so the caller can rely on it
            first = everything.get_nowait()
            second = everything.get_nowait()
            assert first is not None and second is not None
            assert (first.kind, first.account_id, first.mailbox_id, first.uids, first.modseq) == (
                ChangeKind.APPEND, alice.id, a_copy.mailbox_id, (1,), a_copy.modseq,
            )
            assert (second.kind, second.account_id, second.uids) == (
                ChangeKind.APPEND, bob.id, (1,),
            )
            [change] = await store.set_flags(a_copy.mailbox_id, [1], frozenset({"\\Seen"}), FlagMode.ADD)
            flags_event = everything.get_nowait()
            assert flags_event is not None
            assert (flags_event.kind, flags_event.uids, flags_event.modseq) == (
                ChangeKind.FLAGS, (1,), change.modseq,
            )
            await store.expunge(a_copy.mailbox_id, [1])
            expunge_event = everything.get_nowait()
            assert expunge_event is not None
            assert (expunge_event.kind, expunge_event.uids) == (ChangeKind.EXPUNGE, (1,))
            assert expunge_event.modseq > change.modseq
            await store.create_mailbox(alice.id, "Box")
            mailbox_event = everything.get_nowait()
            assert mailbox_event is not None and mailbox_event.kind is ChangeKind.MAILBOX
            assert everything.get_nowait() is None
            # no event for a change that changed nothing, nor for failed calls
            await store.expunge(a_copy.mailbox_id, [1])
            with pytest.raises(NotFound):
                await store.deliver(delivery("Q2", message(), 99999))
            assert everything.get_nowait() is None
            bob_event = only_bob.get_nowait()
            assert bob_event is not None and bob_event.account_id == bob.id
            assert only_bob.get_nowait() is None
        finally:
            everything.close()
            only_bob.close()

    async def test_events_in_commit_order_under_concurrency(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        with store.changes.subscribe(alice.id) as sub:
            await asyncio.gather(
                *(store.deliver(delivery(f"Q{i}", message(f"m{i}"), alice.id)) for i in range(40))
            )
            events = []
            while (event := sub.get_nowait()) is not None:
                events.append(event)
        assert [e.uids[0] for e in events] == list(range(1, 41))
        modseqs = [e.modseq for e in events]
        assert modseqs == sorted(set(modseqs))

    # -- journey -------------------------------------------------------------------------
    async def test_journey(self, store: Store, alice, bob) -> None:  # type: ignore[no-untyped-def]
        await store.record_journey("Q1", "received", "from client.test [127.0.0.1]")
        await store.deliver(delivery("Q1", message(), alice.id, bob.id))
        await store.record_journey("Q1", "fetched", "pop3 alice")
        events = await store.journey("Q1")
        assert [e.event for e in events] == ["received", "delivered", "delivered", "fetched"]
        assert all(e.queue_id == "Q1" for e in events)
        assert events[0].detail == "from client.test [127.0.0.1]"
        assert "alice@example.test" in events[1].detail
        times = [e.at for e in events]
        assert times == sorted(times) and times[0].tzinfo is not None
        assert await store.journey("unknown") == []

    async def test_journey_records_in_one_write_keep_their_order(self, store: Store) -> None:
        await store.record_journeys([])
        records = [("Q1", "fetched", "pop3 RETR"), ("Q2", "fetched", "pop3 RETR"),
                   ("Q1", "deleted", "pop3 DELE")]
        await store.record_journeys(records)
        assert [(e.event, e.detail) for e in await store.journey("Q1")] == [
            ("fetched", "pop3 RETR"), ("deleted", "pop3 DELE")]
        assert [e.event for e in await store.journey("Q2")] == ["fetched"]

    async def test_journey_records_commit_with_their_delivery(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        received = ("received", "from=<a@client.test> size=9 nrcpt=1 client=127.0.0.1")
        ok = delivery("Q1", message(), alice.id)
        await store.deliver(dataclasses.replace(ok, journey=(received,)))
        events = await store.journey("Q1")
        assert (events[0].event, events[0].detail) == received
        assert [e.event for e in events] == ["received", "delivered"]
        failing = delivery("Q2", message("other"), alice.id, alice.id + 1000)
        with pytest.raises(NotFound):
            await store.deliver(dataclasses.replace(failing, journey=(received,)))
        assert await store.journey("Q2") == []  # rolled back with the delivery

    # -- concurrency and durability ------------------------------------------------------
    async def test_many_concurrent_deliveries(self, store: Store, domain: str) -> None:
        accounts = [await store.add_account(f"c{i}@{domain}", "h") for i in range(3)]
        results = await asyncio.gather(
            *(
                store.deliver(delivery(f"Q{i}", message(f"m{i}"), *(a.id for a in accounts)))
                for i in range(150)
            )
        )
        assert len(results) == 150
        for account in accounts:
            inbox = await store.get_mailbox(account.id, "INBOX")
            assert inbox is not None and inbox.message_count == 150
            summaries = await store.list_messages(inbox.id)
            assert [s.uid for s in summaries] == list(range(1, 151))
            modseqs = [s.modseq for s in summaries]
            assert modseqs == sorted(set(modseqs))
            assert inbox.highest_modseq == modseqs[-1]
        stats = await store.stats()
        assert (stats.messages, stats.blobs) == (450, 150)
        assert await store.check_integrity() == []

    async def test_committed_data_is_visible_to_another_instance(
        self, store: Store, store_url: str, alice  # type: ignore[no-untyped-def]
    ) -> None:
        other = await open_store(store_url)
        try:
            [d] = await store.deliver(delivery("Q1", message(), alice.id))
            stored = await other.get_message(d.mailbox_id, d.uid)
            assert stored is not None and stored.raw.endswith(message())
            await other.add_account("bob@example.test", "h")
            assert await store.get_account("bob@example.test") is not None
        finally:
            await other.close()

    async def test_committed_data_is_visible_to_another_process(
        self, store: Store, store_url: str, alice  # type: ignore[no-untyped-def]
    ) -> None:
        [d] = await store.deliver(delivery("Q1", message(), alice.id))
        result = run_python(
            """
            import asyncio, sys
            from mailstead.store import open_store
            async def main():
                store = await open_store(sys.argv[1])
                try:
                    stored = await store.get_message(int(sys.argv[2]), int(sys.argv[3]))
                    print(len(stored.raw))
                finally:
                    await store.close()
            asyncio.run(main())
            """,
            store_url, str(d.mailbox_id), str(d.uid),
        )
        assert result.returncode == 0, result.stderr
        stored = await store.get_message(d.mailbox_id, d.uid)
        assert stored is not None and int(result.stdout) == len(stored.raw)

    async def test_another_process_writes_while_we_hold_the_store(
        self, store: Store, store_url: str, alice  # type: ignore[no-untyped-def]
    ) -> None:
        code = """
            import asyncio, sys
            from mailstead.store import open_store, Delivery, MessageCopy
            async def main():
                store = await open_store(sys.argv[1])
                try:
                    await store.add_account("cli@example.test", "h")
                    await store.add_alias("alias@example.test", "alice@example.test")
                    account_id = int(sys.argv[2])
                    for i in range(40):
                        blob = b"Subject: other process %d\\r\\n\\r\\nbody\\r\\n" % i
                        await store.deliver(Delivery(f"P{i}", blob,
                            [MessageCopy(account_id, b"", b"s", "other process")]))
                finally:
                    await store.close()
            asyncio.run(main())
        """
        env = dict(os.environ, PYTHONPATH=os.path.abspath(SRC))
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", textwrap.dedent(code), store_url, str(alice.id),
            stderr=asyncio.subprocess.PIPE, env=env,
        )
        ours = [store.deliver(delivery(f"Q{i}", message(f"m{i}"), alice.id)) for i in range(40)]
        await asyncio.gather(*ours)
        _out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()
        summaries = await store.list_messages(await self.inbox_id(store, alice.id))
        assert [s.uid for s in summaries] == list(range(1, 81))
        assert await store.get_account("cli@example.test") is not None
        assert await store.resolve_recipient("alias@example.test") == [alice]
        assert await store.check_integrity() == []

    @pytest.mark.slow
    async def test_kill_mid_write_loses_nothing_acknowledged(
        self, store: Store, store_url: str, alice  # type: ignore[no-untyped-def]
    ) -> None:
        code = """
            import asyncio, os, sys
            from mailstead.store import open_store, Delivery, MessageCopy
            async def one(store, account_id, i):
                blob = os.urandom(2000) + b"\\r\\n"
                [copy] = await store.deliver(Delivery(f"K{i}", blob,
                    [MessageCopy(account_id, b"", b"s", "killed %d" % i)]))
                print(copy.uid, flush=True)
            async def main():
                store = await open_store(sys.argv[1])
                account_id = int(sys.argv[2])
                i = 0
                while True:
                    await asyncio.gather(*(one(store, account_id, i + j) for j in range(16)))
                    i += 16
            asyncio.run(main())
        """
        await store.close()
        env = dict(os.environ, PYTHONPATH=os.path.abspath(SRC))
        process = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), store_url, str(alice.id)],
            stdout=subprocess.PIPE, text=True, env=env,
        )
        acknowledged: list[int] = []
        try:
            assert process.stdout is not None
            while len(acknowledged) < 300:
                line = process.stdout.readline()
                assert line, "the writer process died"
                acknowledged.append(int(line))
        finally:
            os.kill(process.pid, signal.SIGKILL)
            rest, _ = process.communicate(timeout=30)
        acknowledged += [int(line) for line in rest.split()]
        assert process.returncode == -signal.SIGKILL
        reopened = await open_store(store_url)
        try:
            assert await reopened.check_integrity() == []
            inbox = await reopened.get_mailbox(alice.id, "INBOX")
            assert inbox is not None
            stored = {s.uid for s in await reopened.list_messages(inbox.id)}
            assert set(acknowledged) <= stored
            [d] = await reopened.deliver(delivery("after", message(), alice.id))
            assert d.uid == inbox.uidnext
        finally:
            await reopened.close()

    # -- extensions for IMAP (MOVE, CONDSTORE, QRESYNC) -----------------------------------
    async def test_move_messages(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        for i in range(3):
            await store.deliver(delivery(f"Q{i}", message(f"m{i}"), alice.id))
        inbox_id = await self.inbox_id(store, alice.id)
        archive = await store.create_mailbox(alice.id, "Archive")
        with store.changes.subscribe(alice.id) as sub:
            assert await store.move_messages(inbox_id, [1, 3, 42], archive.id) == [(1, 1), (3, 2)]
            append, expunge = sub.get_nowait(), sub.get_nowait()
        assert append is not None and append.kind is ChangeKind.APPEND
        assert append.mailbox_id == archive.id and append.uids == (1, 2)
        assert expunge is not None and expunge.kind is ChangeKind.EXPUNGE
        assert expunge.mailbox_id == inbox_id and expunge.uids == (1, 3)
        assert [s.uid for s in await store.list_messages(inbox_id)] == [2]
        moved = await store.list_messages(archive.id)
        assert [m.queue_id for m in moved] == ["Q0", "Q2"]
        assert (await store.stats()).blobs == 3
        assert await store.move_messages(inbox_id, [1], archive.id) == []
        with pytest.raises(NotFound):
            await store.move_messages(inbox_id, [2], 987654)
        assert [s.uid for s in await store.list_messages(inbox_id)] == [2]
        assert await store.check_integrity() == []

    async def test_changed_and_expunged_since(self, store: Store, alice) -> None:  # type: ignore[no-untyped-def]
        copies = [
            (await store.deliver(delivery(f"Q{i}", message(f"m{i}"), alice.id)))[0]
            for i in range(4)
        ]
        box = copies[0].mailbox_id
        mark = copies[-1].modseq
        assert await store.changed_since(box, mark) == []
        assert [s.uid for s in await store.changed_since(box, 0)] == [1, 2, 3, 4]
        await store.set_flags(box, [2], frozenset({"\\Seen"}), FlagMode.ADD)
        await store.expunge(box, [3])
        assert [s.uid for s in await store.changed_since(box, mark)] == [2]
        assert await store.expunged_since(box, mark) == [3]
        assert await store.expunged_since(box, 0) == [3]
        inbox = await store.get_mailbox(alice.id, "INBOX")
        assert inbox is not None
        assert await store.expunged_since(box, inbox.highest_modseq) == []
        with pytest.raises(NotFound):
            await store.changed_since(987654, 0)
        with pytest.raises(NotFound):
            await store.expunged_since(987654, 0)
