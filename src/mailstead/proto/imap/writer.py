"""Typed commands back to bytes: the client side's command writer.

``encode_command(command)`` returns the command as a list of byte strings. With
``literal_plus=True`` (the server announced LITERAL+, or LITERAL- and the literals are
small) literals are non-synchronising ``{n+}`` and the list has one element; otherwise each
element but the last ends in a synchronising ``{n}``: send it, wait for the server's ``+``,
then send the next. ``parse(encode(x)) == x`` holds for every command (tested).
"""

from __future__ import annotations

import base64
import re

from . import commands as c
from . import lexer, mutf7, response
from . import search as s

_QUOTABLE_RE = re.compile(rb"[^\x00\r\n]{0,1024}\Z")


class _Builder:
    __slots__ = ("literal_plus", "out", "segments", "utf8")

    def __init__(self, tag: str, *, literal_plus: bool, utf8: bool) -> None:
        self.literal_plus = literal_plus
        self.utf8 = utf8
        self.segments: list[bytes] = []
        self.out = bytearray(tag.encode("ascii"))

    def word(self, data: bytes | str) -> _Builder:
        self.out += b" "
        self.out += data.encode("utf-8") if isinstance(data, str) else data
        return self

    def open(self) -> None:
        self.out += b" ("

    def close(self) -> None:
        self.out += b")"

    def glue(self, data: bytes) -> None:
        """Append without a space (after an opening parenthesis)."""
        self.out += data

    def literal(self, data: bytes, *, binary: bool = False) -> None:
        self.out += b"~" if binary else b""
        self.out += b"{%d+}\r\n" % len(data) if self.literal_plus else b"{%d}\r\n" % len(data)
        if not self.literal_plus:
            self.segments.append(bytes(self.out))
            self.out = bytearray()
        self.out += data

    def string_bytes(self, raw: bytes, *, lead: bytes = b" ") -> None:
        self.out += lead
        if _QUOTABLE_RE.match(raw) and (self.utf8 or raw.isascii()):
            self.out += lexer.quote(raw)
        elif b"\x00" in raw:
            raise ValueError("NUL cannot be sent in a string")
        else:
            self.literal(raw)

    def astring(self, value: str | bytes, *, lead: bytes = b" ") -> None:
        raw = value.encode("utf-8") if isinstance(value, str) else value
        if raw and raw.isascii() and lexer.is_astring_atom(raw) and raw.upper() != b"NIL":
            self.out += lead
            self.out += raw
        else:
            self.string_bytes(raw, lead=lead)

    def mailbox(self, name: str, *, pattern: bool = False, lead: bytes = b" ") -> None:
        raw = name.encode("utf-8") if self.utf8 else mutf7.encode(name)
        if pattern and raw and raw.isascii() and lexer.is_list_mailbox_atom(raw):
            self.out += lead
            self.out += raw
        else:
            self.astring(raw, lead=lead)

    def items(self, names: tuple[str, ...] | list[str]) -> None:
        self.out += b" (" + " ".join(names).encode("utf-8") + b")"

    def finish(self) -> list[bytes]:
        self.out += b"\r\n"
        self.segments.append(bytes(self.out))
        return self.segments


def encode_command(
    command: c.Command, *, literal_plus: bool = True, utf8: bool = False
) -> list[bytes]:
    """Render ``command``; ``utf8`` once UTF8=ACCEPT or IMAP4rev2 is enabled."""
    b = _Builder(command.tag, literal_plus=literal_plus, utf8=utf8)
    uid = getattr(command, "uid", False)
    if isinstance(command, c.Expunge) and command.uids is not None:
        uid = True
    if uid:
        b.word(b"UID")
    b.word(command.name)
    _WRITERS.get(type(command), _nothing)(b, command)
    return b.finish()


def command_bytes(command: c.Command, *, utf8: bool = False) -> bytes:
    """The whole command with non-synchronising literals, as one byte string."""
    return b"".join(encode_command(command, literal_plus=True, utf8=utf8))


def _nothing(b: _Builder, command: c.Command) -> None:
    return None


