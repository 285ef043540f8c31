"""Every IMAP command as a typed value (RFC 9051, RFC 3501 and the extensions we speak).

Strings are ``str`` (mailbox names already decoded from modified UTF-7 or UTF-8, ``INBOX``
in upper case whatever the client wrote), flags keep their backslash (``\\Seen``, system flags
in canonical case), numbers are ``int``, sequence sets ``SequenceSet``. Each class knows the
states it is valid in; the connection refuses the others with a BAD.

Commands are plain (not frozen) dataclasses because constructing a frozen one costs about a
microsecond more, a tenth of the parse budget; treat them as read-only. Their parts
(``SequenceSet``, ``FetchAttribute``, search keys) are immutable and may be shared.
"""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass
from typing import ClassVar

from .fetch import FetchAttribute
from .search import SearchKey
from .sequence import SequenceSet


class State(enum.Enum):
    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


ANY_STATE = frozenset({State.NOT_AUTHENTICATED, State.AUTHENTICATED, State.SELECTED})
NOT_AUTHENTICATED = frozenset({State.NOT_AUTHENTICATED})
AUTHENTICATED = frozenset({State.AUTHENTICATED, State.SELECTED})
SELECTED = frozenset({State.SELECTED})


@dataclass(slots=True)
class Command:
    tag: str
    name: ClassVar[str] = ""
    allowed_in: ClassVar[frozenset[State]] = ANY_STATE


# --- any state -----------------------------------------------------------------------


@dataclass(slots=True)
class Capability(Command):
    name: ClassVar[str] = "CAPABILITY"


@dataclass(slots=True)
class Noop(Command):
    name: ClassVar[str] = "NOOP"


@dataclass(slots=True)
class Logout(Command):
    name: ClassVar[str] = "LOGOUT"


@dataclass(slots=True)
class Id(Command):
    """RFC 2971; ``parameters`` is None for ``ID NIL``."""

    parameters: tuple[tuple[str, str | None], ...] | None = None
    name: ClassVar[str] = "ID"


# --- not authenticated ------------------------------------------------------------------


@dataclass(slots=True)
class StartTLS(Command):
    name: ClassVar[str] = "STARTTLS"
    allowed_in: ClassVar[frozenset[State]] = NOT_AUTHENTICATED


@dataclass(slots=True)
class Authenticate(Command):
    """``initial_response`` (RFC 4959 SASL-IR) is decoded; ``b""`` for ``=``."""

    mechanism: str
    initial_response: bytes | None = None
    name: ClassVar[str] = "AUTHENTICATE"
    allowed_in: ClassVar[frozenset[State]] = NOT_AUTHENTICATED


@dataclass(slots=True)
class Login(Command):
    username: str
    password: str
    name: ClassVar[str] = "LOGIN"
    allowed_in: ClassVar[frozenset[State]] = NOT_AUTHENTICATED

    def __repr__(self) -> str:  # keep passwords out of logs
        return f"Login(tag={self.tag!r}, username={self.username!r}, password='***')"


# --- authenticated -------------------------------------------------------------------------


@dataclass(slots=True)
class Enable(Command):
    capabilities: tuple[str, ...]
    name: ClassVar[str] = "ENABLE"
    allowed_in: ClassVar[frozenset[State]] = AUTHENTICATED


@dataclass(frozen=True, slots=True)
class QResync:
    """RFC 7162 §3.2.5 SELECT/EXAMINE ``(QRESYNC (uidvalidity modseq [uids [(seqs uids)]]))``."""

    uid_validity: int
    modseq: int
    known_uids: SequenceSet | None = None
    sequence_match: tuple[SequenceSet, SequenceSet] | None = None


@dataclass(slots=True)
class Select(Command):
    mailbox: str
    condstore: bool = False
    qresync: QResync | None = None
    name: ClassVar[str] = "SELECT"
    allowed_in: ClassVar[frozenset[State]] = AUTHENTICATED

    @property
    def read_only(self) -> bool:
        return False


@dataclass(slots=True)
class Examine(Select):
    name: ClassVar[str] = "EXAMINE"

    @property
    def read_only(self) -> bool:
        return True


@dataclass(slots=True)
class Create(Command):
    """``special_use`` from RFC 6154 ``CREATE name (USE (\\Drafts))``."""

    mailbox: str
    special_use: tuple[str, ...] = ()
    name: ClassVar[str] = "CREATE"
    allowed_in: ClassVar[frozenset[State]] = AUTHENTICATED


