"""mailstead.mime against Dovecot 2.3.19's answers for the 177 corpus messages.

Every golden FETCH record is compared byte for byte, except those the corpus README marks
as Dovecot-specific and INTERNALDATE (set by the store at APPEND, not by MIME analysis).
Remaining differences are listed in KNOWN_DIFFERENCES.md and are strict xfails here.
"""

from __future__ import annotations

import base64
import quopri
import re
from pathlib import Path

import pytest
from mime_golden import (
    Record,
    compared_records,
    golden_value,
    info,
    message_ids,
    our_value,
    raw_message,
)

from mailstead.mime import MessageInfo

_KNOWN_FILE = Path(__file__).with_name("KNOWN_DIFFERENCES.md")
KNOWN = {m.group(1) for m in re.finditer(r"^\| (\d{4}:[^ |]+) \|", _KNOWN_FILE.read_text(), re.M)}


def _params() -> list[object]:
    out = []
    for rec in compared_records():
        if rec.dovecot_specific:
            continue
        marks = []
        if rec.key in KNOWN:
            marks.append(
                pytest.mark.xfail(strict=True, reason="differs from Dovecot: KNOWN_DIFFERENCES.md")
            )
        out.append(pytest.param(rec, id=rec.key, marks=marks))
    return out


@pytest.mark.parametrize("rec", _params())
def test_fetch_item_matches_dovecot(rec: Record) -> None:
    expected = golden_value(rec) if rec.status == "OK" else None
    assert our_value(rec) == expected


def test_every_message_is_covered() -> None:
    assert len(message_ids()) == 177
    keys = {r.key for r in compared_records()}
    assert keys >= KNOWN, KNOWN - keys


@pytest.mark.parametrize("mid", message_ids())
def test_message_invariants(mid: str) -> None:
    raw = raw_message(mid)
    mi = info(mid)
    assert mi.size == len(raw)
    assert mi.section(raw, "HEADER") + mi.section(raw, "TEXT") == raw
    assert mi.section(raw, "") == raw
    again = MessageInfo.loads(mi.dumps())
    assert again == mi
    assert again.body_structure() == mi.body_structure()
    assert again.section(raw, "1") == mi.section(raw, "1")
    assert isinstance(mi.search_text(), str)
    # The stored form leaves the body text out; it comes back from the message bytes.
    assert again.search_text(raw) == mi.search_text()
    with pytest.raises(ValueError):
        MessageInfo.loads(mi.dumps()).body_text()


@pytest.mark.parametrize("mid", message_ids())
def test_binary_matches_stdlib_decoders(mid: str) -> None:
    raw = raw_message(mid)
    mi = info(mid)
    for part in mi.parts:
        if part.kind in ("multipart", "message"):
            continue
        body = raw[part.body_start : part.end]
        if part.transfer_encoding == "quoted-printable":
            assert mi.binary(raw, part.number) == quopri.decodestring(body)
        elif (
            part.transfer_encoding == "base64"
            and re.fullmatch(rb"[A-Za-z0-9+/\r\n]*={0,2}[\r\n]*", body)
            and len(re.sub(rb"[\r\n]", b"", body)) % 4 == 0
        ):
            assert mi.binary(raw, part.number) == base64.b64decode(body)
