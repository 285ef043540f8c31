"""Tokens to typed commands: the grammar of RFC 9051 §9 plus the extensions we speak.

``parse_command(tokens, context)`` reads the tokens of one complete command (``lexer``
output with literals in place) and returns a ``commands.Command`` or raises ``ParseError``,
whose text the connection sends in a tagged BAD (or NO, for BADCHARSET and the like).

Hand-written recursive descent over the token list: the grammar is context-dependent enough
(astrings, section specs, search keys) that a parser library would be both slower and less
precise about what it tells the client.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from . import commands as c
from . import fetch as f
from . import lexer, mutf7
from . import search as s
from .lexer import CLOSE, OPEN, Literal
from .sequence import SequenceSet

MAX_NUMBER64 = 2**63 - 1
SYSTEM_FLAGS = {
    flag.upper(): flag
    for flag in ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft", "\\Recent")
}
STATUS_ITEMS = frozenset(
    {
        "MESSAGES",
        "UIDNEXT",
        "UIDVALIDITY",
        "UNSEEN",
        "DELETED",
        "SIZE",
        "RECENT",
        "HIGHESTMODSEQ",
        "APPENDLIMIT",
        "MAILBOXID",
        "DELETED-STORAGE",
    }
)
SEARCH_RETURN_OPTIONS = frozenset({"MIN", "MAX", "ALL", "COUNT", "SAVE"})
SEARCH_CHARSETS = ("UTF-8", "US-ASCII")
SORT_KEYS = frozenset(
    {"ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO"}
)
THREAD_ALGORITHMS = frozenset({"ORDEREDSUBJECT", "REFERENCES", "REFS"})
LIST_SELECTION_OPTIONS = frozenset({"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"})
LIST_RETURN_OPTIONS = frozenset({"SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "MYRIGHTS"})
MONTH_NUMBERS = {m.upper().encode(): i + 1 for i, m in enumerate(s.MONTHS)}

# RFC 9051 tag: ASTRING-CHAR but "+"; 7-bit only, so that it echoes back unchanged.
_TAG_RE = re.compile(rb"[\x21\x23\x24\x26\x27\x2c-\x5b\x5d-\x7a\x7c-\x7e]+\Z")
_DATE_RE = re.compile(rb"([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})\Z")
_DATE_TIME_RE = re.compile(
    rb"([ 0-9][0-9])-([A-Za-z]{3})-([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})\Z"
)
_SECTION_OPEN_RE = re.compile(rb"(BODY|BODY\.PEEK|BINARY|BINARY\.PEEK|BINARY\.SIZE)\[(.*)\Z", re.S)
_SECTION_RE = re.compile(
    rb"(?:([1-9][0-9]{0,8}(?:\.[1-9][0-9]{0,8})*)"
    rb"(?:\.(HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME))?"
    rb"|(HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT))?\Z"
)
_PARTIAL_RE = re.compile(rb"\](?:<([0-9]{1,10})\.([0-9]{1,10})>)?\Z")
# An ASCII atom that means the same in modified UTF-7 and UTF-8 (no "&").
_PLAIN_MAILBOX_RE = re.compile(rb"[\x21\x23-\x24\x27\x2b-\x5b\x5d-\x7a\x7c-\x7e]+\Z")
_PLAIN_FLAG = rb"\\?[\x21\x23\x24\x26-\x27\x2b-\x5b\x5e-\x7a\x7c\x7e]+"
_PLAIN_FLAGS_RE = re.compile(_PLAIN_FLAG + rb"(?: " + _PLAIN_FLAG + rb")*\Z")
_FIELD_NAME_RE = re.compile(rb"[\x21-\x39\x3b-\x7e]+\Z")  # RFC 5322 ftext
# ftext that is also an unquoted astring: no quote, parentheses, braces, %, * or backslash.
_PLAIN_FIELDS_RE = re.compile(
    rb"[\x21\x23-\x24\x26-\x27\x2b-\x39\x3b-\x5b\x5d-\x7a\x7c\x7e]+"
    rb"(?: [\x21\x23-\x24\x26-\x27\x2b-\x39\x3b-\x5b\x5d-\x7a\x7c\x7e]+)*\Z"
)


# The same test as _PLAIN_FIELDS_RE for a space-joined list of lexer words (which hold no
# spaces themselves): deleting these octets leaves nothing. bytes.translate runs three
# times faster than the regex over the 100-odd octets of a usual header list.
_PLAIN_FIELD_OCTETS = bytes(o for o in range(256) if _PLAIN_FIELDS_RE.match(bytes([o]))) + b" "


class ParseError(ValueError):
    """A malformed command. ``status`` is BAD unless the RFC wants NO (BADCHARSET)."""

    def __init__(self, text: str, status: str = "BAD", code: str | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.status = status
        self.code = code


class WrongState(Exception):
    """The command is well known but not valid in the current state."""

    def __init__(self, command: type[c.Command]) -> None:
        super().__init__(command.name)
        self.command = command


@dataclass(slots=True)
class ParseContext:
    """What parsing depends on besides the bytes: UTF-8 names and enabled extensions."""

    utf8: bool = False
    enabled: frozenset[str] = field(default_factory=frozenset)
    max_depth: int = 24


def command_name(tokens: list) -> str:
    """The (upper-case) command word(s) of a tokenised command, for error texts."""
    if len(tokens) < 2 or type(tokens[1]) is not bytes:
        return ""
    name = tokens[1].upper()
    if name == b"UID" and len(tokens) > 2 and type(tokens[2]) is bytes:
        return "UID " + tokens[2].upper().decode("ascii", "replace")
    return name.decode("ascii", "replace")


def parse_tag(tokens: list) -> str | None:
    """The tag if the first token is a valid one."""
    if not tokens:
        return None
    tag = tokens[0]
    if type(tag) is not bytes:
        return None
    if tag.isalnum() and tag.isascii():  # the usual "a001": skip the regex
        return tag.decode("ascii")
    if not _TAG_RE.match(tag):
        return None
    return tag.decode("ascii")


def command_class(tokens: list) -> type[c.Command] | None:
    """Which command the tokens name, without parsing the arguments (for state checks)."""
    if len(tokens) < 2 or type(tokens[1]) is not bytes:
        return None
    name = tokens[1].upper()
    if name == b"UID":
        if len(tokens) < 3 or type(tokens[2]) is not bytes:
            return None
        entry = _UID_COMMANDS.get(tokens[2].upper())
    else:
        entry = _COMMANDS.get(name)
    return entry[1] if entry else None


def parse_command(
    tokens: list, context: ParseContext, allowed: frozenset[c.State] | None = None
) -> c.Command:
    """Parse one command; with ``allowed`` (the states it may be in), refuse it otherwise by
    raising ``WrongState`` before reading its arguments."""
    tag = parse_tag(tokens)
    if tag is None:
        raise ParseError("Invalid tag")
    if len(tokens) < 2 or type(tokens[1]) is not bytes:
        raise ParseError("Missing command")
    name = tokens[1].upper()
    reader = _Reader(tokens, 2, context)
    if name == b"UID":
        sub = tokens[2] if len(tokens) > 2 else None
        if type(sub) is bytes and sub not in (OPEN, CLOSE) and sub[0] != 0x22:
            reader.pos = 3  # what reader.word() checks, without its call
        else:
            sub = reader.word("command after UID")
        entry = _UID_COMMANDS.get(sub.upper())
        if entry is None:
            raise ParseError("Unknown UID command")
        if allowed is not None and entry[1].allowed_in.isdisjoint(allowed):
            raise WrongState(entry[1])
        command = entry[0](reader, tag, True)
    else:
        entry = _COMMANDS.get(name)
        if entry is None:
            raise ParseError("Unknown command")
        if allowed is not None and entry[1].allowed_in.isdisjoint(allowed):
            raise WrongState(entry[1])
        command = entry[0](reader, tag, False)
    reader.end()
    return command


class _Reader:
    __slots__ = ("context", "depth", "n", "pos", "tokens", "utf8")

    def __init__(self, tokens: list, pos: int, context: ParseContext) -> None:
        self.tokens = tokens
        self.pos = pos
        self.n = len(tokens)
        self.context = context
        self.utf8 = context.utf8
        self.depth = 0

    # -- token level ------------------------------------------------------------------------

    def more(self) -> bool:
        return self.pos < self.n

    def peek(self) -> bytes | Literal | None:
        return self.tokens[self.pos] if self.pos < self.n else None

    def take(self, what: str) -> bytes | Literal:
        if self.pos >= self.n:
            raise ParseError(f"Missing {what}")
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def end(self) -> None:
        if self.pos < self.n:
            raise ParseError("Unexpected extra arguments")

    def word(self, what: str) -> bytes:
        token = self.take(what)
        if type(token) is not bytes or token in (OPEN, CLOSE) or token[0] == 0x22:
            raise ParseError(f"Expected {what}")
        return token

    def open(self, what: str) -> None:
        if self.take(what) != OPEN:
            raise ParseError(f"Expected ( before {what}")

    def close_or_none(self) -> bool:
        """Consume a ``)`` if next; say whether it was."""
        if self.pos < self.n and self.tokens[self.pos] == CLOSE:
            self.pos += 1
            return True
        if self.pos >= self.n:
            raise ParseError("Missing )")
        return False

    def peek_upper(self) -> bytes | None:
        token = self.peek()
        if type(token) is bytes:
            return token.upper()
        return None

    def accept(self, keyword: bytes) -> bool:
        token = self.peek()
        if type(token) is bytes and token.upper() == keyword:
            self.pos += 1
            return True
        return False

    def push(self) -> None:
        self.depth += 1
        if self.depth > self.context.max_depth:
            raise ParseError("Too deeply nested")

    # -- values -------------------------------------------------------------------------------

    def atom(self, what: str) -> str:
        token = self.word(what)
        if not lexer.is_atom(token):
            raise ParseError(f"Invalid characters in {what}")
        return token.decode("ascii", "replace").upper() if token.isascii() else _utf8(token)

    def number(self, what: str, *, nonzero: bool = False, limit: int = MAX_NUMBER64) -> int:
        token = self.word(what)
        if not (token.isdigit() and len(token) <= 20):  # bytes.isdigit: ASCII digits only
            raise ParseError(f"Expected a number for {what}")
        value = int(token)
        if value > limit or (nonzero and value == 0):
            raise ParseError(f"Number out of range for {what}")
        return value

    def astring(self, what: str) -> bytes:
        token = self.take(what)
        if type(token) is bytes:
            if token[0] == 0x22:
                return _unquote(token)
            if token in (OPEN, CLOSE) or not lexer.is_astring_atom(token):
                raise ParseError(f"Invalid {what}")
            return token
        if token.binary:
            raise ParseError(f"Binary literal not allowed for {what}")
        return token.data

    def string(self, what: str) -> bytes:
        token = self.take(what)
        if type(token) is bytes:
            if token[0] == 0x22 and len(token) > 1:
                return _unquote(token)
            raise ParseError(f"Expected a quoted string or literal for {what}")
        if token.binary:
            raise ParseError(f"Binary literal not allowed for {what}")
        return token.data

    def nstring(self, what: str) -> bytes | None:
        token = self.peek()
        if type(token) is bytes and token.upper() == b"NIL":
            self.pos += 1
            return None
        return self.string(what)

    def text(self, what: str) -> str:
        pos = self.pos
        if pos < self.n:
            # Fast path for the usual ASCII word or escape-free quoted string (search
            # strings, user names): what astring() and _utf8() would accept and return.
            token = self.tokens[pos]
            if type(token) is bytes and token.isascii():
                if token.isalnum():  # ASCII letters and digits are all ASTRING-CHARs
                    self.pos = pos + 1
                    return token.decode("ascii")
                if token[0] == 0x22:
                    inner = token[1:-1]
                    if 0x5C not in inner and 0x0D not in inner and 0x0A not in inner:
                        self.pos = pos + 1
                        return inner.decode("ascii")
        return _utf8(self.astring(what))

    def mailbox(self, what: str = "mailbox name") -> str:
        if self.pos < self.n:
            token = self.tokens[self.pos]
            if type(token) is bytes and _PLAIN_MAILBOX_RE.match(token):
                self.pos += 1
                if len(token) == 5 and token.upper() == b"INBOX":
                    return "INBOX"
                return token.decode("ascii")
        return self._decode_mailbox(self.astring(what))

    def list_mailbox(self) -> str:
        token = self.take("mailbox pattern")
        if type(token) is bytes and token[0] != 0x22 and token not in (OPEN, CLOSE):
            if not lexer.is_list_mailbox_atom(token):
                raise ParseError("Invalid mailbox pattern")
            raw = token
        else:
            self.pos -= 1
            raw = self.string("mailbox pattern")
        return self._decode_mailbox(raw, normalise_inbox=False)

    def _decode_mailbox(self, raw: bytes, normalise_inbox: bool = True) -> str:
        if len(raw) == 5 and raw.upper() == b"INBOX":
            return "INBOX"
        if raw.isascii() and 0x26 not in raw and 0x0D not in raw and 0x0A not in raw:
            return raw.decode("ascii")  # the same in UTF-8 and in modified UTF-7
        if self.utf8:
            name = _utf8(raw)
        else:
            try:
                name = mutf7.decode(raw)
            except ValueError as exc:
                raise ParseError(f"Invalid mailbox name: {exc}") from None
        if "\r" in name or "\n" in name:
            raise ParseError("CR or LF in mailbox name")
        return name

    def flag(self, what: str = "flag") -> str:
        token = self.word(what)
        if token[0] == 0x5C:  # backslash: a system flag or \Extension
            body = token[1:]
            if not body or not lexer.is_atom(body):
                raise ParseError(f"Invalid {what}")
            name = token.decode("ascii", "replace")
            return SYSTEM_FLAGS.get(name.upper(), name)
        if not lexer.is_atom(token):
            raise ParseError(f"Invalid {what}")
        return _utf8(token)

    def flag_list(self) -> tuple[str, ...]:
        self.open("flag list")
        # Fast path for the usual list of ASCII flags: one join, one regex, one split.
        tokens = self.tokens
        try:
            end = tokens.index(CLOSE, self.pos)
            joined = b" ".join(tokens[self.pos : end])
        except (ValueError, TypeError):
            joined = None
        if joined is not None and (not joined or _PLAIN_FLAGS_RE.match(joined)):
            self.pos = end + 1
            if not joined:
                return ()
            return tuple(
                [
                    SYSTEM_FLAGS.get(name.upper(), name) if name[0] == "\\" else name
                    for name in joined.decode("ascii").split(" ")
                ]
            )
        flags = []
        while not self.close_or_none():
            flags.append(self.flag())
        return tuple(flags)

    def sequence_set(self, what: str = "sequence set") -> SequenceSet:
        token = self.word(what)
        try:
            return SequenceSet.parse(token)
        except ValueError:
            raise ParseError(f"Invalid {what}") from None

    def date(self) -> datetime.date:
        token = self.take("date")
        if type(token) is bytes and token[:1] == b'"':
            token = _unquote(token)
        if type(token) is not bytes or not (match := _DATE_RE.match(token)):
            raise ParseError("Invalid date (expected d-Mon-yyyy)")
        day, month, year = match.groups()
        try:
            return datetime.date(int(year), MONTH_NUMBERS[month.upper()], int(day))
        except (KeyError, ValueError):
            raise ParseError("Invalid date") from None

    def date_time(self, raw: bytes) -> datetime.datetime:
        match = _DATE_TIME_RE.match(raw)
        if not match:
            raise ParseError('Invalid date-time (expected "dd-Mon-yyyy hh:mm:ss +zzzz")')
        day, month, year, hour, minute, second, sign, zh, zm = match.groups()
        try:
            offset = datetime.timedelta(hours=int(zh), minutes=int(zm))
            zone = datetime.timezone(-offset if sign == b"-" else offset)
            return datetime.datetime(
                int(year),
                MONTH_NUMBERS[month.upper()],
                int(day),
                int(hour),
                int(minute),
                int(second),
                tzinfo=zone,
            )
        except (KeyError, ValueError):
            raise ParseError("Invalid date-time") from None

    def atom_list(self, what: str) -> tuple[str, ...]:
        self.open(what)
        items = []
        while not self.close_or_none():
            items.append(self.atom(what))
        return tuple(items)


def _unquote(token: bytes) -> bytes:
    try:
        return lexer.unquote(token)
    except lexer.LexError as exc:
        raise ParseError(str(exc)) from None


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError("Invalid UTF-8") from None


# --- commands without arguments ----------------------------------------------------------


def _no_args(cls: type[c.Command]) -> Callable[[_Reader, str, bool], c.Command]:
    def parse(reader: _Reader, tag: str, uid: bool) -> c.Command:
        return cls(tag)

    return parse


def _id(r: _Reader, tag: str, uid: bool) -> c.Id:
    if r.accept(b"NIL"):
        return c.Id(tag, None)
    r.open("ID parameter list")
    pairs = []
    while not r.close_or_none():
        key = _utf8(r.string("ID field"))
        value = r.nstring("ID value")
        pairs.append((key, None if value is None else _utf8(value)))
        if len(pairs) > 30:  # RFC 2971 §3.3
            raise ParseError("Too many ID fields")
    return c.Id(tag, tuple(pairs))


# --- not authenticated ---------------------------------------------------------------------


def _authenticate(r: _Reader, tag: str, uid: bool) -> c.Authenticate:
    mechanism = r.atom("SASL mechanism")
    initial = None
    if r.more():
        raw = r.word("initial response")
        initial = decode_base64(raw)
    return c.Authenticate(tag, mechanism, initial)


def decode_base64(raw: bytes) -> bytes:
    """A SASL response line: base64, ``=`` for empty (RFC 4959)."""
    if raw == b"=":
        return b""
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ParseError("Invalid base64") from None


def _login(r: _Reader, tag: str, uid: bool) -> c.Login:
    user = r.text("user name")
    password = r.text("password")
    return c.Login(tag, user, password)


# --- authenticated ---------------------------------------------------------------------------


def _enable(r: _Reader, tag: str, uid: bool) -> c.Enable:
    caps = [r.atom("capability")]
    while r.more():
        caps.append(r.atom("capability"))
    return c.Enable(tag, tuple(caps))


def _select(cls: type[c.Select]) -> Callable[[_Reader, str, bool], c.Select]:
    def parse(r: _Reader, tag: str, uid: bool) -> c.Select:
        mailbox = r.mailbox()
        condstore = False
        qresync = None
        if r.more():
            r.open("SELECT parameters")
            while not r.close_or_none():
                param = r.atom("SELECT parameter")
                if param == "CONDSTORE":
                    condstore = True
                elif param == "QRESYNC":
                    if "QRESYNC" not in r.context.enabled:
                        raise ParseError("QRESYNC must be ENABLEd first")
                    qresync = _qresync(r)
                else:
                    raise ParseError(f"Unknown SELECT parameter {param}")
        return cls(tag, mailbox, condstore, qresync)

    return parse


def _qresync(r: _Reader) -> c.QResync:
    r.open("QRESYNC parameters")
    uid_validity = r.number("UIDVALIDITY", nonzero=True, limit=0xFFFFFFFF)
    modseq = r.number("mod-sequence")
    known = None
    match = None
    if not r.close_or_none():
        if r.peek() != OPEN:
            known = r.sequence_set("known UIDs")
        if not r.close_or_none():
            r.open("sequence match data")
            seqs = r.sequence_set("known sequence set")
            uids = r.sequence_set("known UID set")
            if not r.close_or_none():
                raise ParseError("Expected ) after sequence match data")
            match = (seqs, uids)
            if not r.close_or_none():
                raise ParseError("Expected ) after QRESYNC parameters")
    return c.QResync(uid_validity, modseq, known, match)


def _create(r: _Reader, tag: str, uid: bool) -> c.Create:
    mailbox = r.mailbox()
    use: tuple[str, ...] = ()
    if r.more():
        r.open("CREATE parameters")
        while not r.close_or_none():
            param = r.atom("CREATE parameter")
            if param != "USE":
                raise ParseError(f"Unknown CREATE parameter {param}")
            use = r.flag_list()
    return c.Create(tag, mailbox, use)


def _one_mailbox(cls: type) -> Callable[[_Reader, str, bool], c.Command]:
    def parse(r: _Reader, tag: str, uid: bool) -> c.Command:
        return cls(tag, r.mailbox())

    return parse


def _rename(r: _Reader, tag: str, uid: bool) -> c.Rename:
    return c.Rename(tag, r.mailbox(), r.mailbox("new mailbox name"))


def _list(r: _Reader, tag: str, uid: bool) -> c.List:
    selection: list[str] = []
    if r.peek() == OPEN:
        r.open("LIST selection options")
        while not r.close_or_none():
            option = r.atom("LIST selection option")
            if option not in LIST_SELECTION_OPTIONS:
                raise ParseError(f"Unknown LIST selection option {option}")
            selection.append(option)
    reference = r._decode_mailbox(r.astring("reference name"), normalise_inbox=False)
    if r.peek() == OPEN:
        r.pos += 1
        patterns = []
        while not r.close_or_none():
            patterns.append(r.list_mailbox())
        if not patterns:
            raise ParseError("Empty mailbox pattern list")
    else:
        patterns = [r.list_mailbox()]
    return_options: list[str] = []
    status_items = None
    if r.accept(b"RETURN"):
        r.open("LIST return options")
        while not r.close_or_none():
            option = r.atom("LIST return option")
            if option == "STATUS":
                status_items = _status_items(r)
            elif option in LIST_RETURN_OPTIONS:
                return_options.append(option)
            else:
                raise ParseError(f"Unknown LIST return option {option}")
    return c.List(
        tag, reference, tuple(patterns), tuple(selection), tuple(return_options), status_items
    )


def _lsub(r: _Reader, tag: str, uid: bool) -> c.Lsub:
    reference = r._decode_mailbox(r.astring("reference name"), normalise_inbox=False)
    return c.Lsub(tag, reference, r.list_mailbox())


def _status_items(r: _Reader) -> tuple[str, ...]:
    items = r.atom_list("STATUS items")
    for item in items:
        if item not in STATUS_ITEMS:
            raise ParseError(f"Unknown STATUS item {item}")
    if not items:
        raise ParseError("Empty STATUS item list")
    return items


def _status(r: _Reader, tag: str, uid: bool) -> c.Status:
    mailbox = r.mailbox()
    return c.Status(tag, mailbox, _status_items(r))


def _append(r: _Reader, tag: str, uid: bool) -> c.Append:
    mailbox = r.mailbox()
    messages = []
    while True:
        flags, when = _append_flags_date(r)
        messages.append(_append_literal(r, flags, when))
        if not r.more():
            break
    return c.Append(tag, mailbox, tuple(messages))


def _append_flags_date(r: _Reader) -> tuple[tuple[str, ...], datetime.datetime | None]:
    flags: tuple[str, ...] = ()
    when = None
    if r.peek() == OPEN:
        flags = r.flag_list()
        if "\\Recent" in flags:
            raise ParseError("\\Recent cannot be set")
    token = r.peek()
    if type(token) is bytes and token[:1] == b'"':
        r.pos += 1
        when = r.date_time(_unquote(token))
    return flags, when


def _append_literal(
    r: _Reader, flags: tuple[str, ...], when: datetime.datetime | None
) -> c.AppendMessage:
    token = r.take("message literal")
    if type(token) is bytes and token.upper() == b"UTF8":  # RFC 6855 APPEND UTF8 (~{n})
        r.open("UTF8 literal")
        token = r.take("message literal")
        if type(token) is not Literal or not token.binary or not r.close_or_none():
            raise ParseError("Expected UTF8 (~{n}) literal")
    if type(token) is not Literal:
        raise ParseError("Expected the message as a literal")
    return c.AppendMessage(token.data, flags, when, token.binary)


def parse_append_head(
    tokens: list, context: ParseContext, *, first: bool
) -> tuple[str, str, list[c.AppendMessage], tuple[str, ...], datetime.datetime | None]:
    """An APPEND read up to (not including) the literal about to be streamed.

    Returns the tag and mailbox (for the first segment; empty strings after), the messages
    already complete before it (MULTIAPPEND), and the flags and date of the one to come.
    """
    if first:
        tag = parse_tag(tokens)
        if tag is None:
            raise ParseError("Invalid tag")
        r = _Reader(tokens, 2, context)
        mailbox = r.mailbox()
    else:
        tag, mailbox = "", ""
        r = _Reader(tokens, 0, context)
    done = []
    while True:
        flags, when = _append_flags_date(r)
        if not r.more():
            return tag, mailbox, done, flags, when
        done.append(_append_literal(r, flags, when))


def _getquota(r: _Reader, tag: str, uid: bool) -> c.GetQuota:
    return c.GetQuota(tag, r.text("quota root"))


def _setquota(r: _Reader, tag: str, uid: bool) -> c.SetQuota:
    root = r.text("quota root")
    r.open("quota limits")
    limits = []
    while not r.close_or_none():
        limits.append((r.atom("quota resource"), r.number("quota limit")))
    return c.SetQuota(tag, root, tuple(limits))


def _compress(r: _Reader, tag: str, uid: bool) -> c.Compress:
    return c.Compress(tag, r.atom("compression mechanism"))


# --- selected --------------------------------------------------------------------------------


def _expunge(r: _Reader, tag: str, uid: bool) -> c.Expunge:
    return c.Expunge(tag, r.sequence_set("UID set") if uid else None)


def _copy(cls: type) -> Callable[[_Reader, str, bool], c.Command]:
    def parse(r: _Reader, tag: str, uid: bool) -> c.Command:
        sequence = r.sequence_set()
        return cls(tag, sequence, r.mailbox(), uid)

    return parse


def _store(r: _Reader, tag: str, uid: bool) -> c.Store:
    sequence = r.sequence_set()
    unchanged_since = None
    if r.peek() == OPEN:
        r.pos += 1
        while not r.close_or_none():
            modifier = r.atom("STORE modifier")
            if modifier != "UNCHANGEDSINCE":
                raise ParseError(f"Unknown STORE modifier {modifier}")
            unchanged_since = r.number("UNCHANGEDSINCE")
    item = r.word("STORE data item").upper()
    mode = _STORE_MODES.get(item[:1], c.StoreMode.REPLACE)
    if mode is not c.StoreMode.REPLACE:
        item = item[1:]
    if item == b"FLAGS":
        silent = False
    elif item == b"FLAGS.SILENT":
        silent = True
    else:
        raise ParseError("Expected FLAGS, +FLAGS or -FLAGS")
    if r.peek() == OPEN:
        flags = r.flag_list()
    else:
        flags_list = [r.flag()]
        while r.more():
            flags_list.append(r.flag())
        flags = tuple(flags_list)
    return c.Store(tag, sequence, mode, flags, silent, unchanged_since, uid)


_STORE_MODES = {b"+": c.StoreMode.ADD, b"-": c.StoreMode.REMOVE}

# A per-process cache of whole fetch-attribute words (``BODY.PEEK[]``, ``BINARY[1]<0.10>``):
# clients repeat the same few, and a dict hit is far cheaper than the regexes.
_ATTRIBUTE_CACHE: dict[bytes, f.FetchAttribute] = {}
_SIMPLE_BY_WORD = {
    name.encode(): attribute
    for name in f.SIMPLE_ATTRIBUTES
    if (attribute := f.simple_attribute(name))
}


class _BoundedCache(dict):
    """A dict that forgets everything when full: enough for the handful of distinct
    attribute lists and search programs a client repeats (Thunderbird sends the same FETCH
    for every folder sync), and bounded whatever a client sends."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: object, value: object) -> None:
        if len(self) >= self.size:
            self.clear()
        self[key] = value


