"""The mail store: one interface (`Store`), several back ends chosen by URL."""

from __future__ import annotations

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
    MessageCopy,
    MessageSummary,
    NotFound,
    Store,
    StoredMessage,
    StoreError,
)
from mailstead.store.events import ChangeBus, ChangeEvent, ChangeKind

__all__ = [
    "Account",
    "Alias",
    "AlreadyExists",
    "ChangeBus",
    "ChangeEvent",
    "ChangeKind",
    "DeliveredCopy",
    "Delivery",
    "FlagChange",
    "FlagMode",
    "InvalidName",
    "JourneyEvent",
    "Mailbox",
    "MessageCopy",
    "MessageSummary",
    "NotFound",
    "Store",
    "StoreError",
    "StoredMessage",
    "open_store",
]


def create_store(url: str) -> Store:
    """The back end for a store URL (not yet opened)."""
    if url.startswith("sqlite://"):
        from mailstead.store.sqlite import SQLiteStore

        return SQLiteStore(url.removeprefix("sqlite://"))
    if url.startswith("postgresql://"):
        raise StoreError("the PostgreSQL back end is not built yet; use sqlite:///path")
    raise StoreError(f"unknown store URL {url!r}")


async def open_store(url: str) -> Store:
    store = create_store(url)
    await store.open()
    return store
