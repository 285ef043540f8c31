"""RFC 5322 / RFC 2045 lexical scanning of header values, on bytes.

The rules follow what deployed IMAP servers (Dovecot in particular) do with real,
often broken, header values: tokens may hold 8-bit bytes, comments nest, a quoted
string loses its folding CRLFs, and a parse error leaves the cursor where it stopped
so that the caller can recover. Values stay bytes: IMAP answers must echo the
message's own octets.
"""

from __future__ import annotations

import re

# Character classes of RFC 5322 atext and RFC 2045 tspecials, indexed by byte value:
# 2 = letter, digit or 8-bit; 1 = other atext; 4 = atext that is a MIME tspecial
# ("/", "=", "?"); 0 = neither (controls, space, specials).
_ATEXT = bytearray(256)
for _b in b"!#$%&'*+-^_`{|}~":
    _ATEXT[_b] = 1
for _b in b"/=?":
    _ATEXT[_b] = 4
for _b in range(256):
    if (chr(_b).isascii() and chr(_b).isalnum()) or _b >= 0x80:
        _ATEXT[_b] = 2
ATEXT = bytes(_ATEXT)

_MIME_TOKEN = re.compile(rb"[A-Za-z0-9!#$%&'*+\-^_`{|}~.\x80-\xff]*")
_ATOM = re.compile(rb"[A-Za-z0-9!#$%&'*+\-^_`{|}~/=?\x80-\xff]*")
_ATOM_OR_DOT = re.compile(rb"[A-Za-z0-9!#$%&'*+\-^_`{|}~/=?.\x80-\xff]*")
_LWSP = b" \t\r\n"


class Cursor:
    """A position in a header value; the functions below advance it."""

    __slots__ = ("data", "end", "last_comment", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data)
        self.last_comment: bytes | None = None  # text of the last comment skipped

    def at(self) -> int:
        """The byte under the cursor, 0 at the end (as a C parser reading the NUL would)."""
        return self.data[self.pos] if self.pos < self.end else 0


def skip_comment(c: Cursor) -> int:
    """Skip a (nested) comment starting at "(": 1 more data, 0 at end, -1 unterminated.

    The comment's text (escapes undone, folding removed) is kept in c.last_comment: an
    address like ``a@b (Name)`` takes its display name from it. Of an unterminated
    comment only the text before its last backslash or line break is kept (as in
    Dovecot, whose answers for such broken addresses clients already know)."""
    data, end = c.data, c.end
    level = 1
    i = c.pos + 1
    start = i
    text = b""
    c.last_comment = b""
    while i < end:
        ch = data[i]
        if ch == 0x28:  # (
            level += 1
        elif ch == 0x29:  # )
            level -= 1
            if level == 0:
                c.last_comment = text + data[start:i]
                c.pos = i + 1
                return 1 if c.pos != end else 0
        elif ch == 0x0A:
            stop = i - 1 if i > start and data[i - 1] == 0x0D else i
            text += data[start:stop]
            start = i + 1
        elif ch == 0x5C:  # backslash: drop it, keep the next byte (not CR, LF or NUL)
            if i + 1 >= end:
                c.last_comment = text
                c.pos = end
                return -1
            if data[i + 1] not in (0x0D, 0x0A, 0x00):
                text += data[start:i]
                start = i + 1
                i += 1
        i += 1
    c.last_comment = text
    c.pos = end
    return -1


def skip_lwsp(c: Cursor) -> int:
    """Skip whitespace and comments: 1 more data, 0 at end, -1 broken comment."""
    data, end = c.data, c.end
    while c.pos < end:
        ch = data[c.pos]
        if ch in (0x20, 0x09, 0x0D, 0x0A):
            c.pos += 1
            continue
        if ch != 0x28:
            break
        if skip_comment(c) < 0:
            return -1
    return 1 if c.pos != end else 0


def parse_mime_token(c: Cursor) -> tuple[int, bytes]:
    """A MIME token (may be empty): 1 more data after it, 0 at end, -1 broken."""
    m = _MIME_TOKEN.match(c.data, c.pos)
    assert m is not None
    token = m.group()
    c.pos = m.end()
    if c.pos == c.end:
        return 0, token
    return skip_lwsp(c), token


def parse_atom(c: Cursor) -> tuple[int, bytes]:
    if c.pos >= c.end or not ATEXT[c.data[c.pos]]:
        return -1, b""
    m = _ATOM.match(c.data, c.pos)
    assert m is not None
    c.pos = m.end()
    if c.pos == c.end:
        return 0, m.group()
    return skip_lwsp(c), m.group()


def parse_dot_atom(c: Cursor) -> tuple[int, bytes]:
    """dot-atom (domains), allowing whitespace around the dots as RFC 822 did; an empty
    atom after a dot is an error."""
    if c.pos >= c.end or not ATEXT[c.data[c.pos]]:
        return -1, b""
    out = bytearray()
    while True:
        m = _ATOM.match(c.data, c.pos)
        assert m is not None
        if m.end() == m.start():
            return -1, bytes(out)
        out += m.group()
        c.pos = m.end()
        if c.pos == c.end:
            return 0, bytes(out)
        ret = skip_lwsp(c)
        if ret <= 0:
            return ret, bytes(out)
        if c.data[c.pos] != 0x2E:  # .
            return 1, bytes(out)
        c.pos += 1
        out += b"."
        if skip_lwsp(c) <= 0:
            return -1, bytes(out)


