"""Local delivery: an accepted message becomes one `store.Delivery`.

The blob (our `Received:` plus the message as received) is stored once; each distinct
account gets a `MessageCopy` whose prefix carries its own `Return-Path:` and
`Delivered-To:` (RFC 5321 §4.4: Return-Path is added at final delivery). The MIME structure
is computed here, once per copy, over exactly the bytes the client will read (prefix + blob).
The search text is not: the store derives it from the blob when it indexes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

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
    queue_id: str, sender: str, blob: bytes, recipients: Iterable[LocalRecipient],
    crlf_only: bool = False, journey: Sequence[tuple[str, str]] = (),
) -> Delivery:
    """`crlf_only`: the blob is known to have no bare LF (the SMTP core rejects them in
    DATA and non-BINARYMIME BDAT), so the MIME analysis can skip counting line ends."""
    copies: list[MessageCopy] = []
    seen: set[int] = set()
    for recipient in recipients:
        for account in recipient.accounts:
            if account.id in seen:
                continue  # an alias and its target, or two aliases of one account
            seen.add(account.id)
            prefix = trace_prefix(sender, account)
            copies.append(
                MessageCopy(
                    account_id=account.id,
                    prefix=prefix,
                    structure=analyse(prefix + blob, crlf_only).dumps(),
                    # No text: the store derives the blob's search text (the blob alone,
                    # shared by every copy, so no Delivered-To leaks between recipients)
                    # when it indexes, after the 250, not on the way to it.
                    recipient=recipient.address,
                )
            )
    return Delivery(
        queue_id=queue_id, blob=blob, copies=copies, envelope_sender=sender, journey=journey
    )


async def deliver_locally(store: Store, delivery: Delivery) -> list[DeliveredCopy]:
    """Returns only after the store's durable commit: the caller may acknowledge then."""
    return await store.deliver(delivery)
