"""BODY[section] and partial ranges, as byte slices of the stored message."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .info import MessageInfo

_SPEC = re.compile(r"((?:[0-9]+\.)*[0-9]+)?\.?(.*)\Z", re.S)


def field_spans(raw: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(lower-case name, start, end) of each header field in raw[start:end]."""
    out: list[tuple[bytes, int, int]] = []
    pos = start
    find = raw.find
    while pos < end:
        c = raw[pos]
        if c == 0x0A or (c == 0x0D and raw.startswith(b"\r\n", pos)):
            break
        nl = find(b"\n", pos, end)
        next_pos = end if nl < 0 else nl + 1
        if c in (0x20, 0x09) and out:
            name, s, _e = out[-1]
            out[-1] = (name, s, next_pos)
        else:
            colon = find(b":", pos, next_pos)
            name = raw[pos:next_pos].rstrip(b"\r\n") if colon < 0 else raw[pos:colon].rstrip(b" \t")
            out.append((name.lower(), pos, next_pos))
        pos = next_pos
    return out


def field_value_span(raw: bytes, start: int, end: int, name: bytes) -> tuple[int, int] | None:
    """Offsets of the first line of the value of the first `name` field in raw[start:end]."""
    for fname, s, e in field_spans(raw, start, end):
        if fname == name:
            colon = raw.find(b":", s, e)
            if colon < 0:
                return None
            v = colon + 1
            while v < e and raw[v] in (0x20, 0x09):
                v += 1
            line_end = raw.find(b"\n", v, e)
            line_end = e if line_end < 0 else line_end
            if line_end > v and raw[line_end - 1] == 0x0D:
                line_end -= 1
            return v, line_end
    return None


def header_fields_section(
    raw: bytes, start: int, end: int, names: list[str], exclude: bool
) -> bytes:
    """HEADER.FIELDS[.NOT]: matching field lines in message order, then an empty line."""
    wanted = {n.lower().encode("latin-1", "replace") for n in names}
    parts = [raw[s:e] for name, s, e in field_spans(raw, start, end) if (name in wanted) != exclude]
    if parts and not parts[-1].endswith(b"\n"):
        parts[-1] += b"\r\n"
    parts.append(b"\r\n")
    return b"".join(parts)


_FIELD_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|([^\s()"]+)')
_ESCAPE = re.compile(r"\\(.)")


def parse_field_names(text: str) -> list[str]:
    """The names of "(FROM "X-Odd" ...)": atoms or quoted strings (escapes undone)."""
    names = []
    for quoted, atom in _FIELD_TOKEN.findall(text):
        names.append(atom if atom else _ESCAPE.sub(r"\1", quoted))
    return names


def render_section(info: MessageInfo, raw: bytes, spec: str) -> bytes:
    m = _SPEC.match(spec.strip())
    number = m.group(1) if m else None
    rest = (m.group(2) if m else spec).strip()
    upper = rest.upper()
    if number is None:
        h, b, e = 0, info.body_start, len(raw)
    else:
        part = info.part(number)
        if part is None:
            return b""
        if upper == "":
            return raw[part.body_start : part.end]
        if upper == "MIME":
            return raw[part.header_start : part.body_start]
        if part.message is None:
            return b""
        h, b, e = part.message
    if upper == "":
        return raw
    if upper == "HEADER":
        return raw[h:b]
    if upper == "TEXT":
        return raw[b:e]
    if upper.startswith("HEADER.FIELDS.NOT"):
        return header_fields_section(raw, h, b, parse_field_names(rest[17:]), True)
    if upper.startswith("HEADER.FIELDS"):
        return header_fields_section(raw, h, b, parse_field_names(rest[13:]), False)
    return b""


def partial(data: bytes, offset: int, length: int | None = None) -> bytes:
    """The <offset.length> slice of a section (RFC 9051 6.4.5); empty past the end."""
    if offset >= len(data):
        return b""
    return data[offset:] if length is None else data[offset : offset + length]
