"""Shared helpers for the IMAP core tests."""

from __future__ import annotations

from mailstead.proto.imap import NEED_DATA, Connection, Limits, State
from mailstead.proto.imap import commands as c
from mailstead.proto.imap.connection import ContinuationRequest
from mailstead.proto.imap.parser import ParseContext, parse_command


def events(conn: Connection, data: bytes = b"", *, complete: bool = True) -> list:
    """Feed ``data``, drain events; complete each command with OK if ``complete``."""
    if data:
        conn.receive_data(data)
    out = []
    while (event := conn.next_event()) is not NEED_DATA:
        out.append(event)
        if (
            complete
            and isinstance(event, c.Command)
            and not isinstance(event, c.Idle | c.Authenticate | c.Logout | c.StartTLS | c.Compress)
        ):
            conn.complete(event)
        if len(out) > 10_000:
            raise AssertionError("runaway event loop")
    return out


def commands_only(evs: list) -> list:
    return [e for e in evs if not isinstance(e, ContinuationRequest)]


def in_state(
    state: State, *, enabled: tuple[str, ...] = (), limits: Limits | None = None
) -> Connection:
    conn = Connection(limits)
    if state in (State.AUTHENTICATED, State.SELECTED):
        (login,) = events(conn, b"l LOGIN u p\r\n", complete=False)
        conn.complete(login)
    if enabled:
        conn.enable(list(enabled))
    if state is State.SELECTED:
        (select,) = events(conn, b"s SELECT INBOX\r\n", complete=False)
        conn.complete(select)
    assert conn.state is state
    return conn


def parse_one(line: bytes, *, state: State = State.SELECTED, enabled: tuple[str, ...] = ()):
    """Parse one command as a connection in ``state`` would; return the single result."""
    conn = in_state(state, enabled=enabled)
    evs = commands_only(events(conn, line, complete=False))
    assert len(evs) == 1, evs
    return evs[0]


def parse_tokens_direct(tokens: list, utf8: bool = False) -> c.Command:
    return parse_command(tokens, ParseContext(utf8=utf8))
