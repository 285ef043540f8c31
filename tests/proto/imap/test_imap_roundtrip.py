"""Write a typed command, parse it back: the same value (the client's writer and our parser)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imap_helpers import events
from imap_strategies import commands

from mailstead.proto.imap import Connection, ContinuationRequest, Limits, State
from mailstead.proto.imap import commands as c
from mailstead.proto.imap.writer import command_bytes, encode_command

LIMITS = Limits(max_preauth_literal_size=65_536)


def _connection_for(command: c.Command, *, utf8: bool) -> Connection:
    conn = Connection(LIMITS)
    allowed = type(command).allowed_in
    if State.NOT_AUTHENTICATED in allowed:
        return conn
    (login,) = events(conn, b"l LOGIN u p\r\n", complete=False)
    conn.complete(login)
    conn.enable(["QRESYNC", *(["UTF8=ACCEPT"] if utf8 else [])])
    if State.AUTHENTICATED not in allowed:
        (select,) = events(conn, b"s SELECT INBOX\r\n", complete=False)
        conn.complete(select)
    return conn


def _parse_back(command: c.Command, data: list[bytes], *, utf8: bool) -> c.Command:
    conn = _connection_for(command, utf8=utf8)
    out = []
    for piece in data:
        out.extend(e for e in events(conn, piece, complete=False))
    parsed = [e for e in out if not isinstance(e, ContinuationRequest)]
    assert len(parsed) == 1, (data, parsed)
    return parsed[0]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands, st.booleans())
def test_write_then_parse_gives_the_same_command(command: c.Command, utf8: bool) -> None:
    data = [command_bytes(command, utf8=utf8)]
    assert _parse_back(command, data, utf8=utf8) == command


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands)
def test_synchronising_literals_round_trip_too(command: c.Command) -> None:
    pieces = encode_command(command, literal_plus=False)
    for piece in pieces[:-1]:
        assert piece.endswith(b"}\r\n") and not piece.endswith(b"+}\r\n")
    assert _parse_back(command, pieces, utf8=False) == command


def test_writer_examples() -> None:
    assert command_bytes(c.Login("a", "joe", 'p"w')) == b'a LOGIN joe "p\\"w"\r\n'
    assert (
        command_bytes(c.Login("a", "joe", "line\r\nbreak"))
        == b"a LOGIN joe {11+}\r\nline\r\nbreak\r\n"
    )
    assert command_bytes(c.Select("a", "台北")) == b"a SELECT &U,BTFw-\r\n"
    assert command_bytes(c.Select("a", "台北"), utf8=True) == '"a SELECT "台北"\r\n'.encode()[1:]
    assert encode_command(
        c.Append("t", "INBOX", (c.AppendMessage(b"hi"),)), literal_plus=False
    ) == [
        b"t APPEND INBOX {2}\r\n",
        b"hi\r\n",
    ]
    assert command_bytes(c.Authenticate("a", "PLAIN", b"")) == b"a AUTHENTICATE PLAIN =\r\n"
