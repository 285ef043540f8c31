"""The search-key tree of SEARCH, SORT and THREAD (RFC 9051 §6.4.4 and extensions).

Keys are small immutable named tuples; a program is ``SearchAnd`` of its top-level keys.
``bytes(key)`` writes a key back the way a client sends it (used by the command writer).
RFC 3501's ``NEW``/``OLD``/``RECENT`` are read into flag keys on ``\\Recent`` and ``\\Seen``.
"""

from __future__ import annotations

import datetime
from typing import NamedTuple

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


class SearchKey(tuple):
    """Base class of every search key: an immutable tuple of its fields (a ``NamedTuple``
    each), equal only to a key of the same type with the same fields.

    Tuples rather than frozen dataclasses because the parser builds several per SEARCH
    command, and a frozen dataclass costs about three times as much to build (its
    ``__init__`` goes through ``object.__setattr__`` once per field).
    """

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and tuple.__eq__(self, other)  # type: ignore[operator]

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple.__hash__(self)))

    def __bool__(self) -> bool:
        return True  # even SearchAll(), which has no fields


class _SearchAllFields(NamedTuple):
    pass


class SearchAll(SearchKey, _SearchAllFields):
    __slots__ = ()

    def __bytes__(self) -> bytes:
        return b"ALL"


class _SearchAndFields(NamedTuple):
    keys: tuple[SearchKey, ...]


class SearchAnd(SearchKey, _SearchAndFields):
    __slots__ = ()

    def __bytes__(self) -> bytes:
        return b"(" + b" ".join(bytes(k) for k in self.keys) + b")"


class _SearchOrFields(NamedTuple):
    left: SearchKey
    right: SearchKey


class SearchOr(SearchKey, _SearchOrFields):
    __slots__ = ()

    def __bytes__(self) -> bytes:
        return b"OR " + bytes(self.left) + b" " + bytes(self.right)


class _SearchNotFields(NamedTuple):
    key: SearchKey


class SearchNot(SearchKey, _SearchNotFields):
    __slots__ = ()

    def __bytes__(self) -> bytes:
        return b"NOT " + bytes(self.key)


class _SearchFlagFields(NamedTuple):
    flag: str
    present: bool = True


class SearchFlag(SearchKey, _SearchFlagFields):
    """A system flag (``\\Seen``) or keyword (``$Forwarded``) set (``present``) or not."""

    __slots__ = ()

    def __bytes__(self) -> bytes:
        name = _FLAG_KEY_NAMES.get((self.flag, self.present))
        if name is not None:
            return name.encode("ascii")
        prefix = b"KEYWORD " if self.present else b"UNKEYWORD "
        return prefix + self.flag.encode("utf-8")


class _SearchTextFields(NamedTuple):
    where: str
    value: str


class SearchText(SearchKey, _SearchTextFields):
    """``BCC``/``BODY``/``CC``/``FROM``/``SUBJECT``/``TEXT``/``TO``: substring match."""

    __slots__ = ()

    def __bytes__(self) -> bytes:
        return self.where.encode("ascii") + b" " + string_argument(self.value)


class _SearchHeaderFields(NamedTuple):
    field: str
    value: str


class SearchHeader(SearchKey, _SearchHeaderFields):
    __slots__ = ()

    def __bytes__(self) -> bytes:
        return b"HEADER " + string_argument(self.field) + b" " + string_argument(self.value)


class _SearchDateFields(NamedTuple):
    op: str
    date: datetime.date
    internal: bool = True


class SearchDate(SearchKey, _SearchDateFields):
    """``op`` is BEFORE, ON or SINCE; ``internal`` false for the SENT* (Date: header) keys."""

    __slots__ = ()

    def __bytes__(self) -> bytes:
        name = self.op if self.internal else "SENT" + self.op
        return name.encode("ascii") + b" " + format_date(self.date)


class _SearchSizeFields(NamedTuple):
    op: str
    size: int


class SearchSize(SearchKey, _SearchSizeFields):
    """``op`` is LARGER or SMALLER."""

    __slots__ = ()

    def __bytes__(self) -> bytes:
        return b"%s %d" % (self.op.encode("ascii"), self.size)


class _SearchSequenceFields(NamedTuple):
    sequence: SequenceSet
    uid: bool = False


class SearchSequence(SearchKey, _SearchSequenceFields):
    """A bare sequence set, or ``UID`` set; either may be ``$`` (RFC 5182)."""

    __slots__ = ()

    def __bytes__(self) -> bytes:
        return (b"UID " if self.uid else b"") + bytes(self.sequence)


class _SearchModSeqFields(NamedTuple):
    modseq: int
    entry_name: str | None = None
    entry_type: str | None = None


class SearchModSeq(SearchKey, _SearchModSeqFields):
    """RFC 7162 ``MODSEQ ["/flags/\\\\draft" all] 620162338``."""

    __slots__ = ()

    def __bytes__(self) -> bytes:
        entry = b""
        if self.entry_name is not None:
            entry = lexer.quote(self.entry_name.encode("utf-8")) + b" "
            entry += (self.entry_type or "all").encode("ascii") + b" "
        return b"MODSEQ " + entry + b"%d" % self.modseq


class _SearchWithinFields(NamedTuple):
    op: str
    seconds: int


class SearchWithin(SearchKey, _SearchWithinFields):
    """RFC 5032 ``OLDER n`` / ``YOUNGER n`` (seconds)."""

    __slots__ = ()

    def __bytes__(self) -> bytes:
        return b"%s %d" % (self.op.encode("ascii"), self.seconds)


class _SearchObjectIdFields(NamedTuple):
    kind: str
    object_id: str


class SearchObjectId(SearchKey, _SearchObjectIdFields):
    """RFC 8474 ``EMAILID`` / ``THREADID``."""

    __slots__ = ()

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