_FETCH_CACHE = _BoundedCache(256)
_SEARCH_CACHE = _BoundedCache(256)


def _cache_key(r: _Reader, *extra: object) -> tuple | None:
    """The rest of the command as a hashable key, or None if it holds a literal or is long.

    Joining with spaces is injective for lexer output: words hold no space, quote or
    parenthesis, and quoted strings delimit themselves. Only short keys are kept, so that
    the caches stay small (256 × 2 KB) whatever clients send.
    """
    try:
        key = b" ".join(r.tokens[r.pos :])
    except TypeError:
        return None
    return (key, extra) if len(key) <= _MAX_CACHE_KEY else None


_MAX_CACHE_KEY = 2048


def _fetch(r: _Reader, tag: str, uid: bool) -> c.Fetch:
    sequence = r.sequence_set()
    key = _cache_key(r, uid, "QRESYNC" in r.context.enabled)
    if key is not None:
        cached = _FETCH_CACHE.get(key)
        if cached is None:
            cached = _fetch_items(r, uid)
            _FETCH_CACHE.put(key, cached)
        else:
            r.pos = r.n
    else:
        cached = _fetch_items(r, uid)
    return c.Fetch(tag, sequence, *cached)


def _fetch_items(
    r: _Reader, uid: bool
) -> tuple[tuple[f.FetchAttribute, ...], bool, int | None, bool]:
    token = r.take("fetch attributes")
    attributes: list[f.FetchAttribute] = []
    if token == OPEN:
        # Section-less attributes (UID, FLAGS, ...) are most of every list: one dict lookup
        # each, without a method call per token.
        tokens, pos, n = r.tokens, r.pos, r.n
        while pos < n:
            token = tokens[pos]
            if token == CLOSE:
                break
            if type(token) is bytes:
                upper = token.upper()
                simple = _SIMPLE_BY_WORD.get(upper)
                if simple is not None:
                    attributes.append(simple)
                    pos += 1
                    continue
                head = _FIELDS_SECTIONS.get(upper)  # the usual BODY.PEEK[HEADER.FIELDS (...)]
                if head is not None:
                    r.pos = pos + 1
                    if (attribute := _header_fields_attribute(r, *head)) is not None:
                        attributes.append(attribute)
                        pos = r.pos
                        continue
            r.pos = pos
            attributes.append(_fetch_attribute(r, r.word("fetch attribute")))
            pos = r.pos
        else:
            raise ParseError("Missing )")
        r.pos = pos + 1
        if not attributes:
            raise ParseError("Empty fetch attribute list")
    elif type(token) is bytes:
        macro = f.MACROS.get(token.upper().decode("ascii", "replace"))
        if macro is not None:
            attributes.extend(macro)
        else:
            attributes.append(_fetch_attribute(r, token))
    else:
        raise ParseError("Expected fetch attributes")
    changed_since = None
    vanished = False
    if r.more():
        r.open("FETCH modifiers")
        while not r.close_or_none():
            modifier = r.atom("FETCH modifier")
            if modifier == "CHANGEDSINCE":
                changed_since = r.number("CHANGEDSINCE")
            elif modifier == "VANISHED":
                vanished = True
            else:
                raise ParseError(f"Unknown FETCH modifier {modifier}")
        if vanished and (not uid or changed_since is None):
            raise ParseError("VANISHED needs UID FETCH with CHANGEDSINCE")
        if vanished and "QRESYNC" not in r.context.enabled:
            raise ParseError("VANISHED needs QRESYNC to be ENABLEd")
    return tuple(attributes), uid, changed_since, vanished


