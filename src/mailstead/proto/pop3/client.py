"""The client side of POP3, sans-IO: a command writer and a response reader.

    client = ClientConnection()                   # expects the greeting first
    sock.sendall(client.send("USER", "alice"))
    client.receive_data(sock.recv(65536))
    event = client.next_event()                   # Response | MultilineResponse | Challenge

The reader knows from the commands it wrote which responses are multi-line (a `+OK` to
CAPA, LIST and UIDL without argument, RETR, TOP), so pipelined commands (RFC 2449
PIPELINING) are read back in order. Unlike the server core, which must survive anything,
the client raises `ProtocolError` for a server that breaks the protocol: the caller drops
that connection.
"""

from __future__ import annotations

import base64
from collections import deque
from dataclasses import dataclass

from mailstead.proto.pop3.server import NEED_DATA, _NeedData

CRLF = b"\r\n"
_MULTILINE = frozenset({"CAPA", "RETR", "TOP"})
_MULTILINE_WITHOUT_ARGUMENT = frozenset({"LIST", "UIDL"})


class ProtocolError(Exception):
    """The server sent something POP3 does not allow (or more than our limits)."""


@dataclass(frozen=True, slots=True)
class Response:
    """A single-line `+OK` or `-ERR` response, split into its parts (RFC 2449 §8)."""

    ok: bool
    text: str
    code: str | None = None  # "IN-USE", "AUTH", "SYS/TEMP", ... without brackets


@dataclass(frozen=True, slots=True)
class MultilineResponse:
    ok: bool  # always True: a -ERR is never multi-line
    text: str
    code: str | None
    body: bytes  # the block with dot-stuffing undone, each line ending in CRLF

    @property
    def lines(self) -> list[bytes]:
        return self.body.split(CRLF)[:-1] if self.body else []


@dataclass(frozen=True, slots=True)
class Challenge:
    """A SASL continuation `+ base64` (RFC 5034 §4), decoded."""

    data: bytes


def parse_status(line: bytes) -> Response:
    if line.startswith(b"+OK"):
        ok, rest = True, line[3:]
    elif line.startswith(b"-ERR"):
        ok, rest = False, line[4:]
    else:
        raise ProtocolError(f"not a POP3 status line: {line[:60]!r}")
    if rest and not rest.startswith(b" "):
        raise ProtocolError(f"malformed status line: {line[:60]!r}")
    text = rest[1:].decode("utf-8", "replace")
    code = None
    if text.startswith("["):
        end = text.find("]")
        if end > 0:
            code, text = text[1:end], text[end + 1 :].lstrip(" ")
    return Response(ok, text, code)


def unstuff(block: bytes) -> bytes:
    """Undo dot-stuffing of a multi-line block (without its terminator)."""
    body = block.replace(b"\n..", b"\n.")
    return body[1:] if body.startswith(b"..") else body


class ClientConnection:
    def __init__(self, max_line_length: int = 8192, max_body_size: int = 256 * 1024 * 1024) -> None:
        self.max_line_length = max_line_length
        self.max_body_size = max_body_size
        self._buffer = bytearray()
        # What each outstanding response looks like: "single", "multi" (if +OK), "auth".
        self._expected: deque[str] = deque(["single"])  # the greeting
        self._status: Response | None = None  # of the multi-line block being read
        self._scan_from = 0

    # -- writing -------------------------------------------------------------------------
    def send(self, keyword: str, *args: str | int) -> bytes:
        keyword = keyword.upper()
        text = " ".join([keyword, *map(str, args)])
        if "\r" in text or "\n" in text:
            raise ValueError("a POP3 command cannot contain a line break")
        if keyword in _MULTILINE or (keyword in _MULTILINE_WITHOUT_ARGUMENT and not args):
            self._expected.append("multi")
        elif keyword == "AUTH":
            self._expected.append("auth" if args else "multi")
        else:
            self._expected.append("single")
        return text.encode("utf-8") + CRLF

    def send_sasl(self, data: bytes | None) -> bytes:
        """Answer a Challenge; None cancels the exchange ("*")."""
        self._expected.append("auth")
        return (b"*" if data is None else base64.b64encode(data)) + CRLF

    def start_tls(self) -> None:
        """Call after reading the `+OK` to STLS, before the handshake. Bytes already received
        after that `+OK` came in plaintext, where anyone on the path could have injected them
        (the client side of CVE-2011-0411): refuse the connection rather than read them
        later as if they had come over TLS."""
        if self._buffer or self._expected or self._status is not None:
            raise ProtocolError("data or commands pending across STLS: possible injection")

    @property
    def outstanding(self) -> int:
        return len(self._expected) + (1 if self._status is not None else 0)

    # -- reading -------------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > self.max_body_size + self.max_line_length:
            raise ProtocolError("response larger than max_body_size")

    def next_event(self) -> Response | MultilineResponse | Challenge | _NeedData:
        if self._status is not None:
            return self._block()
        newline = self._buffer.find(b"\n")
        if newline < 0:
            if len(self._buffer) > self.max_line_length:
                raise ProtocolError("status line too long")
            return NEED_DATA
        line = bytes(self._buffer[:newline]).removesuffix(b"\r")
        if not self._expected:
            raise ProtocolError(f"unsolicited response: {line[:60]!r}")
        del self._buffer[: newline + 1]
        kind = self._expected.popleft()
        if kind == "auth" and (line == b"+" or line.startswith(b"+ ")):
            try:
                return Challenge(base64.b64decode(line[2:], validate=True))
            except ValueError:
                raise ProtocolError("invalid base64 in SASL challenge") from None
        status = parse_status(line)
        if kind == "multi" and status.ok:
            self._status = status
            self._scan_from = 0
            return self._block()
        return status

    def _block(self) -> MultilineResponse | _NeedData:
        assert self._status is not None
        buf = self._buffer
        if buf.startswith(b".\r\n"):
            end, after = 0, 3
        else:
            # Stuffing guarantees that LF "." CRLF occurs nowhere but at the terminator.
            found = buf.find(b"\n.\r\n", max(0, self._scan_from - 4))
            if found < 0:
                self._scan_from = len(buf)
                if len(buf) > self.max_body_size:
                    raise ProtocolError("multi-line response larger than max_body_size")
                return NEED_DATA
            end, after = found + 1, found + 4
        body = unstuff(bytes(buf[:end]))
        del buf[:after]
        status, self._status = self._status, None
        return MultilineResponse(True, status.text, status.code, body)