def _id(b: _Builder, command: c.Id) -> None:
    if command.parameters is None:
        b.word(b"NIL")
        return
    b.open()
    lead = b""
    for key, value in command.parameters:
        b.string_bytes(key.encode("utf-8"), lead=lead)
        lead = b" "
        if value is None:
            b.word(b"NIL")
        else:
            b.string_bytes(value.encode("utf-8"))
    b.close()


def _authenticate(b: _Builder, command: c.Authenticate) -> None:
    b.word(command.mechanism)
    if command.initial_response is not None:
        b.word(base64.b64encode(command.initial_response) if command.initial_response else b"=")


def _login(b: _Builder, command: c.Login) -> None:
    b.astring(command.username)
    b.astring(command.password)


def _enable(b: _Builder, command: c.Enable) -> None:
    for name in command.capabilities:
        b.word(name)


def _select(b: _Builder, command: c.Select) -> None:
    b.mailbox(command.mailbox)
    params: list[bytes] = []
    if command.condstore:
        params.append(b"CONDSTORE")
    q = command.qresync
    if q is not None:
        inner = b"%d %d" % (q.uid_validity, q.modseq)
        if q.known_uids is not None:
            inner += b" " + bytes(q.known_uids)
        if q.sequence_match is not None:
            seqs, uids = q.sequence_match
            inner += b" (" + bytes(seqs) + b" " + bytes(uids) + b")"
        params.append(b"QRESYNC (" + inner + b")")
    if params:
        b.word(b"(" + b" ".join(params) + b")")


def _create(b: _Builder, command: c.Create) -> None:
    b.mailbox(command.mailbox)
    if command.special_use:
        b.word(b"(USE " + response.flag_list(command.special_use) + b")")


def _mailbox(b: _Builder, command: c.Command) -> None:
    b.mailbox(command.mailbox)  # type: ignore[attr-defined]


def _rename(b: _Builder, command: c.Rename) -> None:
    b.mailbox(command.mailbox)
    b.mailbox(command.new_name)


def _list(b: _Builder, command: c.List) -> None:
    if command.selection:
        b.items(command.selection)
    b.mailbox(command.reference)
    if len(command.patterns) == 1:
        b.mailbox(command.patterns[0], pattern=True)
    else:
        b.open()
        lead = b""
        for pattern in command.patterns:
            b.mailbox(pattern, pattern=True, lead=lead)
            lead = b" "
        b.close()
    options = list(command.return_options)
    if command.status_items is not None:
        options.append("STATUS (" + " ".join(command.status_items) + ")")
    if options or command.status_items is not None:
        b.word(b"RETURN")
        b.items(options)


def _lsub(b: _Builder, command: c.Lsub) -> None:
    b.mailbox(command.reference)
    b.mailbox(command.pattern, pattern=True)


def _status(b: _Builder, command: c.Status) -> None:
    b.mailbox(command.mailbox)
    b.items(command.items)


def _append(b: _Builder, command: c.Append) -> None:
    b.mailbox(command.mailbox)
    for message in command.messages:
        if message.flags:
            b.word(response.flag_list(message.flags))
        if message.internal_date is not None:
            b.word(response.internal_date(message.internal_date))
        b.glue(b" ")
        b.literal(message.data, binary=message.binary)


def _getquota(b: _Builder, command: c.GetQuota) -> None:
    b.astring(command.root)


def _setquota(b: _Builder, command: c.SetQuota) -> None:
    b.astring(command.root)
    b.items([f"{name} {limit}" for name, limit in command.limits])


def _compress(b: _Builder, command: c.Compress) -> None:
    b.word(command.mechanism)


def _expunge(b: _Builder, command: c.Expunge) -> None:
    if command.uids is not None:
        b.word(bytes(command.uids))


def _return_options(b: _Builder, options: tuple[str, ...] | None) -> None:
    if options is not None:
        b.word(b"RETURN")
        b.items(options)