def _plain_field_names(r: _Reader) -> list[str]:
    """Fast path for the usual header list of plain atoms: one join, one regex, one split."""
    try:
        end = r.tokens.index(CLOSE, r.pos)
        joined = b" ".join(r.tokens[r.pos : end])
    except (ValueError, TypeError):
        return []
    if end == r.pos or joined.translate(None, _PLAIN_FIELD_OCTETS):  # an octet left: not plain
        return []
    r.pos = end
    return joined.decode("ascii").split(" ")


def _fetch_attribute(r: _Reader, word: bytes) -> f.FetchAttribute:
    upper = word.upper()
    attribute = (
        _SIMPLE_BY_WORD.get(upper) or _WHOLE_SECTIONS.get(upper) or _ATTRIBUTE_CACHE.get(upper)
    )
    if attribute is not None:
        return attribute
    head = _FIELDS_SECTIONS.get(upper)
    if head is not None:
        attribute = _header_fields_attribute(r, *head)
        if attribute is not None:
            return attribute
    match = _SECTION_OPEN_RE.match(upper)
    if match is None:
        raise ParseError(f"Unknown fetch attribute {word.decode('ascii', 'replace')}")
    kind, rest = match.groups()
    bracket = rest.find(b"]")
    fields: tuple[str, ...] = ()
    if bracket < 0:
        # HEADER.FIELDS (...) continues in the next tokens, then "]" and an optional partial.
        spec, tail = rest, None
    else:
        spec, tail = rest[:bracket], rest[bracket:]
    section_match = _SECTION_RE.match(spec)
    if section_match is None:
        raise ParseError("Invalid section specification")
    part_raw, part_text, top_text = section_match.groups()
    text = (part_text or top_text or b"").decode("ascii") or None
    part = tuple(int(p) for p in part_raw.split(b".")) if part_raw else ()
    if kind.startswith(b"BINARY") and text is not None:
        raise ParseError("BINARY takes part numbers only")
    wants_fields = text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT")
    cacheable = tail is not None
    if wants_fields:
        if tail is not None:
            raise ParseError("Expected header field list")
        r.open("header field list")
        names = _plain_field_names(r)
        while not r.close_or_none():
            name = r.astring("header field name")
            if not _FIELD_NAME_RE.match(name):
                raise ParseError("Invalid header field name")
            names.append(name.decode("ascii"))
        if not names:
            raise ParseError("Empty header field list")
        fields = tuple(names)
        tail = r.word("]")
    elif tail is None:
        raise ParseError("Expected ] after section")
    partial_match = _PARTIAL_RE.match(tail)
    if partial_match is None:
        raise ParseError("Invalid partial (expected <offset.length>)")
    offset, length = partial_match.groups()
    partial = None
    if offset is not None:
        if kind == b"BINARY.SIZE":
            raise ParseError("BINARY.SIZE takes no partial")
        if int(length) == 0:
            raise ParseError("Partial length must not be 0")
        partial = (int(offset), int(length))
    peek = kind.endswith(b".PEEK")
    name = (
        "BODY"
        if kind.startswith(b"BODY")
        else ("BINARY.SIZE" if kind == b"BINARY.SIZE" else "BINARY")
    )
    attribute = f.FetchAttribute(name, f.Section(part, text, fields), peek, partial)
    if cacheable and len(upper) <= 256:
        if len(_ATTRIBUTE_CACHE) > 512:
            _ATTRIBUTE_CACHE.clear()
        _ATTRIBUTE_CACHE[upper] = attribute
    return attribute


