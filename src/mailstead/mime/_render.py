"""IMAP renderings of the scanned structure: ENVELOPE, BODY and BODYSTRUCTURE bytes.

The choices where RFC 3501/9051 leave room (which strings are sent as literals, how a
Subject's folding is cleaned, which extension fields are NIL) follow Dovecot, so that
clients see what they see from the most common server; see docs/mime.md.
"""

from __future__ import annotations

import re

from ._scan import MESSAGE, MULTIPART, TEXT, Field, Node
from .addresses import Address, parse_addresses

_MAX_ESCAPES = 4  # more quoted-specials than this and a literal is cheaper

EMPTY_BODY = b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0)'
EMPTY_BODYSTRUCTURE = b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL)'


_SPECIAL = re.compile(rb'["\\\r\n\x80-\xff]')


def nstring(s: bytes | None) -> bytes:
    """An IMAP nstring: NIL, a quoted string, or a literal for 8-bit/CR/LF/many escapes."""
    if s is None:
        return b"NIL"
    if _SPECIAL.search(s) is None:
        return b'"' + s + b'"'
    if s.isascii() and b"\r" not in s and b"\n" not in s:
        n = s.count(b'"') + s.count(b"\\")
        if n == 0:
            return b'"' + s + b'"'
        if n <= _MAX_ESCAPES:
            return b'"' + s.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return b"{%d}\r\n" % len(s) + s


def nstring_nolf(s: bytes | None) -> bytes:
    if s is not None and (b"\r" in s or b"\n" in s):
        s = s.replace(b"\r", b"").replace(b"\n", b"")
    return nstring(s)


def string_for_humans(s: bytes) -> bytes:
    """Unfold and collapse blanks (Dovecot's treatment of Subject and display names)."""
    if (
        s.isascii()
        and not any(ch in s for ch in (b"\t", b"\r", b"\n", b'"', b"\\", b"\x00", b"  "))
        and not s.startswith(b" ")
        and not s.endswith(b" ")
    ):
        return b'"' + s + b'"'
    out = bytearray()
    last_lwsp = True
    for ch in s:
        if ch in (0x20, 0x09):
            if not last_lwsp:
                out.append(0x20)
            last_lwsp = True
        elif ch in (0x0D, 0x0A):
            continue
        elif ch == 0:
            out.append(0x80)
            last_lwsp = False
        else:
            out.append(ch)
            last_lwsp = False
    if out.endswith(b" "):
        del out[-1]
    if not out:
        return b'""'
    return b"{%d}\r\n" % len(out) + bytes(out)


def _params(params: list[tuple[bytes, bytes]] | None, default_charset: bool) -> bytes:
    if not params:
        if not default_charset:
            return b"NIL"
        return b'("charset" "us-ascii")'
    items = []
    seen_charset = False
    for k, v in params:
        if default_charset and k.lower() == b"charset":
            seen_charset = True
        items.append(nstring(k) + b" " + nstring(v))
    if default_charset and not seen_charset:
        items.append(b'"charset" "us-ascii"')
    return b"(" + b" ".join(items) + b")"


def _common_ext(node: Node) -> bytes:
    if node.disp is None:
        disp = b"NIL"
    else:
        disp = b"(" + nstring(node.disp) + b" " + _params(node.dparams, False) + b")"
    lang = b"NIL" if node.lang is None else b"(" + b" ".join(nstring(x) for x in node.lang) + b")"
    return b" " + disp + b" " + lang + b" " + nstring_nolf(node.loc)


def body_size(raw: bytes, start: int, end: int) -> int:
    """Octets as sent over IMAP, where every line ends in CRLF."""
    n = end - start
    lf = raw.count(b"\n", start, end)
    if lf:
        n += lf - raw.count(b"\r\n", start, end)
    return n


def bodystructure(raw: bytes, node: Node, extended: bool) -> bytes:
    """The parenthesised BODY/BODYSTRUCTURE of a node."""
    return b"(" + _part(raw, node, extended) + b")"


def message_bodystructure(raw: bytes, root: Node, extended: bool) -> bytes:
    """BODY/BODYSTRUCTURE of a whole message.

    A message that is plain 7-bit text (text/plain, at most a charset=us-ascii
    parameter, nothing else) is described in Dovecot's canonical lower-case form
    whatever the header's spelling, as Dovecot answers it."""
    if _is_plain_7bit(root):
        out = b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" %d %d' % (
            root.size,
            root.lines,
        )
        return out + (b" NIL NIL NIL NIL)" if extended else b")")
    return bodystructure(raw, root, extended)


