"""Random and mutated input never raises out of the core and never grows its buffers."""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailstead.proto.imap import NEED_DATA, Bye, Connection, Limits
from mailstead.proto.imap import commands as c
from mailstead.proto.imap.connection import AppendStart

LIMITS = Limits(
    max_line_length=300,
    max_literal_size=2000,
    max_argument_literal_size=500,
    max_preauth_literal_size=200,
    max_command_size=4000,
    max_nesting_depth=8,
    max_pipelined_commands=8,
    max_buffered_bytes=3000,
    max_bad_commands=1000,
)
STREAMING = dataclasses.replace(LIMITS, stream_append_over=50)

VALID = [
    b"a1 LOGIN joe {6}\r\nsecret\r\n",
    b"a2 SELECT INBOX (CONDSTORE)\r\n",
    b"a3 UID FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100>) (CHANGEDSINCE 1)\r\n",
    b'a4 UID SEARCH RETURN (MIN) CHARSET UTF-8 OR (FROM "a\\\\b" NOT SEEN) UID 1:5,$\r\n',
    b'a5 APPEND INBOX (\\Seen) " 1-Jan-2020 00:00:00 +0000" {5+}\r\nhello ~{3+}\r\nb\x00c\r\n',
    b"a6 STORE 1:3 (UNCHANGEDSINCE 7) +FLAGS.SILENT (\\Deleted)\r\n",
    b"a7 IDLE\r\nDONE\r\n",
    b"a8 AUTHENTICATE PLAIN\r\nAGpvZQBzZWNyZXQ=\r\n",
    b'a9 LIST (SUBSCRIBED) "" ("*" %) RETURN (STATUS (MESSAGES))\r\n',
    b"b1 ENABLE QRESYNC UTF8=ACCEPT\r\n",
    b"b2 STARTTLS\r\nb3 NOOP\r\n",
    b"b4 COMPRESS DEFLATE\r\n",
    b"b5 SORT (REVERSE DATE) UTF-8 ALL\r\n",
    b'b6 ID ("name" NIL)\r\n',
    b"b7 APPEND INBOX {60+}\r\n" + b"m" * 60 + b" (\\Seen) {70}\r\n" + b"n" * 70 + b"\r\n",
]


def drive(conn: Connection, chunks: list[bytes], decisions: list[bool]) -> None:
    """Feed chunks, answering as a server would, and check the bounds after every step."""
    step = 0
    for chunk in chunks:
        conn.receive_data(chunk)
        for _ in range(200):
            event = conn.next_event()
            assert not (isinstance(event, Bye) and "Internal error" in event.text), event
            check_bounds(conn)
            if event is NEED_DATA:
                break
            ok = decisions[step % len(decisions)] if decisions else True
            step += 1
            if isinstance(event, AppendStart) and event.synchronising:
                if ok:
                    conn.accept_append()
                else:
                    conn.reject_append()
            elif isinstance(event, c.Idle):
                conn.start_idle(event)
            elif isinstance(event, c.Authenticate):
                conn.authenticate_challenge(event)
            elif isinstance(event, c.Enable):
                conn.enable(event.capabilities)
            elif isinstance(event, c.Command):
                conn.complete(event, "OK" if ok else "NO")
            if conn.state.name == "LOGOUT":
                return
            if hasattr(event, "kind"):  # StreamChange
                conn.stream_changed()


def check_bounds(conn: Connection) -> None:
    assert len(conn._buffer) - conn._pos <= LIMITS.max_buffered_bytes
    assert len(conn._buffer) <= 2 * LIMITS.max_buffered_bytes + 65_536
    assert conn._size <= LIMITS.max_command_size + LIMITS.max_line_length + 2
    assert sum(map(len, conn._literal_chunks)) <= LIMITS.max_literal_size
    assert conn._stream_left <= LIMITS.max_literal_size and len(conn._events) < 100


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    out, start = [], 0
    for point in points:
        out.append(data[start:point])
        start = point
    out.append(data[start:])
    return [piece for piece in out if piece]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.binary(max_size=3000),
    st.lists(st.integers(0, 10_000), max_size=8),
    st.lists(st.booleans(), max_size=5),
)
def test_random_bytes(data: bytes, cuts: list[int], decisions: list[bool]) -> None:
    drive(Connection(LIMITS), split(data, cuts), decisions)
    drive(Connection(STREAMING), split(data, cuts), decisions)


