"""One budget for the message content that all SMTP sessions hold in memory at once.

Each session reads a message into memory (bounded by `limits.max_message_size`) and keeps
it until the store has committed it. Without a shared bound, a thousand connections each
sending a 50 MB message would hold 50 GB. The sessions report what they hold after every
read; a session whose growth takes the total past `limits.max_message_memory` has its
message refused with `452 4.3.1` (RFC 3463: mail system full; the client retries later,
as Postfix's clients do when its queue file system is full) and what it held is freed.
"""

from __future__ import annotations


class MessageMemory:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0  # bytes, all sessions together

    def fits(self, before: int, after: int) -> bool:
        """Could a session that holds `before` bytes now hold `after`?"""
        return after <= before or self.held + after - before <= self.limit

    def move(self, before: int, after: int) -> None:
        """A session now holds `after` bytes instead of `before` (even past the limit: a
        message read in full is kept until the store has it; only growth of a message still
        arriving is refused)."""
        self.held += after - before
