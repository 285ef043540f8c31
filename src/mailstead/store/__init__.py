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
    "default_text_extractor",
    "open_store",
]


def default_text_extractor(raw: bytes) -> str:
    """A stored blob's search text (headers decoded, text parts in UTF-8), derived when the
    back end indexes it. The MIME analyser is imported here, lazily: the store itself does
    not depend on it."""
    from mailstead.mime import analyse

    return analyse(raw).search_text()


def create_store(url: str) -> Store:
    """The back end for a store URL (not yet opened)."""
    if url.startswith("sqlite://"):
        from mailstead.store.sqlite import SQLiteStore

        return SQLiteStore(url.removeprefix("sqlite://"), text_extractor=default_text_extractor)
    if url.startswith("postgresql://"):
        raise StoreError("the PostgreSQL back end is not built yet; use sqlite:///path")
    raise StoreError(f"unknown store URL {url!r}")


async def open_store(url: str) -> Store:
    store = create_store(url)
    await store.open()
    return store