TOKENS = [
    b"{",
    b"}",
    b"{5}",
    b"{99999+}",
    b"~{3}",
    b"\r\n",
    b"\n",
    b"(",
    b")",
    b'"',
    b"\\",
    b" ",
    b"\x00",
    b"*",
    b"$",
    b"[",
    b"]",
    b"<",
    b">",
    b"NIL",
    b"\xff",
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    script = bytearray(b"".join(draw(st.lists(st.sampled_from(VALID), min_size=1, max_size=6))))
    for _ in range(draw(st.integers(0, 6))):
        if not script:
            break
        pos = draw(st.integers(0, len(script) - 1))
        kind = draw(st.integers(0, 3))
        if kind == 0:
            script[pos] = draw(st.integers(0, 255))
        elif kind == 1:
            del script[pos : pos + draw(st.integers(1, 10))]
        elif kind == 2:
            script[pos:pos] = draw(st.sampled_from(TOKENS))
        else:
            script[pos:pos] = script[pos : pos + draw(st.integers(1, 400))] * draw(
                st.integers(1, 8)
            )
    return bytes(script)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(), st.lists(st.integers(0, 10_000), max_size=6), st.lists(st.booleans(), max_size=5))
def test_mutated_commands(data: bytes, cuts: list[int], decisions: list[bool]) -> None:
    drive(Connection(LIMITS), split(data, cuts), decisions)
    drive(Connection(STREAMING), split(data, cuts), decisions)


def test_flood_of_literal_announcements_stays_bounded() -> None:
    conn = Connection(LIMITS)
    (login,) = [e for e in _all(conn, b"a LOGIN u p\r\n")]
    conn.complete(login)
    for _ in range(200):
        drive(
            conn,
            [b"x APPEND INBOX {1999+}\r\n" + b"y" * 1999 + b" {1999+}\r\n" + b"z" * 1999 + b"\r\n"],
            [],
        )


def _all(conn: Connection, data: bytes) -> list:
    conn.receive_data(data)
    out = []
    while (event := conn.next_event()) is not NEED_DATA:
        out.append(event)
    return out


def test_parser_caches_stay_small_whatever_clients_send() -> None:
    from mailstead.proto.imap import parser, sequence

    conn = Connection(Limits(max_line_length=65_536))
    for line in (b"l LOGIN u p\r\n", b"s SELECT INBOX\r\n"):
        conn.receive_data(line)
        conn.complete(conn.next_event())
    for i in range(600):
        fields = b" ".join(b"X-%d-%d" % (i, j) for j in range(400))
        conn.receive_data(b"f FETCH %d:%d (BODY[HEADER.FIELDS (%s)])\r\n" % (i + 1, i + 2, fields))
        conn.receive_data(b"g FETCH 1 (BODY.PEEK[%d]<0.%d>)\r\n" % (i + 1, i + 1))
        conn.receive_data(b"h SEARCH SUBJECT s%d\r\n" % i)
        for _ in range(3):
            assert isinstance(conn.next_event(), c.Command)
    for cache in (parser._FETCH_CACHE, parser._SEARCH_CACHE):
        assert len(cache) <= 256
        assert all(len(key[0]) <= 2048 for key in cache)
    assert len(parser._ATTRIBUTE_CACHE) <= 513 and len(sequence._PARSED) <= 1024


@given(st.binary(max_size=200).filter(lambda b: b"\x00" not in b and b'"' not in b))
def test_fast_tokenizer_agrees_with_the_regular_expression(segment: bytes) -> None:
    from mailstead.proto.imap import lexer

    assert lexer.tokenize(segment) == lexer._TOKEN_RE.findall(segment)
    words = b" ".join([b"A", b"(B", b"C)", b"[x]", b"{3}", b"\t", b"\xff"])
    assert lexer.tokenize(segment + words) == lexer._TOKEN_RE.findall(segment + words)


def _regex_tokens(segment: bytes) -> list[bytes] | None:
    from mailstead.proto.imap import lexer

    tokens = lexer._TOKEN_RE.findall(segment)
    return None if b'"' in tokens else tokens


@given(
    st.lists(
        st.sampled_from([b'"', b"\\", b"(", b")", b" ", b"a", b"BODY[", b"]", b"{1}", b"\t"]),
        max_size=30,
    )
)
def test_quoted_fast_path_agrees_with_the_regular_expression(pieces: list[bytes]) -> None:
    from mailstead.proto.imap import lexer

    segment = b"".join(pieces)
    try:
        fast: list[bytes] | None = lexer.tokenize(segment)
    except lexer.LexError:
        fast = None
    assert fast == _regex_tokens(segment)
