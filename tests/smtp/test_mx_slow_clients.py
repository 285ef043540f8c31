"""Clients that send just often enough to dodge the idle timeouts still get a bounded
session: one command line may take 3 × `command_timeout` in total, one message transfer (DATA,
or a BDAT series) `data_total_timeout`; then `421 4.4.2` and the close."""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Any

from mailstead.proto.smtp import Reply, ReplyParser

# Each drip comes well inside the idle timeouts below (2 s); the loop bound is generous
# (tens of seconds of dripping) so that a slow machine cannot fail the test, yet finite.
DRIP_INTERVAL = 0.4
MAX_DRIPS = 100


class Dripper:
    def __init__(self, mx: Any) -> None:
        self.sock = socket.create_connection((mx.host, mx.port), 10)
        self.parser = ReplyParser(max_line_length=1 << 16)
        self.replies: list[Reply] = []
        self.closed = False
        assert self.read_until(1)[0].code == 220

    def read_until(self, count: int) -> list[Reply]:
        self.sock.settimeout(10)
        while len(self.replies) < count:
            data = self.sock.recv(65536)
            assert data, f"closed after {self.replies}"
            self.replies += self.parser.feed(data)
        out, self.replies = self.replies[:count], self.replies[count:]
        return out

    def command(self, line: bytes) -> Reply:
        self.sock.sendall(line + b"\r\n")
        return self.read_until(1)[0]

    def drip(self, chunk: bytes) -> Reply | None:
        """Send `chunk` every DRIP_INTERVAL until the server says 4xx and closes; the
        replies in between (to whole commands) are skipped."""
        for _ in range(MAX_DRIPS):
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.sock.sendall(chunk)
            time.sleep(DRIP_INTERVAL)
            self.sock.settimeout(0.05)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                data = b""
            self.replies += self.parser.feed(data)
            refusals = [r for r in self.replies if r.code >= 400]
            if refusals or not data:
                self.closed = self._closed()
                return refusals[0] if refusals else None
        return None

    def _closed(self) -> bool:
        self.sock.settimeout(10)
        try:
            while self.sock.recv(65536):
                pass
        except ConnectionResetError:
            pass
        return True

    def close(self) -> None:
        self.sock.close()


def test_a_command_line_dripped_byte_by_byte_is_cut_off(mx_factory: Any) -> None:
    mx = mx_factory(limits={"command_timeout": 2})
    client = Dripper(mx)
    try:
        reply = client.drip(b"X")  # never a line end
        assert reply is not None and (reply.code, reply.enhanced) == (421, "4.4.2"), reply
        assert client.closed
    finally:
        client.close()


def test_data_dripped_byte_by_byte_is_cut_off(mx_factory: Any) -> None:
    mx = mx_factory(limits={"command_timeout": 2, "data_timeout": 2, "data_total_timeout": 3})
    client = Dripper(mx)
    try:
        assert client.command(b"EHLO c").code == 250
        assert client.command(b"MAIL FROM:<s@remote.test>").code == 250
        assert client.command(b"RCPT TO:<alice@example.test>").code == 250
        assert client.command(b"DATA").code == 354
        # Whole lines of content: neither the idle nor the line limit applies, only the
        # total for the message.
        reply = client.drip(b"slow line\r\n")
        assert reply is not None and (reply.code, reply.enhanced) == (421, "4.4.2"), reply
        assert client.closed
    finally:
        client.close()
    assert mx.mailbox("alice@example.test") == []


def test_an_endless_bdat_series_is_cut_off(mx_factory: Any) -> None:
    mx = mx_factory(limits={"command_timeout": 2, "data_timeout": 2, "data_total_timeout": 3})
    client = Dripper(mx)
    try:
        assert client.command(b"EHLO c").code == 250
        assert client.command(b"MAIL FROM:<s@remote.test>").code == 250
        assert client.command(b"RCPT TO:<alice@example.test>").code == 250
        reply = client.drip(b"BDAT 1\r\nx")  # each chunk answered 250, none LAST
        assert reply is not None and (reply.code, reply.enhanced) == (421, "4.4.2"), reply
        assert client.closed
    finally:
        client.close()
    assert mx.mailbox("alice@example.test") == []


def test_a_prompt_client_is_not_cut_off(mx_factory: Any) -> None:
    """Many quick commands and messages add up to more than the limits: that is fine."""
    mx = mx_factory(limits={"command_timeout": 2, "data_timeout": 2, "data_total_timeout": 3})
    client = Dripper(mx)
    try:
        assert client.command(b"EHLO c").code == 250
        for _ in range(12):
            assert client.command(b"NOOP").code == 250
            assert client.command(b"MAIL FROM:<s@remote.test>").code == 250
            assert client.command(b"RCPT TO:<alice@example.test>").code == 250
            assert client.command(b"DATA").code == 354
            assert client.command(b"Subject: quick\r\n\r\nx\r\n.").code == 250
            time.sleep(DRIP_INTERVAL)  # pauses that add up to more than every limit
    finally:
        client.close()
    assert len(mx.mailbox("alice@example.test")) == 12
