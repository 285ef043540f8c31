"""Reading the Dovecot golden answers of tests/corpus/mime and computing ours."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from mailstead.mime import MessageInfo, analyse_strict, partial

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "mime"

_FETCH = re.compile(rb"\* (\d+) FETCH \(")


@dataclass(frozen=True)
class Record:
    message_id: str
    item: str  # as fetched, e.g. "BODY.PEEK[1.MIME]"
    status: str
    response: bytes
    dovecot_specific: str | None

    @property
    def key(self) -> str:
        return f"{self.message_id}:{self.item}"


def message_ids() -> list[str]:
    return sorted(p.stem for p in (CORPUS / "messages").glob("*.eml"))


@cache
def raw_message(mid: str) -> bytes:
    return (CORPUS / "messages" / f"{mid}.eml").read_bytes()


@cache
def records(mid: str) -> tuple[Record, ...]:
    doc = json.loads((CORPUS / "golden" / f"{mid}.json").read_text())
    out = []
    for f in doc["fetches"]:
        if "response_b64" in f:
            resp = base64.b64decode(f["response_b64"])
        else:
            resp = f["response"].encode("utf-8")
        out.append(Record(mid, f["item"], f["status"], resp, f.get("dovecot_specific")))
    return tuple(out)


@cache
def info(mid: str) -> MessageInfo:
    return analyse_strict(raw_message(mid))


def _read_value(data: bytes, pos: int) -> tuple[bytes | None, int]:
    """One IMAP value at pos: a literal/quoted string (its content) or a raw token/list."""
    if data.startswith(b"{", pos):
        close = data.index(b"}\r\n", pos)
        n = int(data[pos + 1 : close])
        start = close + 3
        return data[start : start + n], start + n
    if data.startswith(b'"', pos):
        out = bytearray()
        i = pos + 1
        while data[i] != 0x22:
            if data[i] == 0x5C:
                i += 1
            out.append(data[i])
            i += 1
        return bytes(out), i + 1
    if data.startswith(b"NIL", pos):
        return None, pos + 3
    m = re.compile(rb"[^ ()]+").match(data, pos)
    assert m
    return m.group(), m.end()


def golden_value(rec: Record) -> bytes | None:
    """The data item's value as sent: raw bytes for structures, content for strings."""
    resp = rec.response
    m = _FETCH.match(resp)
    assert m, resp[:80]
    body = resp[m.end() :]
    assert body.endswith(b")\r\n")
    body = body[:-3]
    # the first token is the item name (BODY[...]<n> may contain spaces inside [...])
    depth = 0
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == 0x5B:
            depth += 1
        elif ch == 0x5D:
            depth -= 1
        elif ch == 0x20 and depth == 0:
            break
        i += 1
    name, rest = body[:i], body[i + 1 :]
    if name == b"UID":
        return None
    if name in (b"ENVELOPE", b"BODYSTRUCTURE", b"BODY", b"RFC822.SIZE") or name.startswith(
        b"BINARY.SIZE"
    ):
        return rest
    value, _end = _read_value(rest, 0)
    return value


_SECTION = re.compile(r"(?:BODY\.PEEK|BINARY\.SIZE)\[(.*)\](?:<(\d+)\.(\d+)>)?\Z", re.S)


def our_value(rec: Record) -> bytes | None:
    """Our answer for the same item, in the same form as golden_value()."""
    mi = info(rec.message_id)
    raw = raw_message(rec.message_id)
    item = rec.item
    if item == "ENVELOPE":
        return mi.envelope()
    if item == "BODYSTRUCTURE":
        return mi.body_structure()
    if item == "BODY":
        return mi.body()
    if item == "RFC822.SIZE":
        return b"%d" % mi.size
    m = _SECTION.match(item)
    assert m, item
    if item.startswith("BINARY.SIZE"):
        size = mi.binary_size(raw, m.group(1))
        return None if size is None else b"%d" % size
    data = mi.section(raw, m.group(1))
    if m.group(2) is not None:
        data = partial(data, int(m.group(2)), int(m.group(3)))
    return data


def compared_records() -> list[Record]:
    """Every record the corpus test holds us to (INTERNALDATE is the store's business)."""
    return [r for mid in message_ids() for r in records(mid) if r.item != "INTERNALDATE"]
