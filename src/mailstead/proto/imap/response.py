"""Responses to bytes: tagged, untagged, continuation, and the data in them (RFC 9051 §7).

Every string goes out as an atom, a quoted string or a literal as its bytes require
(``astring``/``string``/``nstring``); literal8 ``~{n}`` carries BINARY data with NUL.
``FetchResponse`` assembles one ``* n FETCH (...)`` from pre-rendered pieces (ENVELOPE and
BODYSTRUCTURE from ``mailstead.mime``) and message data, returning chunks for
``transport.writelines`` so that message bytes are never copied here.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping, Sequence

from . import lexer, mutf7
from .search import MONTHS
from .sequence import SequenceSet

CRLF = b"\r\n"
_TEXT_UNSAFE_RE = re.compile(r"[^\x20-\x7e]")
_QUOTABLE_RE = re.compile(rb"[^\x00\r\n]*\Z")
_QUOTABLE_ASCII_RE = re.compile(rb"[\x01-\x09\x0b\x0c\x0e-\x7f]*\Z")
MAX_TEXT = 300
# Longer strings go out as literals even when they could be quoted: clients cope better.
MAX_QUOTED = 1024


def _text(text: str) -> bytes:
    """resp-text: printable ASCII only (client input may be echoed here), bounded."""
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 3] + "..."
    return _TEXT_UNSAFE_RE.sub("?", text).encode("ascii")


def tagged(tag: str, status: str, text: str, code: str | None = None) -> bytes:
    """``tag OK [CODE] text``; ``code`` is rendered already (``"UIDNEXT 5"``)."""
    head = f"{tag} {status} "
    if code:
        head += f"[{code}] "
    return head.encode("ascii", "replace") + _text(text) + CRLF


def untagged_status(status: str, text: str, code: str | None = None) -> bytes:
    """``* OK [CODE] text`` (also NO, BAD, BYE, PREAUTH)."""
    return tagged("*", status, text, code)


def untagged(*parts: bytes) -> bytes:
    """``* `` + the space-separated pre-rendered parts + CRLF."""
    return b"* " + b" ".join(parts) + CRLF


def continuation(text: str = "") -> bytes:
    return b"+ " + _text(text) + CRLF if text else b"+ \r\n"


def continuation_data(data: bytes) -> bytes:
    """A SASL challenge: ``+ base64``."""
    import base64

    return b"+ " + base64.b64encode(data) + CRLF


# --- strings ---------------------------------------------------------------------------------


def literal(data: bytes) -> bytes:
    return b"{%d}\r\n" % len(data) + data


def string(value: str | bytes, *, utf8: bool = True) -> bytes:
    """A quoted string, or a literal if the bytes cannot be quoted (CR, LF, NUL, long)."""
    raw = value.encode("utf-8") if isinstance(value, str) else value
    if len(raw) <= MAX_QUOTED and (_QUOTABLE_RE if utf8 else _QUOTABLE_ASCII_RE).match(raw):
        return lexer.quote(raw)
    return literal(raw)


def nstring(value: str | bytes | None, *, utf8: bool = True) -> bytes:
    return b"NIL" if value is None else string(value, utf8=utf8)


def astring(value: str | bytes, *, utf8: bool = True) -> bytes:
    """An atom when the bytes allow (and it is not NIL), else ``string``."""
    raw = value.encode("utf-8") if isinstance(value, str) else value
    if raw and lexer.is_astring_atom(raw) and raw.isascii() and raw.upper() != b"NIL":
        return raw
    return string(raw, utf8=utf8)


def mailbox(name: str, *, utf8: bool) -> bytes:
    """A mailbox name: UTF-8 once UTF8=ACCEPT/IMAP4rev2 is enabled, modified UTF-7 before."""
    raw = name.encode("utf-8") if utf8 else mutf7.encode(name)
    return astring(raw, utf8=utf8)


def flag_list(flags: Iterable[str]) -> bytes:
    return b"(" + " ".join(flags).encode("utf-8") + b")"


def internal_date(when: datetime.datetime) -> bytes:
    """``"17-Jul-1996 02:44:25 -0700"`` (RFC 9051 date-time)."""
    offset = when.utcoffset() or datetime.timedelta()
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    text = (
        f'"{when.day:02d}-{MONTHS[when.month - 1]}-{when.year:04d} '
        f'{when.hour:02d}:{when.minute:02d}:{when.second:02d} {sign}{minutes // 60:02d}{minutes % 60:02d}"'
    )
    return text.encode("ascii")


def value(item: object, *, utf8: bool = True) -> bytes:
    """A generic data value: int, None (NIL), str (string), bytes (as is), lists."""
    if isinstance(item, bool):
        raise TypeError("booleans have no IMAP form")
    if isinstance(item, int):
        return b"%d" % item
    if item is None:
        return b"NIL"
    if isinstance(item, str):
        return string(item, utf8=utf8)
    if isinstance(item, bytes | bytearray):
        return bytes(item)
    if isinstance(item, SequenceSet):
        return bytes(item)
    if isinstance(item, list | tuple):
        return b"(" + b" ".join(value(x, utf8=utf8) for x in item) + b")"
    raise TypeError(f"no IMAP form for {type(item).__name__}")


# --- common untagged data ----------------------------------------------------------------------


def capability(capabilities: Iterable[str]) -> bytes:
    return untagged(b"CAPABILITY", " ".join(capabilities).encode("ascii"))


def enabled(capabilities: Iterable[str]) -> bytes:
    names = " ".join(capabilities).encode("ascii")
    return b"* ENABLED " + names + CRLF if names else b"* ENABLED\r\n"


def exists(count: int) -> bytes:
    return b"* %d EXISTS\r\n" % count


def recent(count: int) -> bytes:
    return b"* %d RECENT\r\n" % count


def expunge(number: int) -> bytes:
    return b"* %d EXPUNGE\r\n" % number


def vanished(uids: SequenceSet, *, earlier: bool = False) -> bytes:
    return b"* VANISHED " + (b"(EARLIER) " if earlier else b"") + bytes(uids) + CRLF


def flags(flag_names: Iterable[str]) -> bytes:
    return b"* FLAGS " + flag_list(flag_names) + CRLF


def list_item(
    attributes: Iterable[str],
    delimiter: str | None,
    name: str,
    *,
    utf8: bool,
    extended: Sequence[bytes] = (),
    command: str = "LIST",
) -> bytes:
    """``* LIST (\\HasNoChildren) "/" INBOX``; ``extended`` items pre-rendered (CHILDINFO)."""
    delim = b"NIL" if delimiter is None else lexer.quote(delimiter.encode("utf-8"))
    parts = [command.encode("ascii"), flag_list(attributes), delim, mailbox(name, utf8=utf8)]
    if extended:
        parts.append(b"(" + b" ".join(extended) + b")")
    return untagged(*parts)


def status(name: str, items: Mapping[str, int], *, utf8: bool) -> bytes:
    body = " ".join(f"{key} {val}" for key, val in items.items()).encode("ascii")
    return untagged(b"STATUS", mailbox(name, utf8=utf8), b"(" + body + b")")


def search(numbers: Iterable[int], modseq: int | None = None) -> bytes:
    out = b"* SEARCH"
    joined = b" ".join(b"%d" % n for n in numbers)
    if joined:
        out += b" " + joined
    if modseq is not None:
        out += b" (MODSEQ %d)" % modseq
    return out + CRLF


def esearch(
    tag: str | None,
    *,
    uid: bool,
    minimum: int | None = None,
    maximum: int | None = None,
    all_numbers: SequenceSet | None = None,
    count: int | None = None,
    modseq: int | None = None,
) -> bytes:
    """RFC 4731 / RFC 9051 ``* ESEARCH (TAG "a") UID MIN 2 MAX 9 COUNT 4 ALL 2,4:5,9``."""
    out = b"* ESEARCH"
    if tag is not None:
        out += b" (TAG " + lexer.quote(tag.encode("ascii", "replace")) + b")"
    if uid:
        out += b" UID"
    if minimum is not None:
        out += b" MIN %d" % minimum
    if maximum is not None:
        out += b" MAX %d" % maximum
    if count is not None:
        out += b" COUNT %d" % count
    if all_numbers is not None and all_numbers.ranges:
        out += b" ALL " + bytes(all_numbers)
    if modseq is not None:
        out += b" MODSEQ %d" % modseq
    return out + CRLF


def sort(numbers: Iterable[int]) -> bytes:
    """RFC 5256 ``* SORT 2 84 882``."""
    joined = b" ".join(b"%d" % n for n in numbers)
    return b"* SORT " + joined + CRLF if joined else b"* SORT\r\n"


Thread = list["int | Thread"]


def thread(threads: Iterable[Thread]) -> bytes:
    """RFC 5256 ``* THREAD (2)(3 6 (4 23)(44 7 96))``.

    Each thread is a list: message numbers in a chain, and a nested list for each branch,
    e.g. ``[3, 6, [4, 23], [44, 7, 96]]``.
    """
    return b"* THREAD " + b"".join(_thread_node(t) for t in threads) + CRLF


def _thread_node(node: Thread) -> bytes:
    members = [item for item in node if not isinstance(item, list)]
    branches = [item for item in node if isinstance(item, list)]
    if len(branches) == 1:  # thread-nested needs two or more: one branch just continues
        return _thread_node([*members, *branches[0]])
    out = b" ".join(b"%d" % n for n in members)
    if branches:
        out += (b" " if members else b"") + b"".join(_thread_node(b) for b in branches)
    return b"(" + out + b")"


def id_response(parameters: Mapping[str, str | None] | None) -> bytes:
    if parameters is None:
        return b"* ID NIL\r\n"
    items = []
    for key, val in parameters.items():
        items += [string(key), nstring(val)]
    return untagged(b"ID", b"(" + b" ".join(items) + b")")


def quota(root: str, resources: Iterable[tuple[str, int, int]]) -> bytes:
    """RFC 9208 ``* QUOTA "" (STORAGE 10 512)``: (name, usage, limit) triples."""
    body = " ".join(f"{n} {u} {lim}" for n, u, lim in resources).encode("ascii")
    return untagged(b"QUOTA", astring(root), b"(" + body + b")")


def quota_root(name: str, roots: Iterable[str], *, utf8: bool) -> bytes:
    return untagged(b"QUOTAROOT", mailbox(name, utf8=utf8), *(astring(r) for r in roots))


# --- FETCH -----------------------------------------------------------------------------------


class FetchResponse:
    """One ``* n FETCH (...)`` response, built item by item.

    ``add`` takes a pre-rendered value (``b"12"``, an ENVELOPE from ``mailstead.mime``),
    ``add_literal`` message data (``bytes`` or ``memoryview``), which ``chunks()`` hands out
    as is between the small pieces, so the bytes are never copied by the core.
    """

    __slots__ = ("_chunks", "_pieces")

    def __init__(self, number: int) -> None:
        self._pieces: list[bytes] = [b"* %d FETCH (" % number]
        self._chunks: list[bytes | memoryview] = []

    def _separator(self) -> None:
        if len(self._pieces) > 1 or self._chunks:
            self._pieces.append(b" ")

    def add(self, key: bytes, rendered: bytes) -> FetchResponse:
        self._separator()
        self._pieces.append(key)
        self._pieces.append(b" ")
        self._pieces.append(rendered)
        return self

    def add_number(self, key: bytes, number: int) -> FetchResponse:
        return self.add(key, b"%d" % number)

    def add_flags(self, flag_names: Iterable[str]) -> FetchResponse:
        return self.add(b"FLAGS", flag_list(flag_names))

    def add_literal(
        self, key: bytes, data: bytes | memoryview | None, *, binary: bool = False
    ) -> FetchResponse:
        """``key {n}\\r\\n<data>``; ``binary`` uses literal8 ``~{n}`` (RFC 3516) if needed."""
        self._separator()
        self._pieces.append(key)
        if data is None:
            self._pieces.append(b" NIL")
            return self
        size = len(data)
        eight = binary and b"\x00" in data
        self._pieces.append(b" ~{%d}\r\n" % size if eight else b" {%d}\r\n" % size)
        self._chunks.append(b"".join(self._pieces))
        self._pieces = []
        if size:
            self._chunks.append(data)
        return self

    def chunks(self) -> list[bytes | memoryview]:
        """The response as pieces for ``transport.writelines``."""
        self._pieces.append(b")\r\n")
        out = [*self._chunks, b"".join(self._pieces)]
        self._pieces = []
        self._chunks = []
        return out

    def to_bytes(self) -> bytes:
        return b"".join(bytes(chunk) for chunk in self.chunks())
