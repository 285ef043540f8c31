"""The sans-IO POP3 client core, and a round trip through both cores."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailstead.proto.pop3 import (
    NEED_DATA,
    Challenge,
    ClientConnection,
    MultilineResponse,
    ProtocolError,
    Response,
    dot_stuff,
    multiline,
)


def test_command_writer() -> None:
    client = ClientConnection()
    assert client.send("user", "alice") == b"USER alice\r\n"
    assert client.send("TOP", 1, 0) == b"TOP 1 0\r\n"
    assert client.send_sasl(b"\x00a\x00b") == b"AGEAYg==\r\n"
    assert client.send_sasl(None) == b"*\r\n"
    with pytest.raises(ValueError):
        client.send("USER", "a\r\nDELE 1")


def test_greeting_and_status_codes() -> None:
    client = ClientConnection()
    client.send("PASS", "x")
    client.receive_data(b"+OK POP3 ready\r\n-ERR [IN-USE] Mailbox is locked\r\n")
    assert client.next_event() == Response(True, "POP3 ready")
    assert client.next_event() == Response(False, "Mailbox is locked", "IN-USE")
    assert client.next_event() is NEED_DATA


def test_pipelined_multiline_responses_in_order() -> None:
    client = ClientConnection()
    for command in (("LIST",), ("LIST", 1), ("RETR", 1), ("RETR", 2), ("UIDL",)):
        client.send(*command)
    client.receive_data(
        b"+OK ready\r\n"
        b"+OK 1 messages\r\n1 7\r\n.\r\n"
        b"+OK 1 7\r\n"
        b"+OK 7 octets\r\n..hi\r\n.\r\n"
        b"-ERR no such message\r\n"
    )
    assert client.next_event() == Response(True, "ready")
    listing = client.next_event()
    assert isinstance(listing, MultilineResponse) and listing.lines == [b"1 7"]
    assert client.next_event() == Response(True, "1 7")
    message = client.next_event()
    assert isinstance(message, MultilineResponse) and message.body == b".hi\r\n"
    assert client.next_event() == Response(False, "no such message")
    assert client.next_event() is NEED_DATA
    client.receive_data(b"+OK\r\n")
    client.receive_data(b".\r\n")
    empty = client.next_event()
    assert isinstance(empty, MultilineResponse) and empty.body == b"" and empty.lines == []


def test_multiline_split_anywhere() -> None:
    wire = b"+OK\r\n" + dot_stuff(b"a\r\n.\r\n..b\r\n")
    for cut in range(len(wire)):
        client = ClientConnection()
        client._expected.clear()
        client.send("RETR", 1)
        client.receive_data(wire[:cut])
        event = client.next_event()
        if event is NEED_DATA:
            client.receive_data(wire[cut:])
            event = client.next_event()
        assert isinstance(event, MultilineResponse)
        assert event.body == b"a\r\n.\r\n..b\r\n"


def test_sasl_challenge() -> None:
    client = ClientConnection()
    client._expected.clear()
    client.send("AUTH", "LOGIN")
    client.receive_data(b"+ VXNlcm5hbWU6\r\n")
    assert client.next_event() == Challenge(b"Username:")
    client.send_sasl(b"alice")
    client.receive_data(b"+ \r\n")
    assert client.next_event() == Challenge(b"")
    client.send_sasl(b"pw")
    client.receive_data(b"-ERR [AUTH] Authentication failed\r\n")
    assert client.next_event() == Response(False, "Authentication failed", "AUTH")


def test_protocol_errors() -> None:
    client = ClientConnection(max_line_length=100, max_body_size=1000)
    client.receive_data(b"HELLO\r\n")
    with pytest.raises(ProtocolError):
        client.next_event()
    client = ClientConnection(max_line_length=100, max_body_size=1000)
    client.receive_data(b"+OK\r\n+OK unsolicited\r\n")
    client.next_event()
    with pytest.raises(ProtocolError):
        client.next_event()
    client = ClientConnection(max_line_length=100, max_body_size=1000)
    client.receive_data(b"+OK" + b"x" * 200)
    with pytest.raises(ProtocolError):
        client.next_event()
    client = ClientConnection(max_line_length=100, max_body_size=1000)
    client.send("RETR", 1)
    client.receive_data(b"+OK\r\n+OK\r\n")
    client.next_event()
    client.receive_data(b"x" * 999)
    with pytest.raises(ProtocolError):
        client.receive_data(b"x" * 200)
        client.next_event()


@given(st.lists(st.binary(max_size=200), max_size=6))
def test_server_writer_and_client_reader_round_trip(bodies: list[bytes]) -> None:
    client = ClientConnection()
    wire = [b"+OK hi\r\n"]
    for index, body in enumerate(bodies, 1):
        client.send("RETR", index)
        wire.append(b"+OK message follows\r\n" + dot_stuff(body))
    client.send("UIDL")
    wire.append(multiline(b"+OK\r\n", [f"{i} id{i}" for i in range(1, len(bodies) + 1)]))
    client.receive_data(b"".join(wire))
    assert client.next_event() == Response(True, "hi")
    for body in bodies:
        event = client.next_event()
        assert isinstance(event, MultilineResponse)
        assert event.body == (body if not body or body.endswith(b"\r\n") else body + b"\r\n")
    uidl = client.next_event()
    assert isinstance(uidl, MultilineResponse) and len(uidl.lines) == len(bodies)
    assert client.next_event() is NEED_DATA


@given(st.binary(max_size=500))
def test_client_garbage_raises_only_protocol_error(data: bytes) -> None:
    client = ClientConnection(max_line_length=100, max_body_size=1000)
    client.send("RETR", 1)
    client.send("AUTH", "PLAIN")
    try:
        client.receive_data(data)
        for _ in range(5):
            if client.next_event() is NEED_DATA:
                break
    except ProtocolError:
        pass


def test_start_tls_refuses_injected_plaintext() -> None:
    client = ClientConnection()
    client.receive_data(b"+OK hi\r\n")
    client.next_event()
    client.send("STLS")
    client.receive_data(b"+OK Begin TLS\r\n")
    assert client.next_event() == Response(True, "Begin TLS")
    client.start_tls()  # nothing pending: fine
    client.send("STLS")
    client.receive_data(b"+OK Begin TLS\r\n+OK injected\r\n")
    client.next_event()
    with pytest.raises(ProtocolError, match="injection"):
        client.start_tls()
