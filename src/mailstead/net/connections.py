"""Tracking live connections so that shutdown can drain them within a bound."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(eq=False, slots=True)
class TrackedConnection:
    transport: asyncio.BaseTransport
    # Asks the session to end politely (e.g. SMTP "421", POP3 "-ERR") at its next quiet point.
    request_close: Callable[[], None]


class ConnectionTracker:
    def __init__(self) -> None:
        self._live: set[TrackedConnection] = set()
        self._empty = asyncio.Event()
        self._empty.set()

    def __len__(self) -> int:
        return len(self._live)

    def add(self, transport: asyncio.BaseTransport, request_close: Callable[[], None]) -> TrackedConnection:
        conn = TrackedConnection(transport, request_close)
        self._live.add(conn)
        self._empty.clear()
        return conn

    def discard(self, conn: TrackedConnection) -> None:
        self._live.discard(conn)
        if not self._live:
            self._empty.set()

    async def drain(self, grace: float) -> None:
        """Ask every session to close, wait up to `grace` seconds, then abort the rest."""
        for conn in list(self._live):
            try:
                conn.request_close()
            except Exception:  # a broken session must not stop the shutdown
                conn.transport.abort()
        try:
            await asyncio.wait_for(self._empty.wait(), grace)
        except TimeoutError:
            for conn in list(self._live):
                conn.transport.abort()
            await asyncio.sleep(0)
