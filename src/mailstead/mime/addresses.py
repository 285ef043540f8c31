"""Address-list parsing (RFC 5322 3.4) for ENVELOPE, SORT and display.

Real From/To/Cc values are often broken: missing domains, unbalanced quotes, stray
commas. The parser recovers the way Dovecot's does (the reference our IMAP answers are
checked against): a missing mailbox or domain becomes MISSING_MAILBOX/MISSING_DOMAIN, an
unparseable angle address gets the domain SYNTAX_ERROR, groups are kept as
(NIL NIL name NIL) ... (NIL NIL NIL NIL) markers.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._lex import (
    Cursor,
    parse_domain,
    parse_local_dot_atom,
    parse_phrase,
    parse_quoted_string,
    skip_lwsp,
)

MAX_ADDRESSES = 1000  # bound work on absurd headers
MAX_VALUE = 65536  # bytes of one address field parsed; the rest of a longer one is ignored


@dataclass(slots=True)
class Address:
    """One ENVELOPE address; a group start has domain None, a group end everything None."""

    name: bytes | None = None
    route: bytes | None = None
    mailbox: bytes | None = None
    domain: bytes | None = None
    invalid: bool = False

    @property
    def is_group_marker(self) -> bool:
        return self.domain is None

    @property
    def addr_spec(self) -> str:
        from .text import decode_header_bytes

        if self.mailbox is None:
            return ""
        mb = decode_header_bytes(self.mailbox)
        return f"{mb}@{decode_header_bytes(self.domain)}" if self.domain else mb

    @property
    def display_name(self) -> str:
        from .text import decode_words

        return decode_words(self.name) if self.name else ""


class _Parser:
    __slots__ = ("addr", "c", "local", "out")

    def __init__(self, value: bytes) -> None:
        self.c = Cursor(value)
        self.out: list[Address] = []
        self.addr = Address()
        self.local = b""  # the last local part read, kept even when it was broken

    def add(self) -> None:
        self.out.append(self.addr)
        self.addr = Address()

    def add_fixed(self) -> None:
        if self.addr.mailbox is None:
            self.addr.mailbox = b"MISSING_MAILBOX"
            self.addr.invalid = True
        if not self.addr.domain:
            self.addr.domain = b"MISSING_DOMAIN"
            self.addr.invalid = True
        self.add()

    def local_part(self) -> int:
        c = self.c
        if c.at() == 0x22:
            ret, s = parse_quoted_string(c)
        else:
            ret, s = parse_local_dot_atom(c)
        self.local = s
        if ret < 0:
            return -1
        self.addr.mailbox = s
        return ret

    def domain(self) -> int:
        ret, s = parse_domain(self.c)
        if ret < 0:
            return -1
        self.addr.domain = s
        return ret

    def domain_list(self) -> int:
        c = self.c
        route = bytearray()
        while True:
            if c.pos >= c.end:
                return 0
            if c.at() != 0x40:  # @
                break
            if route:
                route += b","
            route += b"@"
            ret, d = parse_domain(c)
            route += d
            if ret <= 0:
                return ret
            while skip_lwsp(c) > 0 and c.at() == 0x2C:
                c.pos += 1
        self.addr.route = bytes(route)
        return 1

    def angle_addr(self) -> int:
        c = self.c
        c.pos += 1  # <
        if skip_lwsp(c) <= 0:
            return -1
        if c.at() == 0x40:
            if self.domain_list() > 0 and c.at() == 0x3A:
                c.pos += 1
            else:
                self.addr.route = b"INVALID_ROUTE"
                self.addr.invalid = True
                if c.pos >= c.end:
                    return -1
            if skip_lwsp(c) <= 0:
                return -1
        if c.at() != 0x3E:  # "<>" carries no address at all
            if self.local_part() <= 0:
                return -1
            if c.at() == 0x40 and self.domain() <= 0:
                return -1
            if c.at() != 0x3E:
                return -1
        c.pos += 1
        return skip_lwsp(c)

    def name_addr(self) -> int:
        c = self.c
        ret, phrase = parse_phrase(c)
        if ret <= 0 or c.at() != 0x3C:
            return -1
        self.addr.name = phrase or None
        if self.angle_addr() < 0:
            self.addr.domain = b"SYNTAX_ERROR"
            self.addr.invalid = True
        return 1 if c.pos != c.end else 0

    def addr_spec(self) -> int:
        c = self.c
        c.last_comment = None
        quoted = c.at() == 0x22
        ret = self.local_part()
        if ret <= 0:
            self.addr.invalid = True
        ret2 = -2
        if ret != 0 and c.at() == 0x40:
            ret2 = self.domain()
            if ret2 <= 0:
                ret = ret2
        if c.last_comment:
            self.addr.name = c.last_comment
        elif ret2 == -2:
            # A word without "@domain": alone it is a mailbox, but followed by more
            # words it was a display name whose address is missing.
            _ret, more = parse_phrase(c)
            if more:
                self.addr.name = self.local + b" " + more
                self.addr.mailbox = None
            elif not quoted:
                self.addr.domain = b""
            self.addr.invalid = True
            ret = -1
        return ret

    def mailbox(self) -> int:
        c = self.c
        start = c.pos
        ret = self.name_addr()
        if ret < 0:
            c.pos = start
            self.addr = Address()
            ret = self.addr_spec() if c.pos < c.end else -1
            a = self.addr
            if a.invalid and a.name is None and a.mailbox is not None and a.domain is None:
                a.name, a.mailbox = a.mailbox, None  # a lone word was a name, not a mailbox
        if ret < 0:
            self.addr.invalid = True
        self.add_fixed()
        return ret

    def group(self) -> int:
        c = self.c
        ret, phrase = parse_phrase(c)
        if ret <= 0 or c.at() != 0x3A:
            return -1
        c.pos += 1
        ret = skip_lwsp(c)
        if ret <= 0:
            self.addr.invalid = True
        self.addr.mailbox = phrase
        self.add()
        if ret > 0 and c.at() != 0x3B:
            while len(self.out) < MAX_ADDRESSES:
                self.mailbox()  # a broken mailbox does not end the group
                if c.at() != 0x2C:
                    break
                c.pos += 1
                if skip_lwsp(c) <= 0:
                    ret = -1
                    break
        if ret >= 0:
            if c.pos >= c.end or c.at() != 0x3B:
                ret = -1
            else:
                c.pos += 1
                ret = skip_lwsp(c)
        if ret < 0:
            self.addr.invalid = True
        self.add()
        return 0 if ret == 0 else 1

    def address(self) -> int:
        c = self.c
        start = c.pos
        ret = self.group()
        if ret < 0:
            c.pos = start
            self.addr = Address()
            ret = self.mailbox()
        return ret

    def address_list(self) -> None:
        c = self.c
        while len(self.out) < MAX_ADDRESSES:
            if self.address() == 0:
                break
            if c.pos >= c.end or c.at() != 0x2C:
                break
            c.pos += 1
            ret = skip_lwsp(c)
            if ret <= 0:
                if ret < 0:
                    self.add_fixed()
                break


def parse_addresses(value: bytes) -> list[Address]:
    """Parse an address-list header value; an empty value gives []."""
    p = _Parser(value[:MAX_VALUE])
    if skip_lwsp(p.c) <= 0:
        return []
    p.c.last_comment = None
    p.address_list()
    return p.out