def _header_fields_attribute(
    r: _Reader, peek: bool, text: str
) -> f.FetchAttribute | None:
    """``BODY.PEEK[HEADER.FIELDS (From To ...)]`` with plain names and no partial, the usual
    client header fetch, without the section regexes; None (nothing consumed) otherwise."""
    tokens, pos = r.tokens, r.pos
    if pos >= r.n or tokens[pos] != OPEN:
        return None
    r.pos = pos + 1
    names = _plain_field_names(r)
    end = r.pos
    if not names or end + 1 >= r.n or tokens[end + 1] != b"]":
        r.pos = pos
        return None
    r.pos = end + 2
    return f.FetchAttribute("BODY", f.Section((), text, tuple(names)), peek)


def _static_sections() -> tuple[dict[bytes, f.FetchAttribute], dict[bytes, tuple[bool, str]]]:
    """Section words without part numbers or partials, known in advance: complete ones
    (``BODY.PEEK[]``, ``BINARY[]``, ``BODY[TEXT]``) and the openers of a header field list
    (``BODY.PEEK[HEADER.FIELDS``). A dict hit replaces three regex matches on first sight."""
    whole: dict[bytes, f.FetchAttribute] = {}
    for kind, name, peek in (
        ("BODY", "BODY", False),
        ("BODY.PEEK", "BODY", True),
        ("BINARY", "BINARY", False),
        ("BINARY.PEEK", "BINARY", True),
        ("BINARY.SIZE", "BINARY.SIZE", False),
    ):
        texts: tuple[str | None, ...] = (None, "HEADER", "TEXT") if name == "BODY" else (None,)
        for text in texts:
            word = f"{kind}[{text or ''}]".encode()
            whole[word] = f.FetchAttribute(name, f.Section((), text), peek)
    fields = {
        f"{kind}[{text}".encode(): (kind == "BODY.PEEK", text)
        for kind in ("BODY", "BODY.PEEK")
        for text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT")
    }
    return whole, fields


