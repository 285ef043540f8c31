"""Local delivery: an accepted message becomes one `store.Delivery`.

The blob (our `Received:` plus the message as received) is stored once; each distinct
account gets a `MessageCopy` whose prefix carries its own `Return-Path:` and
`Delivered-To:` (RFC 5321 §4.4: Return-Path is added at final delivery). The MIME structure
is computed here, once per copy, over exactly the bytes the client will read (prefix + blob).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from mailstead.mime import analyse
from mailstead.store import Account, DeliveredCopy, Delivery, MessageCopy, Store


@dataclass(frozen=True, slots=True)
class LocalRecipient:
    address: str  # the envelope recipient as given
    accounts: Sequence[Account]  # what it resolved to (aliases expanded)


def _header_safe(text: str) -> str:
    return text.replace("\r", "").replace("\n", "")


def trace_prefix(sender: str, account: Account) -> bytes:
    return (
        f"Return-Path: <{_header_safe(sender)}>\r\nDelivered-To: {account.address}\r\n"
    ).encode()


def build_delivery(
    queue_id: str, sender: str, blob: bytes, recipients: Iterable[LocalRecipient]
) -> Delivery:
    copies: list[MessageCopy] = []
    seen: set[int] = set()
    search_text: str | None = None
    for recipient in recipients:
        for account in recipient.accounts:
            if account.id in seen:
                continue  # an alias and its target, or two aliases of one account
            seen.add(account.id)
            prefix = trace_prefix(sender, account)
            info = analyse(prefix + blob)
            if search_text is None:
                # The store indexes the blob once; the per-copy prefix adds nothing to search.
                search_text = info.search_text()
            copies.append(
                MessageCopy(
                    account_id=account.id,
                    prefix=prefix,
                    structure=info.dumps(),
                    search_text=search_text,
                    recipient=recipient.address,
                )
            )
    if len(copies) > 1:
        # The store indexes one search text per blob, shared by every copy: it must not carry
        # one recipient's Delivered-To into the others' SEARCH (a Bcc recipient would show).
        shared_text = analyse(blob).search_text()
        copies = [replace(copy, search_text=shared_text) for copy in copies]
    return Delivery(queue_id=queue_id, blob=blob, copies=copies, envelope_sender=sender)


async def deliver_locally(store: Store, delivery: Delivery) -> list[DeliveredCopy]:
    """Returns only after the store's durable commit: the caller may acknowledge then."""
    return await store.deliver(delivery)
