"""The mail store interface every back end implements (SQLite now, PostgreSQL later).

Everything above the store (SMTP delivery, POP3, IMAP, the CLI) speaks only to `Store`.
Back ends keep their SQL dialect to themselves and are held to one contract suite
(`tests/store/contract.py`).

Design points the callers rely on:

* **Durability is a protocol step.** Every mutating call returns only after the transaction
  that carries it is durably committed. Back ends may batch concurrent callers into one
  transaction (group commit) but never acknowledge before the commit.
* **Message bytes are stored once.** A delivery to many recipients stores one blob; each
  mailbox copy keeps only a small per-recipient header prefix (`Return-Path:`,
  `Delivered-To:`) and the MIME structure of prefix + blob. The message a client sees is
  `prefix + blob`.
* **Changes are events.** Every append, flag change and expunge gets a new modseq (per
  mailbox, strictly increasing) and is published on `Store.changes` after its commit.
* The store imports no protocol code: MIME structure arrives as opaque bytes
  (`mailstead.mime` `MessageInfo.dumps()`), search text as a string.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from mailstead.store.events import ChangeBus


class StoreError(Exception):
    """Base class of store errors callers may handle."""


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    pass


class InvalidName(StoreError):
    pass


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    address: str  # lower-case local@domain; the login name
    password_hash: str
    created: datetime
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Alias:
    source: str  # "postmaster@example.org", or "@example.org" for the domain's catch-all
    target: str  # an account address (or another alias: resolved recursively, bounded)


@dataclass(frozen=True, slots=True)
class Mailbox:
    id: int
    account_id: int
    name: str  # UTF-8, hierarchy delimiter "/", "INBOX" is case-insensitive and always exists
    uidvalidity: int
    uidnext: int
    highest_modseq: int
    message_count: int
    subscribed: bool = True
    special_use: str | None = None  # "\\Sent", "\\Trash", ... (RFC 6154)


@dataclass(frozen=True, slots=True)
class MessageSummary:
    """One message as it sits in one mailbox: what POP3 LIST/UIDL and IMAP FETCH FLAGS need."""

    mailbox_id: int
    uid: int
    size: int  # RFC822.SIZE: len(prefix) + len(blob)
    internal_date: datetime
    flags: frozenset[str]  # system flags in canonical spelling ("\\Seen"), keywords as stored
    modseq: int
    blob_id: int
    queue_id: str = ""  # the delivery that brought it (kept by COPY, "" for APPEND)


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message's bytes and its MIME structure, for RETR/TOP and FETCH."""

    summary: MessageSummary
    raw: bytes  # prefix + blob, exactly what the client receives
    structure: bytes  # MessageInfo.dumps() of `raw`