_WHOLE_SECTIONS, _FIELDS_SECTIONS = _static_sections()


# --- search --------------------------------------------------------------------------------


def _search_return(r: _Reader, allowed: frozenset[str]) -> tuple[str, ...] | None:
    if not r.accept(b"RETURN"):
        return None
    options = r.atom_list("RETURN options")
    for option in options:
        if option not in allowed:
            raise ParseError(f"Unknown RETURN option {option}")
    return options


def _charset(r: _Reader) -> str:
    charset = r.text("charset").upper()
    if charset not in SEARCH_CHARSETS:
        raise ParseError(
            f"Unsupported charset {charset}", status="NO", code="BADCHARSET (UTF-8 US-ASCII)"
        )
    return charset


def _search(r: _Reader, tag: str, uid: bool) -> c.Search:
    return_options = charset = None
    if r.peek_upper() in _SEARCH_PREFIXES:  # most searches have neither: one look, not two
        return_options = _search_return(r, SEARCH_RETURN_OPTIONS)
        if r.accept(b"CHARSET"):
            charset = _charset(r)
    return c.Search(tag, _search_program(r), charset, return_options, uid)


_SEARCH_PREFIXES = frozenset({b"RETURN", b"CHARSET"})


def _search_program(r: _Reader) -> s.SearchAnd:
    key = _cache_key(r, r.context.max_depth)
    if key is None:
        return _parse_program(r)
    program = _SEARCH_CACHE.get(key)
    if program is None:
        program = _parse_program(r)
        _SEARCH_CACHE.put(key, program)
    else:
        r.pos = r.n
    return program


