"""The server side of POP3 as a state machine that knows nothing of sockets (h11 style).

    conn = ServerConnection()
    conn.receive_data(bytes_from_the_network)     # b"" at end of input
    while (event := conn.next_event()) is not NEED_DATA:
        ...                                       # a command, a BadCommand or ConnectionClosed

The connection splits lines (bounded), parses commands, checks that each is allowed in
the current state (RFC 1939 §3: AUTHORIZATION → TRANSACTION → UPDATE) and turns anything
else into a `BadCommand` that carries the `-ERR` line to send. Garbage never raises out of
here. What a command *does* (authenticate, read the mailbox) is the caller's business; the
caller reports outcomes back (`authenticated()`, `reject_user()`, `expect_sasl_response()`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from mailstead.proto.pop3 import commands as c
from mailstead.proto.pop3.responses import err


class State(Enum):
    AUTHORIZATION = "authorization"
    TRANSACTION = "transaction"
    UPDATE = "update"
    CLOSED = "closed"


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()


@dataclass(frozen=True, slots=True)
class BadCommand:
    """A line the core refuses; `response` is the complete `-ERR` line to send."""

    response: bytes
    keyword: str = ""


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The client closed its side (end of input)."""


Event = c.Command | c.SaslResponse | BadCommand | ConnectionClosed

# RFC 2449 §4 caps commands at 255 octets; SASL responses (RFC 5034 §4) and long
# passwords need more. 4096 is generous for both and still bounds memory per session.
DEFAULT_MAX_LINE = 4096

_ALLOWED: dict[State, frozenset[type]] = {
    State.AUTHORIZATION: frozenset({c.User, c.Pass, c.Auth, c.Capa, c.Stls, c.Utf8, c.Quit}),
    State.TRANSACTION: frozenset(
        {c.Stat, c.List, c.Uidl, c.Retr, c.Top, c.Dele, c.Rset, c.Noop, c.Capa, c.Quit}
    ),
}


class ServerConnection:
    def __init__(self, max_line_length: int = DEFAULT_MAX_LINE) -> None:
        self.max_line_length = max_line_length
        self.state = State.AUTHORIZATION
        self.utf8 = False  # RFC 6856 UTF8 command given
        self._buffer = bytearray()
        self._eof = False
        self._discarding = False  # inside an overlong line: drop until its LF
        self._scan_from = 0  # where to resume looking for LF in _buffer
        self._pending_user: str | None = None
        self._sasl = False

    # -- input ---------------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        if not data:
            self._eof = True
            return
        if self.state is State.CLOSED:
            return
        self._buffer += data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet parsed (the caller pauses reading when this grows)."""
        return len(self._buffer)

    def discard_pending_input(self) -> int:
        """Drop every byte received and not yet parsed; return how many.

        Called right before a TLS handshake (STLS): anything the client pipelined after
        the command arrived in plaintext and must never be taken as coming over TLS
        (CVE-2011-0411 class)."""
        dropped = len(self._buffer)
        self._buffer.clear()
        self._scan_from = 0
        self._discarding = False
        return dropped

    def _next_line(self) -> bytes | BadCommand | None:
        while True:
            newline = self._buffer.find(b"\n", self._scan_from)
            if newline < 0:
                if len(self._buffer) > self.max_line_length:
                    # Keep nothing of an overlong line: memory stays bounded however long
                    # the garbage runs; report it once, at its end.
                    self._buffer.clear()
                    self._discarding = True
                self._scan_from = len(self._buffer)
                return None
            line = bytes(self._buffer[:newline])
            del self._buffer[: newline + 1]
            self._scan_from = 0
            if self._discarding or len(line) + 1 > self.max_line_length:
                self._discarding = False
                return BadCommand(err("Line too long"))
            return line[:-1] if line.endswith(b"\r") else line

    # -- events --------------------------------------------------------------------------
    def next_event(self) -> Event | _NeedData:
        if self.state is State.CLOSED:
            return ConnectionClosed()
        line = self._next_line()
        if line is None:
            if self._eof:
                self.state = State.CLOSED
                return ConnectionClosed()
            return NEED_DATA
        if isinstance(line, BadCommand):
            if self._sasl:
                self._sasl = False
                return BadCommand(err("Authentication line too long, AUTH cancelled"), "AUTH")
            return line
        if self._sasl:
            self._sasl = False
            try:
                return c.parse_sasl_response(line)
            except c.CommandSyntaxError as exc:
                return BadCommand(err(str(exc)), "AUTH")
        return self._command(line)

    def _command(self, line: bytes) -> Event:
        pending_user, self._pending_user = self._pending_user, None
        if not line.strip():
            return BadCommand(err("Empty command"))
        try:
            keyword, command = c.parse_command(line)
        except c.CommandSyntaxError as exc:
            return BadCommand(err(str(exc)), line.split(b" ", 1)[0][:8].decode("ascii", "replace"))
        if command is None:
            return BadCommand(err("Unknown command"), keyword)
        if type(command) not in _ALLOWED.get(self.state, ()):
            return BadCommand(err("Command not valid in this state"), keyword)
        match command:
            case c.User(name):
                self._pending_user = name
            case c.Pass(_, password):
                # RFC 1939 §7: PASS is valid only right after a successful USER.
                if pending_user is None:
                    return BadCommand(err("Give USER first"), keyword)
                return c.Pass(pending_user, password)
            case c.Quit():
                self.state = State.UPDATE if self.state is State.TRANSACTION else State.CLOSED
            case c.Utf8():
                self.utf8 = True
        return command

    # -- outcomes reported by the caller -------------------------------------------------
    def reject_user(self) -> None:
        """The caller answered USER with -ERR: a following PASS is out of sequence."""
        self._pending_user = None

    def expect_sasl_response(self) -> None:
        """The caller sent a `+ ` challenge: the next line is a SASL response, not a command."""
        self._sasl = True

    def authenticated(self) -> None:
        """Login succeeded and the maildrop is locked: enter the TRANSACTION state."""
        if self.state is State.AUTHORIZATION:
            self.state = State.TRANSACTION

    def tls_started(self) -> None:
        """After the STLS handshake: forget the state built in plaintext (RFC 2595 §4).

        The plaintext input itself must already be gone (`discard_pending_input()` before
        the handshake): what is buffered now arrived over TLS and is kept."""
        self._pending_user = None
        self._sasl = False
        self.utf8 = False
        self.state = State.AUTHORIZATION

    def close(self) -> None:
        self.state = State.CLOSED
        self._buffer.clear()
