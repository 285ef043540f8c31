"""The POP3 response writer, byte for byte."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mailstead.proto.pop3 import (
    DotStuffer,
    ResponseCode,
    continuation,
    dot_stuff,
    err,
    multiline,
    ok,
)
from mailstead.proto.pop3.client import unstuff
from mailstead.proto.pop3.responses import top_length


def test_status_lines() -> None:
    assert ok() == b"+OK\r\n"
    assert ok("2 320") == b"+OK 2 320\r\n"
    assert err("no such message") == b"-ERR no such message\r\n"
    assert err("Mailbox is locked", ResponseCode.IN_USE) == b"-ERR [IN-USE] Mailbox is locked\r\n"
    assert err("Authentication failed", ResponseCode.AUTH) == (
        b"-ERR [AUTH] Authentication failed\r\n"
    )
    assert err("try later", ResponseCode.SYS_TEMP) == b"-ERR [SYS/TEMP] try later\r\n"
    assert err("", ResponseCode.SYS_PERM) == b"-ERR [SYS/PERM]\r\n"


def test_status_text_cannot_inject_a_line() -> None:
    assert err("a\r\n+OK forged") == b"-ERR a  +OK forged\r\n"


def test_status_line_is_capped_at_512_octets() -> None:
    line = ok("é" * 600)
    assert len(line) <= 512 and line.endswith(b"\r\n")
    line[:-2].decode("utf-8")  # not cut in the middle of a character


def test_continuation() -> None:
    assert continuation() == b"+ \r\n"
    assert continuation(b"Username:") == b"+ VXNlcm5hbWU6\r\n"


def test_multiline_block_is_stuffed_and_terminated() -> None:
    assert multiline(b"+OK\r\n", ["TOP", ".hidden", "USER"]) == (
        b"+OK\r\nTOP\r\n..hidden\r\nUSER\r\n.\r\n"
    )
    assert multiline(b"+OK 0 messages\r\n", []) == b"+OK 0 messages\r\n.\r\n"


def test_dot_stuff_examples() -> None:
    assert dot_stuff(b"") == b".\r\n"
    assert dot_stuff(b"a\r\n") == b"a\r\n.\r\n"
    assert dot_stuff(b"a") == b"a\r\n.\r\n"
    assert dot_stuff(b".\r\n") == b"..\r\n.\r\n"
    assert dot_stuff(b"a\r\n.\r\nb\r\n") == b"a\r\n..\r\nb\r\n.\r\n"
    assert dot_stuff(b"..x\r\n") == b"...x\r\n.\r\n"
    # A bare LF ends a line too: no client can see a lone "." before the end.
    assert dot_stuff(b"a\n.\nb") == b"a\n..\nb\r\n.\r\n"
    assert dot_stuff(b"a\r\n\r\n") == b"a\r\n\r\n.\r\n"


def test_dot_stuffer_across_chunk_boundaries() -> None:
    s = DotStuffer()
    out = s.feed(b"a\r\n") + s.feed(b".b\r") + s.feed(b"\n") + s.feed(b".") + s.feed(b"\r\n")
    assert out + s.finish() == b"a\r\n..b\r\n..\r\n.\r\n"


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    out, last = [], 0
    for p in points:
        out.append(data[last:p])
        last = p
    out.append(data[last:])
    return out


@given(st.binary(max_size=300).map(lambda b: b.replace(b"x", b".\r\n")), st.lists(st.integers(0, 300)))
def test_stuffing_in_chunks_equals_stuffing_whole_and_round_trips(body: bytes, cuts: list[int]) -> None:
    s = DotStuffer()
    streamed = b"".join(s.feed(chunk) for chunk in _chunks(body, cuts)) + s.finish()
    assert streamed == dot_stuff(body)
    assert streamed.endswith(b".\r\n")
    block = streamed[:-3]
    # The terminator is found nowhere earlier.
    assert b"\n.\r\n" not in block[:-1] and not block.startswith(b".\r\n")
    expected = body if not body or body.endswith(b"\r\n") else body + b"\r\n"
    assert unstuff(block) == expected


def test_top_length() -> None:
    msg = b"Subject: x\r\nFrom: y\r\n\r\nline1\r\nline2\r\nline3\r\n"
    head = b"Subject: x\r\nFrom: y\r\n\r\n"
    assert msg[: top_length(msg, 0)] == head
    assert msg[: top_length(msg, 2)] == head + b"line1\r\nline2\r\n"
    assert top_length(msg, 99) == len(msg)
    assert top_length(b"Subject: no body\r\n", 5) == len(b"Subject: no body\r\n")
    assert top_length(b"", 3) == 0
    assert top_length(b"\r\nbody\r\n", 0) == 2
    assert top_length(b"H: v\n\nb1\nb2", 1) == len(b"H: v\n\nb1\n")
    assert top_length(b"H: v\r\n\r\nno final crlf", 1) == len(b"H: v\r\n\r\nno final crlf")
