"""Turning POP3 responses into bytes: status lines, multi-line blocks, dot-stuffing.

Everything here is pure: it takes values and returns bytes. The server writes them to its
transport; tests compare them byte for byte.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from enum import StrEnum

CRLF = b"\r\n"
TERMINATOR = b".\r\n"
# RFC 2449 §4: "Responses may be up to 512 characters long, including the terminating CRLF."
MAX_RESPONSE_LINE = 512


class ResponseCode(StrEnum):
    """Extended response codes (RFC 2449 §8, RFC 3206)."""

    IN_USE = "IN-USE"  # the maildrop is locked by another session (RFC 2449 §8.1.2)
    LOGIN_DELAY = "LOGIN-DELAY"  # logged in too recently (RFC 2449 §8.1.1)
    AUTH = "AUTH"  # the credentials are the problem (RFC 3206 §4)
    SYS_TEMP = "SYS/TEMP"  # a temporary server problem: try again later (RFC 3206 §5)
    SYS_PERM = "SYS/PERM"  # a permanent server problem: do not retry (RFC 3206 §5)
    UTF8 = "UTF8"  # RFC 6856 §3: the command needs the UTF8 extension


def _status(indicator: bytes, text: str, code: ResponseCode | None) -> bytes:
    # A response text that carried a line break would let a caller forge a second response.
    text = text.replace("\r", " ").replace("\n", " ")
    parts = [indicator]
    if code is not None:
        parts.append(f"[{code}]".encode("ascii"))
    if text:
        parts.append(text.encode("utf-8", "replace"))
    line = b" ".join(parts)
    if len(line) > MAX_RESPONSE_LINE - 2:
        line = line[: MAX_RESPONSE_LINE - 2]
        # Do not end on half a UTF-8 character.
        line = line.decode("utf-8", "ignore").encode("utf-8")
    return line + CRLF


def ok(text: str = "", code: ResponseCode | None = None) -> bytes:
    """`+OK text` (RFC 1939 §3)."""
    return _status(b"+OK", text, code)


def err(text: str, code: ResponseCode | None = None) -> bytes:
    """`-ERR [CODE] text` (RFC 1939 §3, codes per RFC 2449 §8)."""
    return _status(b"-ERR", text, code)


def continuation(challenge: bytes = b"") -> bytes:
    """A SASL server challenge (RFC 5034 §4): `+ base64` (`+ ` when empty)."""
    return b"+ " + base64.b64encode(challenge) + CRLF


def stuff_line(line: bytes) -> bytes:
    """One line of a multi-line response (without its CRLF), dot-stuffed (RFC 1939 §3)."""
    return b"." + line if line.startswith(b".") else line


def multiline(first: bytes, lines: Iterable[str | bytes]) -> bytes:
    """A complete multi-line response: the `+OK` line `first`, each line dot-stuffed and
    CRLF-terminated, then the terminating `.CRLF`."""
    out = [first]
    for line in lines:
        raw = line.encode("utf-8") if isinstance(line, str) else line
        out.append(stuff_line(raw) + CRLF)
    out.append(TERMINATOR)
    return b"".join(out)


class DotStuffer:
    """Dot-stuffs a message body incrementally, so it can be streamed chunk by chunk.

    Every line that starts with "." gets one more "." in front. A line starts at the
    beginning of the body and after every LF: treating a bare LF as a line end too means no
    client, however it splits lines, can ever see a lone "." line before the real end.
    `finish()` closes the block: a CRLF if the body did not end with one, then ".CRLF".
    A client that undoes the stuffing therefore receives exactly the stored bytes (plus
    a CRLF when the stored message lacked its final one).
    """

    __slots__ = ("_at_line_start", "_tail", "bytes_in")

    def __init__(self) -> None:
        self._at_line_start = True
        self._tail = b""  # the last (up to) two bytes seen, to know if the body ended in CRLF
        self.bytes_in = 0

    def feed(self, chunk: bytes | memoryview) -> bytes:
        # A whole message arrives as bytes: use it as it is rather than copy it.
        data = chunk if type(chunk) is bytes else bytes(chunk)
        if not data:
            return b""
        self.bytes_in += len(data)
        # bytes.replace runs in C: this is the whole cost of stuffing a 50 MB message.
        out = data.replace(b"\n.", b"\n..")
        if self._at_line_start and data[:1] == b".":
            out = b"." + out
        self._at_line_start = data[-1:] == b"\n"
        self._tail = (self._tail + data[-2:])[-2:]
        return out

    def finish(self) -> bytes:
        if self.bytes_in == 0 or self._tail == CRLF:
            return TERMINATOR
        return CRLF + TERMINATOR


def dot_stuff(body: bytes) -> bytes:
    """The whole body dot-stuffed and terminated (for small bodies and tests)."""
    stuffer = DotStuffer()
    return stuffer.feed(body) + stuffer.finish()


def top_length(raw: bytes, body_lines: int) -> int:
    """How many leading bytes of `raw` TOP returns (RFC 1939 §7): the header section, the
    blank line after it, then `body_lines` lines of the body.

    Lines end at LF. A message without a blank line is all header, so TOP returns it whole.
    """
    pos = 0
    size = len(raw)
    # Header section: up to and including the first empty line.
    while pos < size:
        end = raw.find(b"\n", pos)
        if end < 0:
            return size
        line_is_empty = end == pos or (end == pos + 1 and raw[pos] == 0x0D)
        pos = end + 1
        if line_is_empty:
            break
    else:
        return size
    for _ in range(body_lines):
        if pos >= size:
            break
        end = raw.find(b"\n", pos)
        if end < 0:
            return size
        pos = end + 1
    return pos