@dataclass(slots=True)
class Delete(Command):
    mailbox: str
    name: ClassVar[str] = "DELETE"
    allowed_in: ClassVar[frozenset[State]] = AUTHENTICATED


@dataclass(slots=True)
class Rename(Command):
    mailbox: str
    new_name: str
    name: ClassVar[str] = "RENAME"
    allowed_in: ClassVar[frozenset[State]] = AUTHENTICATED


@dataclass(slots=True)
class Subscribe(Command):
    mailbox: str
    name: ClassVar[str] = "SUBSCRIBE"
    allowed_in: ClassVar[frozenset[State]] = AUTHENTICATED


@dataclass(slots=True)
class Unsubscribe(Command):
    mailbox: str
    name: ClassVar[str] = "UNSUBSCRIBE"
    allowed_in: ClassVar[frozenset[State]] = AUTHENTICATED


@dataclass(slots=True)
class List(Command):
    """LIST with RFC 5258 selection/return options and RFC 5819 ``RETURN (STATUS (...))``.

    Patterns keep ``%`` and ``*``. ``status_items`` is None unless STATUS was requested.
    Option names are upper case; ``selection`` e.g. ``("SUBSCRIBED", "RECURSIVEMATCH")``,
    ``return_options`` e.g. ``("CHILDREN", "SPECIAL-USE")``.
    """

    reference: str
    patterns: tuple[str, ...]
    selection: tuple[str, ...] = ()
    return_options: tuple[str, ...] = ()
    status_items: tuple[str, ...] | None = None
    name: ClassVar[str] = "LIST"
    allowed_in: ClassVar[frozenset[State]] = AUTHENTICATED

    @property
    def extended(self) -> bool:
        """Whether the client used LIST-EXTENDED syntax (the reply differs, RFC 5258)."""
        return bool(self.selection or self.return_options or len(self.patterns) != 1)


@dataclass(slots=True)
class Lsub(Command):
    reference: str
    pattern: str
    name: ClassVar[str] = "LSUB"
    allowed_in: ClassVar[frozenset[State]] = AUTHENTICATED


@dataclass(slots=True)
class Namespace(Command):
    name: ClassVar[str] = "NAMESPACE"
    allowed_in: ClassVar[frozenset[State]] = AUTHENTICATED


@dataclass(slots=True)
class Status(Command):
    """``items`` upper case: MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT
    HIGHESTMODSEQ APPENDLIMIT MAILBOXID."""

    mailbox: str
    items: tuple[str, ...]
    name: ClassVar[str] = "STATUS"
    allowed_in: ClassVar[frozenset[State]] = AUTHENTICATED


@dataclass(slots=True)
class AppendMessage:
    """One message of an APPEND (several with RFC 3502 MULTIAPPEND).

    ``binary`` when sent as an RFC 3516 ``~{n}`` literal (may hold NUL and raw 8-bit).
    """

    data: bytes
    flags: tuple[str, ...] = ()
    internal_date: datetime.datetime | None = None
    binary: bool = False

    def __repr__(self) -> str:
        return (
            f"AppendMessage(<{len(self.data)} bytes>, flags={self.flags!r}, "
            f"internal_date={self.internal_date!r}, binary={self.binary})"
        )


@dataclass(slots=True)
class Append(Command):
    mailbox: str
    messages: tuple[AppendMessage, ...]
    name: ClassVar[str] = "APPEND"
    allowed_in: ClassVar[frozenset[State]] = AUTHENTICATED


@dataclass(slots=True)
class Idle(Command):
    name: ClassVar[str] = "IDLE"
    allowed_in: ClassVar[frozenset[State]] = AUTHENTICATED


@dataclass(slots=True)
class GetQuota(Command):
    root: str
    name: ClassVar[str] = "GETQUOTA"
    allowed_in: ClassVar[frozenset[State]] = AUTHENTICATED


@dataclass(slots=True)
class GetQuotaRoot(Command):
    mailbox: str
    name: ClassVar[str] = "GETQUOTAROOT"
    allowed_in: ClassVar[frozenset[State]] = AUTHENTICATED


@dataclass(slots=True)
class SetQuota(Command):
    """``limits``: (resource name upper case, limit) pairs, e.g. ``(("STORAGE", 512),)``."""

    root: str
    limits: tuple[tuple[str, int], ...]
    name: ClassVar[str] = "SETQUOTA"
    allowed_in: ClassVar[frozenset[State]] = AUTHENTICATED