@dataclass(frozen=True, slots=True)
class MessageCopy:
    """One recipient's copy of a delivery."""

    account_id: int
    prefix: bytes  # per-recipient header lines (CRLF-terminated), prepended to the blob
    structure: bytes  # MessageInfo.dumps() of prefix + blob
    # Text to index for SEARCH (headers decoded, text parts in UTF-8). Back ends index one
    # text per blob, shared by every copy of the delivery (the first copy's), so when there
    # are several copies it must be the blob's text alone: a prefix's Delivered-To would
    # show one recipient (perhaps a Bcc) to the others' SEARCH. Empty (the default, what
    # delivery gives): the back end derives the blob's text itself when it indexes it, off
    # the path to the acknowledgement.
    search_text: str = ""
    mailbox: str = "INBOX"
    flags: frozenset[str] = frozenset()
    recipient: str = ""  # the envelope recipient as given (for the journey log)


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message to store in one or more mailboxes, atomically."""

    queue_id: str
    blob: bytes  # the message as received, with our Received: header, CRLF line ends
    copies: Sequence[MessageCopy]
    internal_date: datetime | None = None  # None: the time of the commit
    envelope_sender: str = ""
    # (event, detail) journey records of `queue_id` committed with the delivery, before its
    # "delivered" records, and rolled back with it (the receiving server's "received"):
    # one write instead of two on the way to the 250.
    journey: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True, slots=True)
class DeliveredCopy:
    account_id: int
    mailbox_id: int
    uid: int
    modseq: int


class FlagMode(Enum):
    SET = "set"  # replace (IMAP FLAGS)
    ADD = "add"  # +FLAGS
    REMOVE = "remove"  # -FLAGS


@dataclass(frozen=True, slots=True)
class JourneyEvent:
    queue_id: str
    at: datetime
    event: str  # "received", "delivered", "fetched", ...
    detail: str = ""


@dataclass(frozen=True, slots=True)
class FlagChange:
    uid: int
    flags: frozenset[str]
    modseq: int


@dataclass(slots=True)
class StoreStats:
    domains: int = 0
    accounts: int = 0
    messages: int = 0
    blobs: int = 0
    blob_bytes: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class Store(abc.ABC):
    """The async mail store. Open with `await open_store(url)` (see mailstead.store)."""

    changes: ChangeBus

    # -- lifecycle -----------------------------------------------------------------------
    @abc.abstractmethod
    async def open(self) -> None:
        """Connect, run pending schema migrations, start background writers."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish queued writes, checkpoint, release connections. Idempotent."""

    @abc.abstractmethod
    async def check_integrity(self) -> list[str]:
        """Problems found by the back end's consistency check ([] when sound)."""

    @abc.abstractmethod
    async def stats(self) -> StoreStats: ...

    # -- domains -------------------------------------------------------------------------
    @abc.abstractmethod
    async def add_domain(self, name: str) -> None:
        """Raise AlreadyExists or InvalidName."""

    @abc.abstractmethod
    async def remove_domain(self, name: str) -> None:
        """Raise NotFound; refuses (StoreError) while accounts of the domain exist."""

    @abc.abstractmethod
    async def list_domains(self) -> list[str]: ...

    @abc.abstractmethod
    async def is_local_domain(self, name: str) -> bool: ...

    # -- accounts ------------------------------------------------------------------------
    @abc.abstractmethod
    async def add_account(self, address: str, password_hash: str) -> Account:
        """The domain must exist (NotFound otherwise); creates INBOX. Raise AlreadyExists."""

    @abc.abstractmethod
    async def remove_account(self, address: str) -> None:
        """Delete the account, its mailboxes and messages (blobs freed when unreferenced).
        Raise NotFound. Aliases pointing at the address are kept (they resolve to nothing)."""

    @abc.abstractmethod
    async def set_password(self, address: str, password_hash: str) -> None:
        """Raise NotFound."""

    @abc.abstractmethod
    async def get_account(self, address: str) -> Account | None:
        """Case-insensitive lookup by address."""

    @abc.abstractmethod
    async def get_account_by_id(self, account_id: int) -> Account | None: ...

    @abc.abstractmethod
    async def list_accounts(self, domain: str | None = None) -> list[Account]: ...

    # -- aliases -------------------------------------------------------------------------
    @abc.abstractmethod
    async def add_alias(self, source: str, target: str) -> None:
        """source "user@dom" or "@dom" (catch-all); the source's domain must be local
        (NotFound). A source may have several targets. Raise AlreadyExists, InvalidName."""

    @abc.abstractmethod
    async def remove_alias(self, source: str, target: str | None = None) -> None:
        """Remove source -> target, or every target of source (None). Raise NotFound."""

    @abc.abstractmethod
    async def list_aliases(self, domain: str | None = None) -> list[Alias]: ...

    @abc.abstractmethod
    async def resolve_recipient(self, address: str) -> list[Account]:
        """Accounts that mail to `address` reaches: the account itself, else its aliases
        (recursively, bounded), else the domain's catch-all. `postmaster@<local domain>` and
        bare `postmaster` always resolve (to the postmaster alias, else the first account of
        the domain, else of any domain). [] when nothing matches; the domain part is matched
        case-insensitively, the local part too (as Postfix does by default)."""

    # -- mailboxes -----------------------------------------------------------------------
    @abc.abstractmethod
    async def list_mailboxes(self, account_id: int) -> list[Mailbox]: ...

    @abc.abstractmethod
    async def get_mailbox(self, account_id: int, name: str) -> Mailbox | None:
        """"INBOX" matches case-insensitively; other names exactly. None for invalid names."""

    @abc.abstractmethod
    async def create_mailbox(
        self, account_id: int, name: str, special_use: str | None = None
    ) -> Mailbox:
        """A new mailbox with a fresh UIDVALIDITY (never reused, even after a delete).
        Raise AlreadyExists (also for INBOX), InvalidName, NotFound (no such account)."""

    @abc.abstractmethod
    async def delete_mailbox(self, account_id: int, name: str) -> None:
        """Delete the mailbox and its messages (not the mailboxes below it). Raise
        NotFound; InvalidName for INBOX."""

    @abc.abstractmethod
    async def rename_mailbox(self, account_id: int, old: str, new: str) -> None:
        """Rename `old` and the mailboxes below it. Renaming INBOX moves its messages to a
        new mailbox `new` and leaves INBOX empty (RFC 9051 §6.3.6). Raise NotFound,
        AlreadyExists, InvalidName."""

    @abc.abstractmethod
    async def set_subscribed(self, account_id: int, name: str, subscribed: bool) -> None:
        """Raise NotFound."""

    # -- messages ------------------------------------------------------------------------
    @abc.abstractmethod
    async def deliver(self, delivery: Delivery) -> list[DeliveredCopy]:
        """Store the blob once and every copy, in one transaction; return after the commit.
        Missing target mailboxes fall back to INBOX. Records a "delivered" journey event per
        copy and publishes an append event per copy. NotFound when a copy's account does not
        exist (then nothing of the delivery is stored); StoreError without copies;
        InvalidName for an invalid flag."""

    @abc.abstractmethod
    async def append(
        self,
        account_id: int,
        mailbox: str,
        raw: bytes,
        structure: bytes,
        search_text: str = "",
        flags: frozenset[str] = frozenset(),
        internal_date: datetime | None = None,
    ) -> DeliveredCopy:
        """IMAP APPEND: store `raw` as it is (no prefix). NotFound if the mailbox is missing,
        InvalidName for an invalid flag. `search_text` as for MessageCopy ('' = derive)."""

    @abc.abstractmethod
    async def list_messages(self, mailbox_id: int) -> list[MessageSummary]:
        """Every message of the mailbox, ordered by UID. NotFound for an unknown mailbox."""

    @abc.abstractmethod
    async def get_message(self, mailbox_id: int, uid: int) -> StoredMessage | None: ...

    @abc.abstractmethod
    async def get_structure(self, mailbox_id: int, uid: int) -> bytes | None:
        """Only the stored MIME structure (FETCH BODYSTRUCTURE without reading the bytes)."""

    @abc.abstractmethod
    async def set_flags(
        self,
        mailbox_id: int,
        uids: Sequence[int],
        flags: frozenset[str],
        mode: FlagMode,
        unchanged_since: int | None = None,
    ) -> list[FlagChange]:
        """Change flags; messages whose modseq > unchanged_since are left alone (CONDSTORE).
        Returns the changed messages with their new flags and modseq (all changed messages
        of one call share one new modseq; a message whose flags stay the same is not
        changed and gets none). System flags are matched case-insensitively and returned in
        their canonical spelling; keywords keep the first spelling stored; "\\Recent" and
        unknown system flags raise InvalidName. NotFound for an unknown mailbox."""

    @abc.abstractmethod
    async def expunge(self, mailbox_id: int, uids: Sequence[int]) -> list[int]:
        """Remove these messages in one transaction; return the UIDs actually removed
        (sorted). Unknown UIDs are ignored; NotFound for an unknown mailbox."""

    @abc.abstractmethod
    async def copy_messages(
        self, mailbox_id: int, uids: Sequence[int], target_mailbox_id: int
    ) -> list[tuple[int, int]]:
        """Copy (sharing blobs, keeping flags and internal date); return (source uid, new
        uid) pairs in source UID order. NotFound for an unknown mailbox."""

    # -- extensions (added by the SQLite back end; a back end must implement them too, the
    #    contract suite tests them; the defaults only keep test doubles small) -------------
    async def get_mailbox_by_id(self, mailbox_id: int) -> Mailbox | None:
        """The mailbox with this id, or None (IMAP/POP3 sessions hold ids, not names)."""
        raise NotImplementedError

    async def set_enabled(self, address: str, enabled: bool) -> None:
        """Enable or disable an account (NotFound). A disabled account keeps receiving mail
        but the Authenticator refuses its logins."""
        raise NotImplementedError

    async def set_flags_conditional(
        self,
        mailbox_id: int,
        uids: Sequence[int],
        flags: frozenset[str],
        mode: FlagMode,
        unchanged_since: int | None = None,
    ) -> tuple[list[FlagChange], list[int]]:
        """`set_flags`, also returning the UIDs left alone because their modseq was above
        `unchanged_since` (the MODIFIED response code of CONDSTORE, RFC 7162 §3.1.3)."""
        raise NotImplementedError

    async def search(self, mailbox_id: int, text: str) -> list[int]:
        """UIDs of the mailbox whose search text contains `text`, case-insensitively (and
        accent-insensitively where the back end's index allows: SQLite for >= 3 chars).
        NotFound is not raised: an unknown mailbox has no matches."""
        raise NotImplementedError

    async def move_messages(
        self, mailbox_id: int, uids: Sequence[int], target_mailbox_id: int
    ) -> list[tuple[int, int]]:
        """IMAP MOVE (RFC 6851): `copy_messages` and `expunge` of the source messages in one
        transaction (append event on the target, expunge event on the source)."""
        raise NotImplementedError

    async def changed_since(self, mailbox_id: int, modseq: int) -> list[MessageSummary]:
        """Messages whose modseq is above `modseq`, by UID (CONDSTORE CHANGEDSINCE).
        NotFound for an unknown mailbox."""
        raise NotImplementedError

    async def expunged_since(self, mailbox_id: int, modseq: int) -> list[int]:
        """UIDs expunged with a modseq above `modseq` (QRESYNC VANISHED, RFC 7162 §3.2.5).
        NotFound for an unknown mailbox."""
        raise NotImplementedError

    # -- journey -------------------------------------------------------------------------
    @abc.abstractmethod
    async def record_journey(self, queue_id: str, event: str, detail: str = "") -> None: ...

    async def record_journeys(self, records: Sequence[tuple[str, str, str]]) -> None:
        """Several (queue_id, event, detail) records at once, in this order, in one write
        (POP3 notes a session's steps and writes them together). Back ends should override
        this default, which writes them one by one."""
        for queue_id, event, detail in records:
            await self.record_journey(queue_id, event, detail)

    @abc.abstractmethod
    async def journey(self, queue_id: str) -> list[JourneyEvent]: ...

    async def read_raw_messages(self, mailbox_id: int, uids: Sequence[int]) -> dict[int, bytes]:
        """Extension (POP3 prefetch): uid -> the bytes `get_message(mailbox_id, uid).raw`
        would give, for those of `uids` still in the mailbox, in one round trip."""
        raise NotImplementedError