# Search keys are named tuples: tuple.__new__ with all the fields builds one in a single C
# call, without the Python-level __new__ (measurably cheaper for the 5-15 keys of a SEARCH).
_build = tuple.__new__


def _parse_program(r: _Reader) -> s.SearchAnd:
    """The search keys up to the end of the command.

    ``_search_key`` reads any key; this loop reads the common ones in place for speed (one
    call per key costs a tenth of the budget): keys without arguments, keys with one plain
    argument, and OR / NOT, which wait on ``pending`` for their operands. Everything else
    (parentheses, sequence sets, HEADER, MODSEQ, quoted dates, ...) goes to ``_search_key``.
    """
    keys: list[s.SearchKey] = []
    pending: list[tuple[type[s.SearchKey], list[s.SearchKey], int]] = []  # operators waiting
    tokens, n, pos, depth = r.tokens, r.n, r.pos, r.depth
    while True:
        if pos >= n:
            raise ParseError("Missing search key")  # an OR or NOT without its operands
        key = None
        token = tokens[pos]
        if type(token) is bytes and (entry := _KEYWORDS.get(token.upper())) is not None:
            if type(entry) is not tuple:
                key = entry
                pos += 1
            else:
                handler, name, fast = entry
                if handler is _key_or or handler is _key_not:
                    # The same depth rule as _Reader.push: each waiting operator nests once.
                    if depth + len(pending) + 1 > r.context.max_depth:
                        raise ParseError("Too deeply nested")
                    if handler is _key_or:
                        pending.append((s.SearchOr, [], 2))
                    else:
                        pending.append((s.SearchNot, [], 1))
                    pos += 1
                    continue
                if fast is not None and pos + 1 < n and type(tokens[pos + 1]) is bytes:
                    key = fast(tokens[pos + 1], name)
                    if key is not None:
                        pos += 2
        if key is None:
            r.pos, r.depth = pos, depth + len(pending)
            key = _search_key(r)
            pos = r.pos
        while pending:  # hand the key to the operators waiting for it
            operator, operands, needed = pending[-1]
            operands.append(key)
            if len(operands) < needed:
                break
            pending.pop()
            key = _build(operator, tuple(operands))
        else:
            keys.append(key)
            if pos >= n:
                r.pos, r.depth = pos, depth
                return _build(s.SearchAnd, (tuple(keys),))


