"""Streamed APPEND (``Limits.stream_append_over``): message data handed out as it arrives."""

from __future__ import annotations

from imap_helpers import in_state

from mailstead.proto.imap import NEED_DATA, CommandError, Limits, State
from mailstead.proto.imap import commands as c
from mailstead.proto.imap.connection import AppendData, AppendDone, AppendStart

LIMITS = Limits(stream_append_over=100, max_buffered_bytes=4096, max_literal_size=1_000_000)


def drain(conn, data: bytes = b"") -> list:
    if data:
        conn.receive_data(data)
    out = []
    while (event := conn.next_event()) is not NEED_DATA:
        out.append(event)
    return out


def joined(events: list) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, AppendData))


def test_synchronising_streamed_append() -> None:
    conn = in_state(State.AUTHENTICATED, limits=LIMITS)
    message = b"Subject: big\r\n\r\n" + b"x" * 5000
    (start,) = drain(
        conn, b'a1 APPEND Sent (\\Seen) "01-Jan-2024 10:00:00 +0100" {%d}\r\n' % len(message)
    )
    assert isinstance(start, AppendStart)
    assert start.command == c.Append("a1", "Sent", ())
    assert start.flags == ("\\Seen",) and start.size == len(message) and start.synchronising
    assert start.internal_date.year == 2024
    assert drain(conn) == []  # nothing until the server says yes
    assert conn.accept_append() == b"+ Ready for literal data\r\n"
    events = []
    for i in range(0, len(message), 1000):
        events += drain(conn, message[i : i + 1000])
        assert conn.buffered_bytes < 4096
    events += drain(conn, b"\r\nb NOOP\r\n")
    assert joined(events) == message
    assert isinstance(events[-2], AppendDone) and events[-2].command.tag == "a1"
    assert events[-1] == c.Noop("b")
    assert conn.complete(events[-2].command) == b"a1 OK APPEND completed\r\n"


def test_nonsync_stream_fed_byte_by_byte() -> None:
    conn = in_state(State.AUTHENTICATED, limits=LIMITS)
    message = bytes(range(1, 256)) * 3
    script = b"a APPEND INBOX {%d+}\r\n" % len(message) + message + b"\r\n"
    events = []
    for i in range(len(script)):
        events += drain(conn, script[i : i + 1])
    assert isinstance(events[0], AppendStart) and not events[0].synchronising
    assert joined(events) == message
    assert isinstance(events[-1], AppendDone)


def test_small_appends_stay_buffered() -> None:
    conn = in_state(State.AUTHENTICATED, limits=LIMITS)
    (append,) = drain(conn, b"a APPEND INBOX {5+}\r\nhello\r\n")
    assert append == c.Append("a", "INBOX", (c.AppendMessage(b"hello"),))


def test_multiappend_small_then_big_then_small() -> None:
    conn = in_state(State.AUTHENTICATED, limits=LIMITS)
    big = b"B" * 300
    events = drain(
        conn,
        b"a APPEND INBOX (\\Draft) {5+}\r\nfirst ~{300+}\r\n" + big + b" (\\Seen) {3+}\r\nend\r\n",
    )
    starts = [e for e in events if isinstance(e, AppendStart)]
    assert [(s.flags, s.size, s.binary) for s in starts] == [
        (("\\Draft",), 5, False),
        ((), 300, True),
        (("\\Seen",), 3, False),
    ]
    assert joined(events) == b"first" + big + b"end"
    assert isinstance(events[-1], AppendDone)


def test_reject_before_data_for_a_synchronising_literal() -> None:
    conn = in_state(State.AUTHENTICATED, limits=LIMITS)
    (start,) = drain(conn, b"a APPEND Nope {500}\r\n")
    assert isinstance(start, AppendStart) and start.synchronising
    assert (
        conn.reject_append("NO", "No such mailbox", "TRYCREATE")
        == b"a NO [TRYCREATE] No such mailbox\r\n"
    )
    assert drain(conn, b"b NOOP\r\n") == [c.Noop("b")]


def test_reject_in_the_middle_skips_the_rest_unseen() -> None:
    conn = in_state(State.AUTHENTICATED, limits=LIMITS)
    events = drain(conn, b"a APPEND INBOX {2000+}\r\n" + b"y" * 700)
    assert isinstance(events[0], AppendStart) and joined(events) == b"y" * 700
    assert conn.reject_append("NO", "Over quota", "OVERQUOTA").startswith(b"a NO [OVERQUOTA]")
    assert drain(conn, b"y" * 1300 + b" {4+}\r\nmore\r\nb NOOP\r\n") == [c.Noop("b")]


def test_garbage_after_streamed_literal_is_an_error_for_the_tag() -> None:
    conn = in_state(State.AUTHENTICATED, limits=LIMITS)
    events = drain(conn, b"a APPEND INBOX {200+}\r\n" + b"z" * 200 + b" junk\r\nb NOOP\r\n")
    assert isinstance(events[-2], CommandError) and events[-2].tag == "a"
    assert events[-1] == c.Noop("b")


def test_nul_in_streamed_non_binary_literal() -> None:
    conn = in_state(State.AUTHENTICATED, limits=LIMITS)
    events = drain(conn, b"a APPEND INBOX {200+}\r\n" + b"\x00" * 200 + b"\r\nb NOOP\r\n")
    assert not any(isinstance(e, AppendData) for e in events)
    assert isinstance(events[-2], CommandError) and "NUL" in events[-2].text


def test_stream_literal_size_still_bounded() -> None:
    conn = in_state(
        State.AUTHENTICATED, limits=Limits(stream_append_over=10, max_literal_size=1000)
    )
    (err,) = drain(conn, b"a APPEND INBOX {1001}\r\n")
    assert err.data.startswith(b"a NO [TOOBIG]")


def test_not_streamed_before_login() -> None:
    conn = in_state(State.NOT_AUTHENTICATED, limits=LIMITS)
    (err,) = drain(conn, b"a APPEND INBOX {200}\r\n")
    assert isinstance(err, CommandError)
