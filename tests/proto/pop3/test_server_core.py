"""The sans-IO POP3 server core: parsing, states, limits. No sockets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailstead.proto.pop3 import NEED_DATA, BadCommand, ConnectionClosed, ServerConnection, State
from mailstead.proto.pop3 import commands as c


def events(conn: ServerConnection, data: bytes = b"") -> list[object]:
    if data:
        conn.receive_data(data)
    out = []
    while (event := conn.next_event()) is not NEED_DATA:
        out.append(event)
        if isinstance(event, ConnectionClosed):
            break
    return out


def logged_in() -> ServerConnection:
    conn = ServerConnection()
    assert events(conn, b"USER a\r\nPASS b\r\n") == [c.User("a"), c.Pass("a", "b")]
    conn.authenticated()
    assert conn.state is State.TRANSACTION
    return conn


def test_authorization_commands() -> None:
    conn = ServerConnection()
    assert events(conn, b"CAPA\r\nuser alice@example.test\r\npass  two words \r\n") == [
        c.Capa(),
        c.User("alice@example.test"),
        c.Pass("alice@example.test", " two words "),
    ]
    assert conn.state is State.AUTHORIZATION


def test_pass_needs_user_right_before() -> None:
    conn = ServerConnection()
    [bad] = events(conn, b"PASS x\r\n")
    assert isinstance(bad, BadCommand) and bad.response == b"-ERR Give USER first\r\n"
    assert events(conn, b"USER a\r\nCAPA\r\nPASS x\r\n")[2] == BadCommand(
        b"-ERR Give USER first\r\n", "PASS"
    )
    events(conn, b"USER a\r\n")
    conn.reject_user()
    assert isinstance(events(conn, b"PASS x\r\n")[0], BadCommand)


def test_auth_forms() -> None:
    conn = ServerConnection()
    assert events(conn, b"AUTH\r\nAUTH plain\r\nAUTH PLAIN =\r\nAUTH PLAIN AGEAYg==\r\n") == [
        c.Auth(None),
        c.Auth("PLAIN"),
        c.Auth("PLAIN", b""),
        c.Auth("PLAIN", b"\x00a\x00b"),
    ]
    [bad] = events(conn, b"AUTH PLAIN not*base64\r\n")
    assert bad == BadCommand(b"-ERR Invalid base64 data\r\n", "AUTH")


def test_sasl_continuation_lines() -> None:
    conn = ServerConnection()
    assert events(conn, b"AUTH LOGIN\r\n") == [c.Auth("LOGIN")]
    conn.expect_sasl_response()
    # The continuation line is not parsed as a command, even if it looks like one.
    assert events(conn, b"UVVJVA==\r\n") == [c.SaslResponse(b"QUIT")]
    conn.expect_sasl_response()
    assert events(conn, b"*\r\nQUIT\r\n") == [c.SaslResponse(None), c.Quit(), ConnectionClosed()]
    conn = ServerConnection()
    conn.expect_sasl_response()
    assert events(conn, b"!!\r\n") == [BadCommand(b"-ERR Invalid base64 data\r\n", "AUTH")]


def test_transaction_commands() -> None:
    conn = logged_in()
    assert events(
        conn,
        b"STAT\r\nLIST\r\nLIST 2\r\nUIDL\r\nUIDL 1\r\nRETR 1\r\nTOP 1 10\r\nDELE 3\r\nRSET\r\nNOOP\r\n",
    ) == [
        c.Stat(), c.List(), c.List(2), c.Uidl(), c.Uidl(1), c.Retr(1), c.Top(1, 10), c.Dele(3),
        c.Rset(), c.Noop(),
    ]
    assert events(conn, b"QUIT\r\n") == [c.Quit()]
    assert conn.state is State.UPDATE


def test_quit_in_authorization_does_not_enter_update() -> None:
    conn = ServerConnection()
    assert events(conn, b"QUIT\r\n") == [c.Quit(), ConnectionClosed()]
    assert conn.state is State.CLOSED


@pytest.mark.parametrize(
    ("line", "response"),
    [
        (b"RETR\r\n", b"-ERR RETR: wrong number of arguments\r\n"),
        (b"RETR x\r\n", b"-ERR Invalid message number\r\n"),
        (b"RETR -1\r\n", b"-ERR Invalid message number\r\n"),
        (b"RETR 99999999999\r\n", b"-ERR Invalid message number\r\n"),
        (b"RETR \xd9\xa3\r\n", b"-ERR Invalid message number\r\n"),  # Arabic-Indic digit
        (b"TOP 1\r\n", b"-ERR TOP: wrong number of arguments\r\n"),
        (b"TOP 1 x\r\n", b"-ERR Invalid line count\r\n"),
        (b"STAT now\r\n", b"-ERR STAT: wrong number of arguments\r\n"),
        (b"FROB\r\n", b"-ERR Unknown command\r\n"),
        (b"APOP a b\r\n", b"-ERR Unknown command\r\n"),
        (b"\r\n", b"-ERR Empty command\r\n"),
        (b"   \r\n", b"-ERR Empty command\r\n"),
        (b"\xff\xfe\r\n", b"-ERR Command is not valid UTF-8\r\n"),
        (b"NO\x00OP\r\n", b"-ERR NUL in command\r\n"),
        (b"USER\r\n", b"-ERR USER: wrong number of arguments\r\n"),
        (b"USER a b\r\n", b"-ERR USER: wrong number of arguments\r\n"),
        (b"USER a\r\n", b"-ERR Command not valid in this state\r\n"),
    ],
)
def test_bad_lines(line: bytes, response: bytes) -> None:
    conn = logged_in()
    [event] = events(conn, line)
    assert isinstance(event, BadCommand)
    assert event.response == response
    assert conn.state is State.TRANSACTION


def test_commands_outside_their_state() -> None:
    conn = ServerConnection()
    for line in (b"STAT\r\n", b"RETR 1\r\n", b"NOOP\r\n"):
        assert events(conn, line) == [
            BadCommand(b"-ERR Command not valid in this state\r\n", line[:4].decode())
        ]
    conn = logged_in()
    for line in (b"USER a\r\n", b"AUTH PLAIN\r\n", b"STLS\r\n", b"UTF8\r\n"):
        [event] = events(conn, line)
        assert event.response == b"-ERR Command not valid in this state\r\n"


def test_lf_only_and_split_reads() -> None:
    conn = logged_in()
    conn.receive_data(b"ST")
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"AT\nNO")
    assert conn.next_event() == c.Stat()
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"OP\r")
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"\n")
    assert conn.next_event() == c.Noop()


def test_overlong_line_is_refused_once_and_memory_stays_bounded() -> None:
    conn = ServerConnection(max_line_length=64)
    for _ in range(100):
        conn.receive_data(b"A" * 1000)
        assert conn.next_event() is NEED_DATA
        assert conn.buffered <= 1000
    assert events(conn, b"AAAA\r\nCAPA\r\n") == [BadCommand(b"-ERR Line too long\r\n"), c.Capa()]
    # Exactly at the limit is fine, one over is not.
    conn = ServerConnection(max_line_length=10)
    assert events(conn, b"USER abcd\r\n") == [BadCommand(b"-ERR Line too long\r\n")]
    assert events(conn, b"USER abc\r\n") == [c.User("abc")]


def test_end_of_input() -> None:
    conn = ServerConnection()
    conn.receive_data(b"CAPA\r\nUSER half")
    conn.receive_data(b"")
    assert events(conn) == [c.Capa(), ConnectionClosed()]


def test_stls_discards_pipelined_bytes_and_resets() -> None:
    conn = ServerConnection()
    conn.receive_data(b"UTF8\r\nUSER a\r\nSTLS\r\nUSER injected\r\nPASS x\r\n")
    assert [conn.next_event() for _ in range(3)] == [c.Utf8(), c.User("a"), c.Stls()]
    assert conn.discard_pending_input() == len(b"USER injected\r\nPASS x\r\n")
    conn.tls_started()
    assert conn.next_event() is NEED_DATA
    assert not conn.utf8
    # The USER given before the handshake is forgotten; input after it is kept.
    assert isinstance(events(conn, b"PASS x\r\n")[0], BadCommand)
    conn.receive_data(b"CAPA\r\n")
    conn.tls_started()
    assert conn.next_event() == c.Capa()


_PIECES = st.sampled_from(
    [b"USER a", b"PASS b", b"AUTH PLAIN", b"AUTH PLAIN =", b"STAT", b"LIST 1", b"RETR 1",
     b"TOP 1 2", b"QUIT", b"STLS", b"\r\n", b"\n", b"\r", b"\x00", b".", b" ", b"*", b"\xff"]
)


@settings(max_examples=400)
@given(st.lists(st.one_of(st.binary(max_size=80), _PIECES), max_size=40), st.data())
def test_garbage_never_raises(chunks: list[bytes], data: st.DataObject) -> None:
    conn = ServerConnection(max_line_length=64)
    for chunk in chunks:
        conn.receive_data(chunk)
        while True:
            event = conn.next_event()
            if event is NEED_DATA or isinstance(event, ConnectionClosed):
                break
            if isinstance(event, BadCommand):
                assert event.response.startswith(b"-ERR ") and event.response.endswith(b"\r\n")
                assert event.response.count(b"\n") == 1
            elif isinstance(event, c.Pass | c.User) and data.draw(st.booleans()):
                conn.authenticated()
            elif isinstance(event, c.Auth) and data.draw(st.booleans()):
                conn.expect_sasl_response()
        assert conn.buffered <= 64 + 80 + 2
    conn.receive_data(b"")
    assert isinstance(events(conn)[-1], ConnectionClosed)