@dataclass(slots=True)
class Compress(Command):
    mechanism: str
    name: ClassVar[str] = "COMPRESS"
    allowed_in: ClassVar[frozenset[State]] = AUTHENTICATED


# --- selected ----------------------------------------------------------------------------


@dataclass(slots=True)
class Check(Command):
    name: ClassVar[str] = "CHECK"
    allowed_in: ClassVar[frozenset[State]] = SELECTED


@dataclass(slots=True)
class Close(Command):
    name: ClassVar[str] = "CLOSE"
    allowed_in: ClassVar[frozenset[State]] = SELECTED


@dataclass(slots=True)
class Unselect(Command):
    name: ClassVar[str] = "UNSELECT"
    allowed_in: ClassVar[frozenset[State]] = SELECTED


@dataclass(slots=True)
class Expunge(Command):
    """``uids`` is set for RFC 4315 / RFC 9051 ``UID EXPUNGE``."""

    uids: SequenceSet | None = None
    name: ClassVar[str] = "EXPUNGE"
    allowed_in: ClassVar[frozenset[State]] = SELECTED


@dataclass(slots=True)
class Search(Command):
    """``return_options`` None: a plain SEARCH; a tuple (maybe empty): ESEARCH RFC 4731/9051.

    Options upper case, among MIN MAX ALL COUNT SAVE. ``key`` is a ``SearchAnd``.
    """

    key: SearchKey
    charset: str | None = None
    return_options: tuple[str, ...] | None = None
    uid: bool = False
    name: ClassVar[str] = "SEARCH"
    allowed_in: ClassVar[frozenset[State]] = SELECTED


@dataclass(slots=True)
class Fetch(Command):
    """Macros are expanded. ``vanished`` only with UID FETCH and ``changed_since``."""

    sequence: SequenceSet
    attributes: tuple[FetchAttribute, ...]
    uid: bool = False
    changed_since: int | None = None
    vanished: bool = False
    name: ClassVar[str] = "FETCH"
    allowed_in: ClassVar[frozenset[State]] = SELECTED


class StoreMode(enum.Enum):
    REPLACE = ""
    ADD = "+"
    REMOVE = "-"


@dataclass(slots=True)
class Store(Command):
    sequence: SequenceSet
    mode: StoreMode
    flags: tuple[str, ...]
    silent: bool = False
    unchanged_since: int | None = None
    uid: bool = False
    name: ClassVar[str] = "STORE"
    allowed_in: ClassVar[frozenset[State]] = SELECTED


@dataclass(slots=True)
class Copy(Command):
    sequence: SequenceSet
    mailbox: str
    uid: bool = False
    name: ClassVar[str] = "COPY"
    allowed_in: ClassVar[frozenset[State]] = SELECTED


@dataclass(slots=True)
class Move(Command):
    sequence: SequenceSet
    mailbox: str
    uid: bool = False
    name: ClassVar[str] = "MOVE"
    allowed_in: ClassVar[frozenset[State]] = SELECTED


@dataclass(frozen=True, slots=True)
class SortCriterion:
    key: str  # ARRIVAL CC DATE FROM SIZE SUBJECT TO DISPLAYFROM DISPLAYTO
    reverse: bool = False


@dataclass(slots=True)
class Sort(Command):
    """RFC 5256; ``return_options`` from RFC 5267 ESORT when given."""

    criteria: tuple[SortCriterion, ...]
    charset: str
    key: SearchKey
    uid: bool = False
    return_options: tuple[str, ...] | None = None
    name: ClassVar[str] = "SORT"
    allowed_in: ClassVar[frozenset[State]] = SELECTED


@dataclass(slots=True)
class Thread(Command):
    algorithm: str  # ORDEREDSUBJECT REFERENCES REFS
    charset: str
    key: SearchKey
    uid: bool = False
    name: ClassVar[str] = "THREAD"
    allowed_in: ClassVar[frozenset[State]] = SELECTED


ALL_COMMANDS: tuple[type[Command], ...] = (
    Capability, Noop, Logout, Id, StartTLS, Authenticate, Login, Enable, Select, Examine,
    Create, Delete, Rename, Subscribe, Unsubscribe, List, Lsub, Namespace, Status, Append,
    Idle, GetQuota, GetQuotaRoot, SetQuota, Compress, Check, Close, Unselect, Expunge,
    Search, Fetch, Store, Copy, Move, Sort, Thread,
)  # fmt: skip
