"""A strict reader for the IMAP values we render, used to check their syntax."""

from __future__ import annotations

import re

_ATOM = re.compile(rb"[^ ()\"{}\r\n\\%*\]]+")


class SyntaxProblem(ValueError):
    pass


def parse_value(data: bytes) -> object:
    """Parse one IMAP value (list, string, literal, NIL, number); the whole input."""
    value, pos = _value(data, 0)
    if pos != len(data):
        raise SyntaxProblem(f"trailing bytes at {pos}: {data[pos : pos + 20]!r}")
    return value


def _value(data: bytes, pos: int) -> tuple[object, int]:
    if pos >= len(data):
        raise SyntaxProblem("unexpected end")
    ch = data[pos]
    if ch == 0x28:  # (
        items: list[object] = []
        pos += 1
        while True:
            if pos >= len(data):
                raise SyntaxProblem("unterminated list")
            if data[pos] == 0x29:
                return items, pos + 1
            if items and data[pos - 1] not in b"()" and data[pos] != 0x20:
                raise SyntaxProblem(f"missing space at {pos}")
            if data[pos] == 0x20:
                pos += 1
            item, pos = _value(data, pos)
            items.append(item)
    if ch == 0x22:  # "
        out = bytearray()
        pos += 1
        while True:
            if pos >= len(data):
                raise SyntaxProblem("unterminated quoted string")
            c = data[pos]
            if c == 0x22:
                return bytes(out), pos + 1
            if c in (0x0D, 0x0A) or c >= 0x80:
                raise SyntaxProblem("CR, LF or 8-bit in a quoted string")
            if c == 0x5C:
                pos += 1
                if pos >= len(data) or data[pos] not in b'"\\':
                    raise SyntaxProblem("bad escape")
                c = data[pos]
            out.append(c)
            pos += 1
    if ch == 0x7B:  # {
        m = re.compile(rb"\{(\d+)\}\r\n").match(data, pos)
        if not m:
            raise SyntaxProblem("bad literal header")
        n = int(m.group(1))
        start = m.end()
        if start + n > len(data):
            raise SyntaxProblem("short literal")
        return data[start : start + n], start + n
    m = _ATOM.match(data, pos)
    if not m:
        raise SyntaxProblem(f"unexpected byte {data[pos : pos + 1]!r} at {pos}")
    return m.group(), m.end()
