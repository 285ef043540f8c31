"""The search-key tree of SEARCH, SORT and THREAD (RFC 9051 §6.4.4 and extensions).

Keys are small frozen dataclasses; a program is ``SearchAnd`` of its top-level keys.
``bytes(key)`` writes a key back the way a client sends it (used by the command writer).
RFC 3501's ``NEW``/``OLD``/``RECENT`` are read into flag keys on ``\\Recent`` and ``\\Seen``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from . import lexer
from .sequence import SequenceSet

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# SEARCH keys that name a flag being set / not set.
FLAG_KEYS: dict[str, tuple[str, bool]] = {
    "ANSWERED": ("\\Answered", True),
    "DELETED": ("\\Deleted", True),
    "DRAFT": ("\\Draft", True),
    "FLAGGED": ("\\Flagged", True),
    "SEEN": ("\\Seen", True),
    "RECENT": ("\\Recent", True),
    "UNANSWERED": ("\\Answered", False),
    "UNDELETED": ("\\Deleted", False),
    "UNDRAFT": ("\\Draft", False),
    "UNFLAGGED": ("\\Flagged", False),
    "UNSEEN": ("\\Seen", False),
}
_FLAG_KEY_NAMES = {value: key for key, value in FLAG_KEYS.items()}
TEXT_KEYS = ("BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO")
DATE_KEYS = {
    "BEFORE": ("BEFORE", True),
    "ON": ("ON", True),
    "SINCE": ("SINCE", True),
    "SENTBEFORE": ("BEFORE", False),
    "SENTON": ("ON", False),
    "SENTSINCE": ("SINCE", False),
}


class SearchKey:
    """Base class of every search key."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class SearchAll(SearchKey):
    def __bytes__(self) -> bytes:
        return b"ALL"


@dataclass(frozen=True, slots=True)
class SearchAnd(SearchKey):
    keys: tuple[SearchKey, ...]

    def __bytes__(self) -> bytes:
        return b"(" + b" ".join(bytes(k) for k in self.keys) + b")"


@dataclass(frozen=True, slots=True)
class SearchOr(SearchKey):
    left: SearchKey
    right: SearchKey

    def __bytes__(self) -> bytes:
        return b"OR " + bytes(self.left) + b" " + bytes(self.right)


@dataclass(frozen=True, slots=True)
class SearchNot(SearchKey):
    key: SearchKey

    def __bytes__(self) -> bytes:
        return b"NOT " + bytes(self.key)


@dataclass(frozen=True, slots=True)
class SearchFlag(SearchKey):
    """A system flag (``\\Seen``) or keyword (``$Forwarded``) set (``present``) or not."""

    flag: str
    present: bool = True

    def __bytes__(self) -> bytes:
        name = _FLAG_KEY_NAMES.get((self.flag, self.present))
        if name is not None:
            return name.encode("ascii")
        prefix = b"KEYWORD " if self.present else b"UNKEYWORD "
        return prefix + self.flag.encode("utf-8")


@dataclass(frozen=True, slots=True)
class SearchText(SearchKey):
    """``BCC``/``BODY``/``CC``/``FROM``/``SUBJECT``/``TEXT``/``TO``: substring match."""

    where: str
    value: str

    def __bytes__(self) -> bytes:
        return self.where.encode("ascii") + b" " + string_argument(self.value)


@dataclass(frozen=True, slots=True)
class SearchHeader(SearchKey):
    field: str
    value: str

    def __bytes__(self) -> bytes:
        return b"HEADER " + string_argument(self.field) + b" " + string_argument(self.value)


@dataclass(frozen=True, slots=True)
class SearchDate(SearchKey):
    """``op`` is BEFORE, ON or SINCE; ``internal`` false for the SENT* (Date: header) keys."""

    op: str
    date: datetime.date
    internal: bool = True

    def __bytes__(self) -> bytes:
        name = self.op if self.internal else "SENT" + self.op
        return name.encode("ascii") + b" " + format_date(self.date)


@dataclass(frozen=True, slots=True)
class SearchSize(SearchKey):
    """``op`` is LARGER or SMALLER."""

    op: str
    size: int

    def __bytes__(self) -> bytes:
        return b"%s %d" % (self.op.encode("ascii"), self.size)


@dataclass(frozen=True, slots=True)
class SearchSequence(SearchKey):
    """A bare sequence set, or ``UID`` set; either may be ``$`` (RFC 5182)."""

    sequence: SequenceSet
    uid: bool = False

    def __bytes__(self) -> bytes:
        return (b"UID " if self.uid else b"") + bytes(self.sequence)


@dataclass(frozen=True, slots=True)
class SearchModSeq(SearchKey):
    """RFC 7162 ``MODSEQ ["/flags/\\\\draft" all] 620162338``."""

    modseq: int
    entry_name: str | None = None
    entry_type: str | None = None

    def __bytes__(self) -> bytes:
        entry = b""
        if self.entry_name is not None:
            entry = lexer.quote(self.entry_name.encode("utf-8")) + b" "
            entry += (self.entry_type or "all").encode("ascii") + b" "
        return b"MODSEQ " + entry + b"%d" % self.modseq


@dataclass(frozen=True, slots=True)
class SearchWithin(SearchKey):
    """RFC 5032 ``OLDER n`` / ``YOUNGER n`` (seconds)."""

    op: str
    seconds: int

    def __bytes__(self) -> bytes:
        return b"%s %d" % (self.op.encode("ascii"), self.seconds)


@dataclass(frozen=True, slots=True)
class SearchObjectId(SearchKey):
    """RFC 8474 ``EMAILID`` / ``THREADID``."""

    kind: str
    object_id: str

    def __bytes__(self) -> bytes:
        return self.kind.encode("ascii") + b" " + self.object_id.encode("ascii")


def format_date(date: datetime.date) -> bytes:
    return f"{date.day}-{MONTHS[date.month - 1]}-{date.year:04d}".encode("ascii")


def string_argument(value: str) -> bytes:
    """A search string as a client writes it: atom-like if it can be, else quoted.

    Values that need a literal (CR, LF) cannot be written on one line; the command writer
    handles those through ``mailstead.proto.imap.writer``.
    """
    raw = value.encode("utf-8")
    if raw and lexer.is_astring_atom(raw) and raw.upper() != b"NIL":
        return raw
    return lexer.quote(raw)


def program_bytes(key: SearchKey) -> bytes:
    """The keys of a search program without the outer parentheses of the top ``SearchAnd``."""
    if isinstance(key, SearchAnd) and key.keys:
        return b" ".join(bytes(k) for k in key.keys)
    return bytes(key)
