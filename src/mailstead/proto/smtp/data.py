"""Message content: the DATA reader (dot-stuffed, RFC 5321 §4.5.2) and its client-side twin.

The reader works on whole chunks as they arrive, never line by line: one search for a
stuffed line start (the end-of-data marker begins with one), a `replace` to undo
dot-stuffing only when there is some, and one scan for a bare CR or LF. The search and the
scan come from the optional C module `mailstead._speedups` (one vector pass each, about 10
us per 100 KiB); without it, the pure-Python versions below give the same answers (a
`bytes.find`, two `bytes.translate`s: about 200 us per 100 KiB). Only a tail of at most
four bytes is carried from one chunk to the next (an end marker or a dot-stuffed line start
may straddle two reads).

CR/LF policy (SMTP smuggling, CVE-2023-51764 class): RFC 5321 §2.3.8 allows CR and LF only
together as CRLF. Receivers that accept `<LF>.<LF>` or `<CR>.<CR>` as the end of data
while the next hop does not can be made to see two messages where a relay saw one. We
**reject** every message with a bare CR or bare LF (as Postfix does with
`smtpd_forbid_bare_newline`): the reader flags it, the server answers
`550 5.6.11` and closes the connection, since after a bare newline it cannot know where the
sender believes the message ends. Only `CRLF.CRLF` ends a message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

_END = b"\r\n.\r\n"
_STUFFED = b"\r\n."
_CRLF = b"\r\n"
# Byte maps that keep only where the CRs / the LFs are (1) and blank everything else (0).
_CR_AT = bytes(1 if b == 13 else 0 for b in range(256))
_LF_AT = bytes(1 if b == 10 else 0 for b in range(256))


class DotReader:
    """Reads one dot-stuffed message. `feed(data)` returns None while the end marker has not
    been seen, else the number of bytes of `data` it used (the rest is the next command).

    Content is un-stuffed into `body` until it would exceed `limit`; past that the reader
    keeps scanning for the end marker but discards content (`oversize` is set), so memory
    stays bounded by the limit. `size` counts every un-stuffed byte seen. `bare_newline` is
    set as soon as a bare CR or LF appears; the caller should stop reading then.
    """

    __slots__ = (
        "_strip", "_tail", "bare_newline", "body", "discarding", "done", "limit", "oversize", "size",
    )

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.body = bytearray()
        self.size = 0
        self.oversize = False
        self.bare_newline = False
        self.done = False
        self.discarding = False  # see discard()
        # The CRLF that ended the DATA command line: it makes the first line a line start
        # like every other and is stripped from the output.
        self._tail = _CRLF
        self._strip = 2

    def feed(self, data: bytes | bytearray) -> int | None:
        tail = self._tail
        s = tail + data if tail else bytes(data)
        # One search finds both what ends the message and what needs un-stuffing: the end
        # marker starts with a stuffed line start. Usually the first hit, if any, is the end.
        first = find_dot_line(s)
        if first < 0:
            end, stuffed = -1, False
        elif s.startswith(_CRLF, first + 3):
            end, stuffed = first, False
        else:
            end, stuffed = s.find(_END, first), True
        if end >= 0:
            self._emit(s[: end + 2], stuffed)
            self._tail = b""
            self.done = True
            return end + 5 - len(tail)
        # Keep what an end marker or a stuffed line start could still be made of: from the
        # last CRLF if fewer than five bytes follow it, else just the last byte (a CR whose
        # LF is in the next read).
        last = s.rfind(_CRLF)
        keep = last if last >= 0 and len(s) - last < 5 else len(s) - 1
        if keep > 0:
            self._emit(s[:keep], stuffed)
            self._tail = s[keep:]
        else:
            self._tail = s
        return None

    def discard(self) -> None:
        """Keep reading to the end marker but drop the content (the caller refuses the
        message for a reason of its own: memory across sessions)."""
        self.discarding = True
        self.body = bytearray()

    def _emit(self, part: bytes, stuffed: bool) -> None:
        """`stuffed`: `part` may hold a dot-stuffed line start (False: feed saw none)."""
        if has_bare_newline(part):
            self.bare_newline = True
        if stuffed:
            part = part.replace(_STUFFED, _CRLF)
        if self._strip:
            n = min(self._strip, len(part))
            part = part[n:]
            self._strip -= n
        self.size += len(part)
        if self.oversize or self.discarding:
            return
        if self.size > self.limit:
            self.oversize = True
            self.body = bytearray()
            return
        self.body += part


def _has_bare_newline(data: bytes | bytearray) -> bool:
    """Some CR is not followed by an LF, or some LF not preceded by a CR. Two `translate`s and
    one compare of the CR map shifted by a byte against the LF map: the same answer as
    comparing the CR, LF and CRLF counts, in about half the time (a two-byte `count` is
    slow when CRLFs are frequent)."""
    return b"\0" + data.translate(_CR_AT) != data.translate(_LF_AT) + b"\0"


def _find_dot_line(data: bytes | bytearray, start: int = 0) -> int:
    """The index of the first CRLF followed by a dot at or after `start`, or -1."""
    return data.find(_STUFFED, start)


has_bare_newline: Callable[[bytes | bytearray], bool] = _has_bare_newline
find_dot_line: Callable[..., int] = _find_dot_line
# Not built (no C compiler at install): the same answers, slower.
with contextlib.suppress(ImportError):
    from mailstead._speedups import find_dot_line, has_bare_newline  # type: ignore[no-redef]
SPEEDUPS = has_bare_newline is not _has_bare_newline  # said in the server's start-up log


def dot_stuff(message: bytes) -> bytes:
    """The DATA content for `message` (client role): stuffed, CRLF-terminated, with the
    `.CRLF` end marker. The message must already use CRLF line ends."""
    body = message.replace(_STUFFED, b"\r\n..")
    if body.startswith(b"."):
        body = b"." + body
    if body and not body.endswith(_CRLF):
        body += _CRLF
    return body + b".\r\n"
