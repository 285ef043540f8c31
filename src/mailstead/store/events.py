"""The change stream: every committed append, flag change and expunge, in commit order.

IMAP sessions (IDLE, untagged updates, CONDSTORE/QRESYNC) and POP3 read it. The bus is
in-process; the PostgreSQL back end will feed the same bus from LISTEN/NOTIFY so that
subscribers never know whether a change came from this process or another machine.
Subscribers have bounded queues: one that falls behind is marked `overflowed` (it must
resynchronise from the store) instead of making the publisher wait or grow memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import Enum


class ChangeKind(Enum):
    APPEND = "append"
    FLAGS = "flags"
    EXPUNGE = "expunge"
    MAILBOX = "mailbox"  # created, deleted or renamed


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    kind: ChangeKind
    account_id: int
    mailbox_id: int
    uids: tuple[int, ...]
    modseq: int


class Subscription:
    def __init__(self, bus: ChangeBus, account_id: int | None, maxsize: int) -> None:
        self._bus = bus
        self.account_id = account_id
        self._queue: asyncio.Queue[ChangeEvent] = asyncio.Queue(maxsize)
        self.overflowed = False

    def _offer(self, event: ChangeEvent) -> None:
        if self.account_id is not None and event.account_id != self.account_id:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True

    async def get(self) -> ChangeEvent:
        return await self._queue.get()

    def get_nowait(self) -> ChangeEvent | None:
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def close(self) -> None:
        self._bus._subscribers.discard(self)

    def __aiter__(self) -> AsyncIterator[ChangeEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ChangeEvent]:
        while True:
            yield await self._queue.get()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ChangeBus:
    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()

    def subscribe(self, account_id: int | None = None, maxsize: int = 1024) -> Subscription:
        """Events of one account (or all, with None), delivered on the caller's loop."""
        sub = Subscription(self, account_id, maxsize)
        self._subscribers.add(sub)
        return sub

    def publish(self, event: ChangeEvent) -> None:
        """Call on the event loop's thread, after the change is committed."""
        for sub in list(self._subscribers):
            sub._offer(event)
