"""The glue the IMAP server will be: a parsed FETCH answered from ``mailstead.mime``."""

from __future__ import annotations

from imap_helpers import parse_one

from mailstead.mime import analyse
from mailstead.proto.imap import commands as c
from mailstead.proto.imap import response

RAW = (
    b"From: Alice <alice@example.test>\r\n"
    b"To: bob@example.test\r\n"
    b"Subject: Lunch\r\n"
    b"Date: Tue, 1 Jun 2024 10:00:00 +0000\r\n"
    b"Message-ID: <lunch@example.test>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n'
    b"\r\n"
    b"--b\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"Noon?\r\n"
    b"--b\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"AAEC\r\n"
    b"--b--\r\n"
)


def answer(fetch: c.Fetch, number: int, uid: int) -> bytes:
    info = analyse(RAW)
    out = response.FetchResponse(number)
    for attribute in fetch.attributes:
        key = attribute.response_key()
        if attribute.name == "UID":
            out.add_number(key, uid)
        elif attribute.name == "ENVELOPE":
            out.add(key, info.envelope())
        elif attribute.name == "BODYSTRUCTURE":
            out.add(key, info.body_structure())
        elif attribute.name == "RFC822.SIZE":
            out.add_number(key, len(RAW))
        elif attribute.name == "BINARY.SIZE":
            out.add_number(key, info.binary_size(RAW, attribute.section.part_text))
        elif attribute.name == "BODY" and attribute.section is not None:
            data = info.section(RAW, attribute.section.spec())
            if attribute.partial is not None:
                start, length = attribute.partial
                data = data[start : start + length]
            out.add_literal(key, memoryview(data))
    return b"".join(bytes(chunk) for chunk in out.chunks())


def test_fetch_answered_from_the_mime_analysis() -> None:
    fetch = parse_one(
        b"a UID FETCH 7 (UID ENVELOPE BODY.PEEK[HEADER.FIELDS (Subject From)] "
        b"BODY[1]<0.4> BINARY.SIZE[2] RFC822.SIZE)\r\n"
    )
    out = answer(fetch, 3, 7)
    assert out.startswith(b'* 3 FETCH (UID 7 ENVELOPE ("Tue, 1 Jun 2024 10:00:00 +0000" "Lunch" ')
    assert b"BODY[HEADER.FIELDS (Subject From)] {" in out
    assert b"From: Alice <alice@example.test>\r\nSubject: Lunch\r\n\r\n" in out
    assert b"BODY[1]<0> {4}\r\nNoon" in out
    assert b"BINARY.SIZE[2] 3 " in out
    assert out.endswith(b"RFC822.SIZE %d)\r\n" % len(RAW))