def _search(b: _Builder, command: c.Search) -> None:
    _return_options(b, command.return_options)
    if command.charset is not None:
        b.word(b"CHARSET")
        b.astring(command.charset)
    _program(b, command.key)


def _program(b: _Builder, key: s.SearchKey) -> None:
    if isinstance(key, s.SearchAnd) and key.keys:
        for item in key.keys:
            _search_key(b, item)
    else:
        _search_key(b, key)


def _search_key(b: _Builder, key: s.SearchKey, lead: bytes = b" ") -> None:
    if isinstance(key, s.SearchAnd):
        b.glue(lead + b"(")
        inner = b""
        for item in key.keys:
            _search_key(b, item, inner)
            inner = b" "
        b.close()
    elif isinstance(key, s.SearchOr):
        b.glue(lead + b"OR")
        _search_key(b, key.left)
        _search_key(b, key.right)
    elif isinstance(key, s.SearchNot):
        b.glue(lead + b"NOT")
        _search_key(b, key.key)
    elif isinstance(key, s.SearchText):
        b.glue(lead + key.where.encode("ascii"))
        b.astring(key.value)
    elif isinstance(key, s.SearchHeader):
        b.glue(lead + b"HEADER")
        b.astring(key.field)
        b.astring(key.value)
    elif isinstance(key, s.SearchModSeq) and key.entry_name is not None:
        b.glue(lead + b"MODSEQ")
        b.string_bytes(key.entry_name.encode("utf-8"))
        b.word(f"{key.entry_type or 'all'} {key.modseq}")
    elif isinstance(key, s.SearchFlag) and key.flag == "\\Recent" and not key.present:
        b.glue(lead + b"OLD")
    else:
        b.glue(lead + bytes(key))


def _fetch(b: _Builder, command: c.Fetch) -> None:
    b.word(bytes(command.sequence))
    b.word(b"(" + b" ".join(bytes(a) for a in command.attributes) + b")")
    modifiers = []
    if command.changed_since is not None:
        modifiers.append(b"CHANGEDSINCE %d" % command.changed_since)
    if command.vanished:
        modifiers.append(b"VANISHED")
    if modifiers:
        b.word(b"(" + b" ".join(modifiers) + b")")


def _store(b: _Builder, command: c.Store) -> None:
    b.word(bytes(command.sequence))
    if command.unchanged_since is not None:
        b.word(b"(UNCHANGEDSINCE %d)" % command.unchanged_since)
    item = command.mode.value + ("FLAGS.SILENT" if command.silent else "FLAGS")
    b.word(item)
    b.word(response.flag_list(command.flags))


def _copy(b: _Builder, command: c.Copy | c.Move) -> None:
    b.word(bytes(command.sequence))
    b.mailbox(command.mailbox)


def _sort(b: _Builder, command: c.Sort) -> None:
    _return_options(b, command.return_options)
    criteria = []
    for criterion in command.criteria:
        criteria.append(("REVERSE " if criterion.reverse else "") + criterion.key)
    b.items(criteria)
    b.astring(command.charset)
    _program(b, command.key)


def _thread(b: _Builder, command: c.Thread) -> None:
    b.word(command.algorithm)
    b.astring(command.charset)
    _program(b, command.key)


_WRITERS = {
    c.Id: _id,
    c.Authenticate: _authenticate,
    c.Login: _login,
    c.Enable: _enable,
    c.Select: _select,
    c.Examine: _select,
    c.Create: _create,
    c.Delete: _mailbox,
    c.Subscribe: _mailbox,
    c.Unsubscribe: _mailbox,
    c.GetQuotaRoot: _mailbox,
    c.Rename: _rename,
    c.List: _list,
    c.Lsub: _lsub,
    c.Status: _status,
    c.Append: _append,
    c.GetQuota: _getquota,
    c.SetQuota: _setquota,
    c.Compress: _compress,
    c.Expunge: _expunge,
    c.Search: _search,
    c.Fetch: _fetch,
    c.Store: _store,
    c.Copy: _copy,
    c.Move: _copy,
    c.Sort: _sort,
    c.Thread: _thread,
}