def parse_local_dot_atom(c: Cursor) -> tuple[int, bytes]:
    """A local part with dots anywhere ("a..b", "x."): what real mail has, and what
    Dovecot accepts for ENVELOPE."""
    out = bytearray()
    ret = -1
    while True:
        while c.pos < c.end and c.data[c.pos] == 0x2E:
            out += b"."
            c.pos += 1
            if c.pos == c.end:
                return 0, bytes(out)
            ret = 1
        if c.at() == 0x40:  # @
            break
        ret, atom = parse_atom(c)
        out += atom
        if not (ret > 0 and c.at() == 0x2E):
            break
    return ret, bytes(out)


def parse_quoted_string(c: Cursor) -> tuple[int, bytes]:
    """A quoted string starting at DQUOTE; folding CRLFs are dropped, escapes undone."""
    data, end = c.data, c.end
    i = c.pos + 1
    close = data.find(b'"', i)
    if close >= 0 and data.find(b"\\", i, close) < 0 and data.find(b"\n", i, close) < 0:
        c.pos = close + 1  # the common case: nothing to unescape or unfold
        if c.pos == end:
            return 0, data[i:close]
        return skip_lwsp(c), data[i:close]
    out = bytearray()
    start = i
    while i < end:
        ch = data[i]
        if ch == 0x22:  # "
            out += data[start:i]
            c.pos = i + 1
            if c.pos == end:
                return 0, bytes(out)
            return skip_lwsp(c), bytes(out)
        if ch == 0x0A:
            stop = i
            if stop > start and data[stop - 1] == 0x0D:
                stop -= 1
            out += data[start:stop]
            start = i + 1
        elif ch == 0x5C:
            i += 1
            if i >= end:
                c.pos = end
                return -1, bytes(out)
            if data[i] in (0x0D, 0x0A, 0x00):
                continue  # not an escape: the backslash stays, the newline is seen next
            out += data[start : i - 1]
            start = i
        i += 1
    c.pos = end
    return -1, bytes(out)


def parse_atom_or_dot(c: Cursor) -> tuple[int, bytes]:
    m = _ATOM_OR_DOT.match(c.data, c.pos)
    assert m is not None
    c.pos = m.end()
    if c.pos == c.end:
        return 0, m.group()
    return skip_lwsp(c), m.group()


def parse_phrase(c: Cursor) -> tuple[int, bytes]:
    """phrase / obs-phrase: words joined by single spaces."""
    if c.pos >= c.end:
        return 0, b""
    if c.data[c.pos] == 0x2E:
        return -1, b""
    out = bytearray()
    while True:
        if c.data[c.pos] == 0x22:
            ret, word = parse_quoted_string(c)
        else:
            ret, word = parse_atom_or_dot(c)
        out += word
        if ret <= 0:
            return ret, bytes(out)
        ch = c.data[c.pos]
        if not ATEXT[ch] and ch != 0x22 and ch != 0x2E:
            break
        out += b" "
    return skip_lwsp(c), bytes(out)


def parse_domain_literal(c: Cursor) -> tuple[int, bytes]:
    """A [domain literal] with its brackets; folding removed, a nested "[" is an error."""
    data, end = c.data, c.end
    out = bytearray()
    start = c.pos
    i = start + 1
    while i < end:
        ch = data[i]
        if ch == 0x5B:  # [
            c.pos = i
            return -1, b""
        if ch == 0x5D:  # ]
            out += data[start : i + 1]
            c.pos = i + 1
            if c.pos == end:
                return 0, bytes(out)
            return skip_lwsp(c), bytes(out)
        if ch == 0x0A:
            stop = i - 1 if i > start and data[i - 1] == 0x0D else i
            out += data[start:stop]
            start = i + 1
        elif ch == 0x5C:
            i += 1
            if i >= end:
                break
            if data[i] in (0x0D, 0x0A, 0x00):
                out += data[start:i]
                start = i
                continue
        i += 1
    c.pos = end
    return -1, b""


def parse_domain(c: Cursor) -> tuple[int, bytes]:
    """domain after "@" (the cursor is on the "@")."""
    c.pos += 1
    if skip_lwsp(c) <= 0:
        return -1, b""
    if c.data[c.pos] == 0x5B:  # [
        return parse_domain_literal(c)
    return parse_dot_atom(c)


