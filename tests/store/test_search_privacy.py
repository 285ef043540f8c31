"""One search text per blob must not show one recipient of a delivery to another."""

from __future__ import annotations

from pathlib import Path

from mailstead.delivery.local import LocalRecipient, build_delivery
from mailstead.store import open_store


async def test_a_bcc_recipient_is_not_found_by_the_others_search(tmp_path: Path) -> None:
    store = await open_store(f"sqlite://{tmp_path / 'mail.db'}")
    try:
        await store.add_domain("example.test")
        alice = await store.add_account("alice@example.test", "h")
        hidden = await store.add_account("hidden@example.test", "h")
        blob = (
            b"Received: from client.test by mx.example.test\r\nFrom: s@remote.test\r\n"
            b"To: alice@example.test\r\nSubject: plans\r\n\r\nSee you.\r\n"
        )
        delivery = build_delivery("Q1", "s@remote.test", blob, [
            LocalRecipient("hidden@example.test", [hidden]),  # the Bcc, first in line
            LocalRecipient("alice@example.test", [alice]),
        ])
        copies = await store.deliver(delivery)
        alice_box = next(c.mailbox_id for c in copies if c.account_id == alice.id)
        assert await store.search(alice_box, "plans") == [1]
        assert await store.search(alice_box, "hidden@example") == []
        stored = await store.get_message(alice_box, 1)
        assert stored is not None and b"hidden" not in stored.raw
    finally:
        await store.close()