def _search_key(r: _Reader) -> s.SearchKey:
    pos = r.pos
    if pos >= r.n:
        raise ParseError("Missing search key")
    token = r.tokens[pos]
    r.pos = pos + 1
    if type(token) is bytes:
        # Keyword keys first: the common case, one dict lookup each (a shared key for those
        # without arguments, else the function that reads the arguments).
        entry = _KEYWORDS.get(token.upper())
        if entry is not None:
            if type(entry) is not tuple:
                return entry
            handler, name, fast = entry
            if fast is not None and pos + 1 < r.n:
                # A key with one plain argument (FROM bob, SINCE 1-Jan-2024, LARGER 1024):
                # read it from the token directly; anything unusual takes the full path.
                argument = r.tokens[pos + 1]
                if type(argument) is bytes and (key := fast(argument, name)) is not None:
                    r.pos = pos + 2
                    return key
            return handler(r, name)
    if token == OPEN:
        r.push()
        keys = [_search_key(r)]
        while not r.close_or_none():
            keys.append(_search_key(r))
        r.depth -= 1
        return keys[0] if len(keys) == 1 else s.SearchAnd(tuple(keys))
    if type(token) is not bytes or token == CLOSE or token[0] == 0x22:
        raise ParseError("Expected a search key")
    first = token[0]
    if 0x30 <= first <= 0x39 or first in (0x2A, 0x24):  # digit, "*", "$"
        try:
            return s.SearchSequence(SequenceSet.parse(token))
        except ValueError:
            raise ParseError("Invalid sequence set in search") from None
    raise ParseError(f"Unknown search key {token.decode('ascii', 'replace')}")


_SIMPLE_SEARCH_KEYS: dict[bytes, s.SearchKey] = {
    name.encode(): s.SearchFlag(flag, present) for name, (flag, present) in s.FLAG_KEYS.items()
}
_SIMPLE_SEARCH_KEYS[b"ALL"] = s.SearchAll()
_SIMPLE_SEARCH_KEYS[b"NEW"] = s.SearchAnd((s.SearchFlag("\\Recent"), s.SearchFlag("\\Seen", False)))
_SIMPLE_SEARCH_KEYS[b"OLD"] = s.SearchFlag("\\Recent", False)


def _key_text(r: _Reader, name: str) -> s.SearchKey:
    return _build(s.SearchText, (name, r.text("search string")))


def _fast_text(argument: bytes, name: str) -> s.SearchKey | None:
    if argument.isalnum():  # ASCII letters and digits: an atom
        return _build(s.SearchText, (name, argument.decode("ascii")))
    if argument[0] == 0x22 and argument.isascii():
        inner = argument[1:-1]
        if 0x5C not in inner and 0x0D not in inner and 0x0A not in inner:  # \\ CR LF
            return _build(s.SearchText, (name, inner.decode("ascii")))
    return None


def _fast_date(argument: bytes, name: str) -> s.SearchKey | None:
    # _DATE_RE's d-Mon-yyyy by split and digit checks: the month table holds only the twelve
    # three-letter names, so a hit also checks [A-Za-z]{3}.
    parts = argument.split(b"-")
    if len(parts) != 3:
        return None
    day, month_name, year = parts
    month = MONTH_NUMBERS.get(month_name.upper())
    if month is None or len(day) > 2 or len(year) != 4 or not (day + year).isdigit():
        return None
    try:
        date = datetime.date(int(year), month, int(day))
    except ValueError:
        return None
    op, internal = s.DATE_KEYS[name]
    return _build(s.SearchDate, (op, date, internal))


def _fast_size(argument: bytes, name: str) -> s.SearchKey | None:
    if argument.isdigit() and len(argument) <= 18:  # below 2**63 without a comparison
        return _build(s.SearchSize, (name, int(argument)))
    return None


def _fast_keyword(argument: bytes, name: str) -> s.SearchKey | None:
    # Keywords are mostly letters and digits after an optional "$" ($Junk, NonJunk, $label1).
    if (argument[1:] if argument[0] == 0x24 else argument).isalnum() or (
        argument[0] != 0x5C and argument.isascii() and lexer.is_atom(argument)
    ):
        return _build(s.SearchFlag, (argument.decode("ascii"), name == "KEYWORD"))
    return None


def _key_header(r: _Reader, name: str) -> s.SearchKey:
    field_name = r.text("header field name")
    return s.SearchHeader(field_name, r.text("header value"))


def _key_date(r: _Reader, name: str) -> s.SearchKey:
    op, internal = s.DATE_KEYS[name]
    return s.SearchDate(op, r.date(), internal)


def _key_size(r: _Reader, name: str) -> s.SearchKey:
    return s.SearchSize(name, r.number("size"))


def _key_keyword(r: _Reader, name: str) -> s.SearchKey:
    flag = r.flag("keyword")
    return s.SearchFlag(flag, name == "KEYWORD")


def _key_not(r: _Reader, name: str) -> s.SearchKey:
    r.push()
    key = _search_key(r)
    r.depth -= 1
    return _build(s.SearchNot, (key,))


def _key_or(r: _Reader, name: str) -> s.SearchKey:
    r.push()
    left = _search_key(r)
    right = _search_key(r)
    r.depth -= 1
    return _build(s.SearchOr, (left, right))