def _is_plain_7bit(node: Node) -> bool:
    if node.kind != TEXT or node.children:
        return False
    if node.csub is not None and node.csub.lower() != b"plain":
        return False
    if node.params and (
        len(node.params) > 1
        or node.params[0][0].lower() != b"charset"
        or node.params[0][1].lower() != b"us-ascii"
    ):
        return False
    if node.cid is not None or node.desc is not None:
        return False
    if node.cte is not None and node.cte.lower() != b"7bit":
        return False
    return node.md5 is None and node.disp is None and node.lang is None and node.loc is None


def _part(raw: bytes, node: Node, ext: bool) -> bytes:
    if node.kind == MULTIPART:
        if node.children:
            out = b"".join(bodystructure(raw, c, ext) for c in node.children)
        else:
            out = EMPTY_BODYSTRUCTURE if ext else EMPTY_BODY
        out += b" " + nstring(node.csub or b"")
        if ext:
            out += b" " + _params(node.params, False) + _common_ext(node)
        return out
    if node.kind == MESSAGE:
        head = b'"message" "rfc822"'
        text = False
    elif node.ctype is None:
        head = b'"text" "plain"'
        text = True
    elif node.ctype.lower() == b"multipart" or (
        node.ctype.lower() == b"message" and (node.csub or b"").lower() == b"rfc822"
    ):
        # A container we did not open (broken, or nested too deep) is opaque data.
        head = b'"application" "octet-stream"'
        text = False
    else:
        head = nstring(node.ctype) + b" " + nstring(node.csub or b"")
        text = node.kind == TEXT and node.ctype.lower() == b"text"
    out = (
        head
        + b" "
        + _params(node.params, text)
        + b" "
        + nstring_nolf(node.cid)
        + b" "
        + nstring_nolf(node.desc)
        + b" "
        + (nstring(node.cte) if node.cte is not None else b'"7bit"')
        + b" %d" % node.size
    )
    if text:
        out += b" %d" % node.lines
    elif node.kind == MESSAGE:
        child = node.children[0]
        out += (
            b" ("
            + envelope(child.fields)
            + b") "
            + bodystructure(raw, child, ext)
            + b" %d" % node.lines
        )
    if ext:
        out += b" " + nstring_nolf(node.md5) + _common_ext(node)
    return out


_ENVELOPE_FIELDS = {
    b"date": 0,
    b"subject": 1,
    b"from": 2,
    b"sender": 3,
    b"reply-to": 4,
    b"to": 5,
    b"cc": 6,
    b"bcc": 7,
    b"in-reply-to": 8,
    b"message-id": 9,
}


def envelope_fields(fields: list[Field]) -> list[list[bytes]]:
    """Values of the ENVELOPE fields in message order (strings use the last one,
    address fields the addresses of all of them, as Dovecot does)."""
    vals: list[list[bytes]] = [[] for _ in range(10)]
    for f in fields:
        i = _ENVELOPE_FIELDS.get(f.name.lower())
        if i is not None and f.colon:
            vals[i].append(f.value)
    return vals


def _addresses(values: list[bytes]) -> bytes:
    addrs = [a for v in values for a in parse_addresses(v)]
    if not addrs:
        return b"NIL"
    return b"(" + b"".join(_address(a) for a in addrs) + b")"


def _last(values: list[bytes]) -> bytes | None:
    return values[-1] if values else None


def _address(a: Address) -> bytes:
    name = b"NIL" if a.name is None else string_for_humans(a.name)
    return (
        b"("
        + name
        + b" "
        + nstring(a.route)
        + b" "
        + nstring(a.mailbox)
        + b" "
        + nstring(a.domain)
        + b")"
    )


def envelope(fields: list[Field]) -> bytes:
    """The ENVELOPE list contents (without the outer parentheses)."""
    v = envelope_fields(fields)
    frm = _addresses(v[2])
    sender = _addresses(v[3])
    reply_to = _addresses(v[4])
    if sender == b"NIL":
        sender = frm  # RFC 3501 7.4.2: Sender and Reply-To default to From
    if reply_to == b"NIL":
        reply_to = frm
    subject = _last(v[1])
    return b" ".join(
        (
            nstring_nolf(_last(v[0])),
            b"NIL" if subject is None else string_for_humans(subject),
            frm,
            sender,
            reply_to,
            _addresses(v[5]),
            _addresses(v[6]),
            _addresses(v[7]),
            nstring_nolf(_last(v[8])),
            nstring_nolf(_last(v[9])),
        )
    )