def parse_content_type(c: Cursor) -> tuple[int, bytes, bytes]:
    """type "/" subtype, as (ret, type, subtype); ret -1 if broken.

    A broken value keeps what Dovecot 2.3.19 keeps (clients have seen these answers for
    years): a lone type that ends the value (``text``, ``text (comment)``) stays with an
    empty subtype; anything else broken (``text;x=y``, ``text/``, junk after the
    subtype) gives an empty type and subtype."""
    if skip_lwsp(c) <= 0:
        return -1, b"", b""
    ret, main = parse_mime_token(c)
    if ret <= 0 or not main:
        return -1, main, b""
    if c.data[c.pos] != 0x2F:
        return -1, b"", b""
    c.pos += 1
    if skip_lwsp(c) <= 0:
        return -1, b"", b""
    ret, sub = parse_mime_token(c)
    if ret < 0 or not sub or (c.pos < c.end and c.data[c.pos] != 0x3B):
        return -1, b"", b""
    return ret, main, sub


def parse_content_param(c: Cursor) -> tuple[int, bytes, bytes]:
    """One ";" attribute "=" value: 1 parsed, 0 at end, -1 broken."""
    if c.pos >= c.end:
        return 0, b"", b""
    if c.data[c.pos] != 0x3B:  # ;
        return -1, b"", b""
    c.pos += 1
    if skip_lwsp(c) <= 0:
        return -1, b"", b""
    ret, key = parse_mime_token(c)
    if ret <= 0:
        return -1, b"", b""
    if c.data[c.pos] != 0x3D:  # =
        return -1, b"", b""
    c.pos += 1
    ret = skip_lwsp(c)
    value = b""
    if ret <= 0:
        pass  # broken or no value
    elif c.data[c.pos] == 0x22:
        ret, value = parse_quoted_string(c)
    elif c.data[c.pos] == 0x3D:
        # Broken senders write name==?utf-8?b?...?=: take everything up to a separator.
        start = c.pos
        data, end = c.data, c.end
        i = start
        while i < end and data[i] not in b"; \t\r\n":
            i += 1
        c.pos = i
        value = data[start:i]
    else:
        ret, value = parse_mime_token(c)
    return (-1 if ret < 0 else 1), key, value


def parse_params(c: Cursor) -> list[tuple[bytes, bytes]]:
    """Parameters after a MIME value, with RFC 2231 continuations joined.

    Continuations ``name*0*``/``name*1*`` are joined into one ``name*`` parameter that
    keeps its charset'lang' prefix and %-encoding, plain ones into ``name``; nothing is
    decoded (this is what BODYSTRUCTURE shows, as Dovecot does). Callers wanting the
    decoded text use :func:`decode_param`.
    """
    result: list[tuple[bytes, bytes]] = []
    cont: list[tuple[bytes, int, bool, bytes]] = []
    idx = 0  # like Dovecot, "name*" (no number) reuses the previous index
    while True:
        ret, key, value = parse_content_param(c)
        if ret == 0:
            break
        if ret < 0:
            if c.pos >= c.end:
                break
            c.pos += 1
            continue
        star = key.find(b"*")
        if star >= 0:
            p = star
            if p + 1 < len(key):
                p += 1
                idx = 0
                while p < len(key) and 0x30 <= key[p] <= 0x39:
                    idx = idx * 10 + key[p] - 0x30
                    p += 1
            extended = p < len(key) and key[p] == 0x2A
            if extended:
                p += 1
            if p == len(key):
                cont.append((key[:star], idx, extended, value))
                continue
        result.append((key, value))
    if not cont:
        return result
    cont.sort(key=lambda t: (t[0], t[1]))
    i = 0
    while i < len(cont):
        name = cont[i][0]
        lname = name.lower()
        j = i
        ok = True
        have_ext = False
        nxt = 0
        while j < len(cont) and cont[j][0].lower() == lname:
            if cont[j][1] != nxt:
                ok = False
            if cont[j][2]:
                have_ext = True
            nxt += 1
            j += 1
        if not ok:
            for k in range(i, j):
                _n, idx, ext, val = cont[k]
                suffix = b"*%d*" % idx if ext else b"*%d" % idx
                result.append((cont[k][0] + suffix, val))
        else:
            joined = bytearray()
            if not cont[i][2] and have_ext:
                joined += b"''"
            for k in range(i, j):
                if not cont[k][2] and have_ext:
                    joined += cont[k][3].replace(b"%", b"%25")
                else:
                    joined += cont[k][3]
            result.append((name + b"*" if have_ext else name, bytes(joined)))
        i = j
    return result


_PCT = re.compile(rb"%([0-9A-Fa-f]{2})")


def decode_param(name: bytes, value: bytes) -> str:
    """The text of a parameter: RFC 2231 ``charset'lang'%XX`` or RFC 2047 words decoded."""
    from .text import decode_bytes, decode_words

    if name.endswith(b"*"):
        first = value.find(b"'")
        second = value.find(b"'", first + 1) if first >= 0 else -1
        if second >= 0:
            charset = value[:first].decode("ascii", "replace")
            raw = _PCT.sub(lambda m: bytes([int(m.group(1), 16)]), value[second + 1 :])
            return decode_bytes(raw, charset or "us-ascii")
    return decode_words(value)


def lwsp_strip(value: bytes) -> bytes:
    return value.strip(_LWSP)