def _key_uid(r: _Reader, name: str) -> s.SearchKey:
    return s.SearchSequence(r.sequence_set("UID set"), uid=True)


def _key_modseq(r: _Reader, name: str) -> s.SearchKey:
    token = r.peek()
    entry_name = entry_type = None
    if type(token) is Literal or (type(token) is bytes and token[:1] == b'"'):
        entry_name = _utf8(r.string("entry name"))
        entry_type = r.atom("entry type").lower()
        if entry_type not in ("priv", "shared", "all"):
            raise ParseError("Entry type must be priv, shared or all")
    return s.SearchModSeq(r.number("mod-sequence"), entry_name, entry_type)


def _key_within(r: _Reader, name: str) -> s.SearchKey:
    return s.SearchWithin(name, r.number("interval", nonzero=True))


def _key_object_id(r: _Reader, name: str) -> s.SearchKey:
    return s.SearchObjectId(name, r.atom(name.lower()))


_FAST_ARGUMENT: dict[
    Callable[[_Reader, str], s.SearchKey], Callable[[bytes, str], s.SearchKey | None]
] = {
    _key_text: _fast_text,
    _key_date: _fast_date,
    _key_size: _fast_size,
    _key_keyword: _fast_keyword,
}
_SEARCH_KEYS: dict[bytes, tuple[Callable[[_Reader, str], s.SearchKey], str]] = {
    b"NOT": (_key_not, "NOT"),
    b"OR": (_key_or, "OR"),
    b"UID": (_key_uid, "UID"),
    b"HEADER": (_key_header, "HEADER"),
    b"LARGER": (_key_size, "LARGER"),
    b"SMALLER": (_key_size, "SMALLER"),
    b"KEYWORD": (_key_keyword, "KEYWORD"),
    b"UNKEYWORD": (_key_keyword, "UNKEYWORD"),
    b"MODSEQ": (_key_modseq, "MODSEQ"),
    b"OLDER": (_key_within, "OLDER"),
    b"YOUNGER": (_key_within, "YOUNGER"),
    b"EMAILID": (_key_object_id, "EMAILID"),
    b"THREADID": (_key_object_id, "THREADID"),
}
for _name in s.TEXT_KEYS:
    _SEARCH_KEYS[_name.encode()] = (_key_text, _name)
for _name in s.DATE_KEYS:
    _SEARCH_KEYS[_name.encode()] = (_key_date, _name)
_KEYWORDS: dict[
    bytes,
    s.SearchKey
    | tuple[
        Callable[[_Reader, str], s.SearchKey], str, Callable[[bytes, str], s.SearchKey | None]
    ],
] = {
    **_SIMPLE_SEARCH_KEYS,
    **{
        word: (handler, name, _FAST_ARGUMENT.get(handler))
        for word, (handler, name) in _SEARCH_KEYS.items()
    },
}


def _sort(r: _Reader, tag: str, uid: bool) -> c.Sort:
    return_options = _search_return(r, SEARCH_RETURN_OPTIONS)
    r.open("sort criteria")
    criteria = []
    reverse = False
    while not r.close_or_none():
        key = r.atom("sort criterion")
        if key == "REVERSE":
            if reverse:
                raise ParseError("REVERSE REVERSE")
            reverse = True
            continue
        if key not in SORT_KEYS:
            raise ParseError(f"Unknown sort criterion {key}")
        criteria.append(c.SortCriterion(key, reverse))
        reverse = False
    if reverse or not criteria:
        raise ParseError("Incomplete sort criteria")
    charset = _charset(r)
    return c.Sort(tag, tuple(criteria), charset, _search_program(r), uid, return_options)


def _thread(r: _Reader, tag: str, uid: bool) -> c.Thread:
    algorithm = r.atom("thread algorithm")
    if algorithm not in THREAD_ALGORITHMS:
        raise ParseError(f"Unknown thread algorithm {algorithm}")
    charset = _charset(r)
    return c.Thread(tag, algorithm, charset, _search_program(r), uid)


_Parse = Callable[[_Reader, str, bool], c.Command]
_COMMANDS: dict[bytes, tuple[_Parse, type[c.Command]]] = {
    b"CAPABILITY": (_no_args(c.Capability), c.Capability),
    b"NOOP": (_no_args(c.Noop), c.Noop),
    b"LOGOUT": (_no_args(c.Logout), c.Logout),
    b"ID": (_id, c.Id),
    b"STARTTLS": (_no_args(c.StartTLS), c.StartTLS),
    b"AUTHENTICATE": (_authenticate, c.Authenticate),
    b"LOGIN": (_login, c.Login),
    b"ENABLE": (_enable, c.Enable),
    b"SELECT": (_select(c.Select), c.Select),
    b"EXAMINE": (_select(c.Examine), c.Examine),
    b"CREATE": (_create, c.Create),
    b"DELETE": (_one_mailbox(c.Delete), c.Delete),
    b"RENAME": (_rename, c.Rename),
    b"SUBSCRIBE": (_one_mailbox(c.Subscribe), c.Subscribe),
    b"UNSUBSCRIBE": (_one_mailbox(c.Unsubscribe), c.Unsubscribe),
    b"LIST": (_list, c.List),
    b"LSUB": (_lsub, c.Lsub),
    b"NAMESPACE": (_no_args(c.Namespace), c.Namespace),
    b"STATUS": (_status, c.Status),
    b"APPEND": (_append, c.Append),
    b"IDLE": (_no_args(c.Idle), c.Idle),
    b"GETQUOTA": (_getquota, c.GetQuota),
    b"GETQUOTAROOT": (_one_mailbox(c.GetQuotaRoot), c.GetQuotaRoot),
    b"SETQUOTA": (_setquota, c.SetQuota),
    b"COMPRESS": (_compress, c.Compress),
    b"CHECK": (_no_args(c.Check), c.Check),
    b"CLOSE": (_no_args(c.Close), c.Close),
    b"UNSELECT": (_no_args(c.Unselect), c.Unselect),
    b"EXPUNGE": (_expunge, c.Expunge),
    b"SEARCH": (_search, c.Search),
    b"FETCH": (_fetch, c.Fetch),
    b"STORE": (_store, c.Store),
    b"COPY": (_copy(c.Copy), c.Copy),
    b"MOVE": (_copy(c.Move), c.Move),
    b"SORT": (_sort, c.Sort),
    b"THREAD": (_thread, c.Thread),
}
_UID_COMMANDS = {
    name: _COMMANDS[name]
    for name in (b"COPY", b"MOVE", b"FETCH", b"SEARCH", b"STORE", b"EXPUNGE", b"SORT", b"THREAD")
}
