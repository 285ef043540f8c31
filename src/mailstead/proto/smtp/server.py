"""The server side of SMTP as a state machine that knows nothing of sockets (h11 style).

    conn = ServerConnection(options)
    conn.greet()                       # 220
    conn.receive(bytes_from_network)
    while (event := conn.next_event()) is not None:
        ...                            # Mail, Rcpt, MessageReceived, Auth, AuthResponse,
        conn.respond(reply)            # StartTLSRequested: the policy decides and answers
    transport.write(conn.data_to_send())
    if conn.closed: transport.close()

The core answers everything that needs no policy itself (EHLO, RSET, NOOP, HELP, VRFY,
QUIT, syntax errors, bad sequences, limits) and hands the rest to the caller as events. While
an event waits for its answer, `next_event()` returns None and input is only buffered, so
pipelined commands are processed strictly in order (RFC 2920) whatever the policy awaits.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from mailstead.proto.smtp.commands import (
    Auth,
    Bdat,
    CommandError,
    Data,
    Ehlo,
    Expn,
    Helo,
    Help,
    Mail,
    Noop,
    Quit,
    Rcpt,
    Rset,
    StartTLS,
    Vrfy,
    parse_command,
)
from mailstead.proto.smtp.data import DotReader, has_bare_newline
from mailstead.proto.smtp.paths import Address
from mailstead.proto.smtp.replies import Reply, write_reply


class State(enum.Enum):
    COMMAND = "command"
    DATA = "data"  # reading DATA content
    BDAT = "bdat"  # reading a BDAT chunk
    AUTH = "auth"  # reading a SASL response line
    TLS_PENDING = "tls-pending"  # 220 sent to STARTTLS; waiting for the handshake
    CLOSED = "closed"


@dataclass
class ServerOptions:
    hostname: str
    max_message_size: int = 52_428_800
    max_line_length: int = 4096
    max_recipients: int = 1000
    max_errors: int = 20
    starttls: bool = False  # a certificate is available
    tls_active: bool = False  # implicit TLS (submissions) or after STARTTLS
    auth_mechanisms: tuple[str, ...] = ()  # offered once auth is allowed ("PLAIN", "LOGIN")
    auth_plaintext_ok: bool = False  # AUTH allowed before TLS (trusted client address)
    auth_required: bool = False  # submission: MAIL only after AUTH
    dsn: bool = False  # accept RET/ENVID/NOTIFY/ORCPT and advertise DSN
    binarymime: bool = False  # accept BODY=BINARYMIME and advertise it
    greeting: str = "ESMTP Mailstead"


@dataclass
class Envelope:
    """The transaction being built: MAIL, then every accepted RCPT."""

    mail: Mail
    recipients: list[Rcpt] = field(default_factory=list)
    # Whatever the policy attached to each accepted RCPT (resolved accounts, ...).
    recipient_data: list[Any] = field(default_factory=list)
    # For the policy: queue id, timers, ...
    extra: dict[str, Any] = field(default_factory=dict)
    via_bdat: bool = False

    @property
    def sender(self) -> Address:
        return self.mail.sender

    @property
    def smtputf8(self) -> bool:
        return self.mail.params.smtputf8


# -- events -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MessageReceived:
    envelope: Envelope
    message: bytes  # un-stuffed content, exactly as the client meant it
    via: str  # "DATA" or "BDAT"


@dataclass(frozen=True, slots=True)
class AuthResponse:
    line: str  # one SASL response line (base64), as sent


@dataclass(frozen=True, slots=True)
class StartTLSRequested:
    discarded: int  # plaintext bytes pipelined after STARTTLS that were thrown away


Event = Mail | Rcpt | Auth | AuthResponse | MessageReceived | StartTLSRequested

_OK = Reply(250, "Ok", "2.0.0")


class ServerConnection:
    """One SMTP session, server role."""

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.state = State.COMMAND
        self.helo_name: str | None = None
        self.esmtp = False
        self.tls_active = options.tls_active
        self.authenticated: str | None = None  # the authenticated user, set by the caller
        self.envelope: Envelope | None = None
        self.errors = 0
        self.messages = 0
        # Progress counters for the caller's total-time limits (the core has no clock):
        # command/AUTH lines taken, message transfers (DATA, or a BDAT series) begun.
        self.lines_read = 0
        self.transfers_started = 0
        self._buf = bytearray()
        self._out: list[bytes] = []
        self._pending: Event | None = None
        self._discard_line = False
        self._reader: DotReader | None = None
        self._bdat_remaining = 0
        self._bdat_last = False
        self._bdat_refusal: Reply | None = None  # chunk read only to be discarded
        # (the envelope it was made for, the reply): see refuse_message()
        self._message_refusal: tuple[Envelope, Reply] | None = None
        self._bdat_body = bytearray()
        self._bdat_size = 0

    # -- I/O ------------------------------------------------------------------------------
    def receive(self, data: bytes) -> None:
        if self.state is State.CLOSED:
            return
        if self.state is State.TLS_PENDING:
            # Anything arriving before the handshake is plaintext that must not cross the
            # upgrade (CVE-2011-0411): drop it.
            return
        self._buf += data

    def data_to_send(self) -> bytes:
        if not self._out:
            return b""
        out = b"".join(self._out)
        self._out.clear()
        return out

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    @property
    def buffered(self) -> int:
        return len(self._buf)

    @property
    def waiting(self) -> bool:
        """An event is waiting for the caller's answer."""
        return self._pending is not None

    @property
    def in_message(self) -> bool:
        """Between DATA/first BDAT and the final reply: shutdown lets these finish."""
        return (
            self.state in (State.DATA, State.BDAT)
            or isinstance(self._pending, MessageReceived)
            or (self.envelope is not None and self.envelope.via_bdat)
        )

    @property
    def in_partial_line(self) -> bool:
        """Part of a command (or AUTH) line has arrived, not its end: a client dripping
        one line slowly is visible here (with `lines_read` unchanged)."""
        return (
            self.state in (State.COMMAND, State.AUTH)
            and self._pending is None
            and (bool(self._buf) or self._discard_line)
        )

    @property
    def in_transfer(self) -> bool:
        """Reading a message from the client: DATA content, or a BDAT series up to its
        LAST chunk (the commands between chunks included), not waiting for our answer."""
        return not isinstance(self._pending, MessageReceived) and (
            self.state in (State.DATA, State.BDAT)
            or (self.envelope is not None and self.envelope.via_bdat)
        )

    @property
    def idle(self) -> bool:
        return self.state is State.COMMAND and self._pending is None and not self.in_message

    def reply(self, reply: Reply) -> None:
        self._out.append(write_reply(reply.code, reply.lines, reply.enhanced))
        if reply.code >= 400:
            self._count_error()

    def _send(self, code: int, text: str, enhanced: str | None = None) -> None:
        self._out.append(write_reply(code, text, enhanced))
        if code >= 400:
            self._count_error()

    def _count_error(self) -> None:
        self.errors += 1
        if self.errors >= self.options.max_errors and self.state is not State.CLOSED:
            self.close(Reply(421, f"{self.options.hostname} Error: too many errors", "4.7.0"))

    def greet(self, reply: Reply | None = None) -> None:
        self.reply(reply or Reply(220, f"{self.options.hostname} {self.options.greeting}"))

    def close(self, reply: Reply | None = None) -> None:
        """Say goodbye (421 on timeout, shutdown, limits) and stop reading."""
        if self.state is State.CLOSED:
            return
        self.state = State.CLOSED
        self._pending = None
        self._buf.clear()
        if reply is not None:
            self._out.append(write_reply(reply.code, reply.lines, reply.enhanced))

    # -- answering events -----------------------------------------------------------------
    def respond(self, reply: Reply, data: Any = None) -> None:
        """Answer the pending event. `data` is kept with an accepted recipient."""
        if self.state is State.CLOSED:
            return  # closed meanwhile (timeout, shutdown): nothing left to answer
        event = self._pending
        if event is None:
            raise RuntimeError("no event is waiting for an answer")
        self._pending = None
        positive = 200 <= reply.code < 300
        if isinstance(event, Mail):
            if positive:
                self.envelope = Envelope(event)
        elif isinstance(event, Rcpt):
            if positive and self.envelope is not None:
                self.envelope.recipients.append(event)
                self.envelope.recipient_data.append(data)
        elif isinstance(event, MessageReceived):
            if positive:
                self.messages += 1
            self.envelope = None
        elif isinstance(event, (Auth, AuthResponse)):
            self.state = State.COMMAND
        self.reply(reply)

    def auth_challenge(self, challenge: str) -> None:
        """Answer the pending Auth/AuthResponse with `334 challenge` and read one more line."""
        if not isinstance(self._pending, (Auth, AuthResponse)):
            raise RuntimeError("no AUTH exchange is waiting")
        self._pending = None
        self.state = State.AUTH
        self._out.append(b"334 " + challenge.encode("ascii") + b"\r\n")

    def tls_started(self) -> None:
        """The handshake after STARTTLS succeeded: forget everything said before it
        (RFC 3207 §4.2)."""
        self._pending = None
        self.state = State.COMMAND
        self.tls_active = True
        self.helo_name = None
        self.esmtp = False
        self.authenticated = None
        self.envelope = None
        self._buf.clear()

    # -- events ---------------------------------------------------------------------------
    def next_event(self) -> Event | None:
        """The next event that needs the caller, or None (need more input, or waiting)."""
        while self._pending is None:
            state = self.state
            if state is State.COMMAND:
                line = self._next_line()
                if line is None:
                    return None
                event = self._command(line)
            elif state is State.DATA:
                event = self._read_data()
                if event is None and self.state is State.DATA:
                    return None
            elif state is State.BDAT:
                event = self._read_chunk()
                if event is None and self.state is State.BDAT:
                    return None
            elif state is State.AUTH:
                line = self._next_line()
                if line is None:
                    return None
                # An overlong response ends the exchange (the state is then COMMAND).
                event = self._auth_line(line) if self.state is State.AUTH else self._command(line)
            else:
                return None
            if event is not None:
                self._pending = event
                return event
        return None

    def _next_line(self) -> bytes | None:
        buf = self._buf
        limit = self.options.max_line_length
        while True:
            end = buf.find(b"\n")
            if end < 0:
                if len(buf) > limit:
                    buf.clear()
                    if not self._discard_line:
                        self._discard_line = True
                        self._line_too_long()
                return None
            if self._discard_line:
                del buf[: end + 1]
                self._discard_line = False
                self.lines_read += 1
                continue
            if end > limit:
                del buf[: end + 1]
                self.lines_read += 1
                self._line_too_long()
                if self.state is State.CLOSED:
                    return None
                continue
            line = bytes(buf[:end])
            del buf[: end + 1]
            self.lines_read += 1
            # Commands ending in a bare LF are tolerated (many old clients); the strict
            # CR/LF rules that matter for smuggling apply to message content (data.py).
            if line.endswith(b"\r"):
                line = line[:-1]
            return line

    def _line_too_long(self) -> None:
        if self.state is State.AUTH:
            self.state = State.COMMAND  # an overlong SASL response ends the exchange
        self._send(500, "Error: line too long", "5.5.2")

    # -- commands -------------------------------------------------------------------------
    def _command(self, line: bytes) -> Event | None:
        try:
            command = parse_command(
                line, rcpt_utf8=self.envelope is not None and self.envelope.smtputf8
            )
        except CommandError as exc:
            if line[:4].upper() == b"BDAT":
                # Without a valid size the chunk cannot be skipped, and reading it as
                # commands would execute whatever the client put in its message.
                self.reply(exc.reply)
                self.close(Reply(421, f"{self.options.hostname} Error: cannot resync after bad BDAT", "4.5.0"))
                return None
            self.reply(exc.reply)
            return None
        handler = _HANDLERS.get(type(command))
        assert handler is not None
        return handler(self, command)

    def _bad_sequence(self, text: str) -> None:
        self._send(503, text, "5.5.1")

    def _ehlo(self, command: Ehlo) -> None:
        self.helo_name = command.name
        self.esmtp = True
        self.envelope = None
        o = self.options
        lines = [f"{o.hostname} Hello {command.name}", "PIPELINING", f"SIZE {o.max_message_size}"]
        lines += ["8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING"]
        if o.binarymime:
            lines.append("BINARYMIME")
        if o.dsn:
            lines.append("DSN")
        if o.starttls and not self.tls_active:
            lines.append("STARTTLS")
        if self._auth_offered():
            lines.append("AUTH " + " ".join(o.auth_mechanisms))
        self._out.append(write_reply(250, lines))

    def _auth_offered(self) -> bool:
        o = self.options
        return bool(o.auth_mechanisms) and self.authenticated is None and (
            self.tls_active or o.auth_plaintext_ok
        )

    def _helo(self, command: Helo) -> None:
        self.helo_name = command.name
        self.esmtp = False
        self.envelope = None
        self._out.append(write_reply(250, self.options.hostname))

    def _mail(self, command: Mail) -> Event | None:
        o = self.options
        if self.helo_name is None:
            return self._bad_sequence("Error: send HELO/EHLO first")
        if self.envelope is not None:
            return self._bad_sequence("Error: nested MAIL command")
        if o.auth_required and self.authenticated is None:
            return self._send(530, "Authentication required", "5.7.0")
        params = command.params
        if params.unknown:
            return self._send(555, f"Unsupported parameter {params.unknown[0]}", "5.5.4")
        if not self.esmtp and (params.size is not None or params.body or params.smtputf8):
            return self._send(555, "ESMTP parameters need EHLO", "5.5.4")
        if params.uses_dsn and not o.dsn:
            return self._send(555, "DSN parameters are not supported", "5.5.4")
        if params.body == "BINARYMIME" and not o.binarymime:
            return self._send(555, "BODY=BINARYMIME is not supported", "5.5.4")
        if params.size is not None and params.size > o.max_message_size:
            return self._send(552, "Message size exceeds fixed maximum message size", "5.3.4")
        return command

    def _rcpt(self, command: Rcpt) -> Event | None:
        envelope = self.envelope
        if envelope is None:
            return self._bad_sequence("Error: need MAIL command")
        if envelope.via_bdat:
            return self._bad_sequence("Error: RCPT after BDAT")
        if command.params.unknown:
            return self._send(555, f"Unsupported parameter {command.params.unknown[0]}", "5.5.4")
        if command.params.uses_dsn and not self.options.dsn:
            return self._send(555, "DSN parameters are not supported", "5.5.4")
        if len(envelope.recipients) >= self.options.max_recipients:
            # Not counted as an error: RFC 5321 §4.5.3.1.10 clients send the rest in a
            # second transaction, and must not be disconnected for a long pipelined list.
            self._out.append(write_reply(452, "Error: too many recipients", "4.5.3"))
            return None
        return command

    def _data(self, command: Data) -> None:
        envelope = self.envelope
        if envelope is None:
            return self._bad_sequence("Error: need MAIL command")
        if envelope.via_bdat:
            return self._bad_sequence("Error: DATA after BDAT")
        if not envelope.recipients:
            return self._send(554, "Error: no valid recipients", "5.5.1")
        if envelope.mail.params.body == "BINARYMIME":
            return self._bad_sequence("Error: BODY=BINARYMIME needs BDAT")
        self._reader = DotReader(self.options.max_message_size)
        self.state = State.DATA
        self.transfers_started += 1
        self._out.append(b"354 End data with <CR><LF>.<CR><LF>\r\n")

    def _read_data(self) -> Event | None:
        reader = self._reader
        assert reader is not None
        buf = self._buf
        if not buf:
            return None
        used = reader.feed(buf)
        if reader.bare_newline:
            self._reader = None
            self.envelope = None
            self._out.append(write_reply(550, "Error: bare CR or LF in message content, "
                                         "lines must end with CRLF (RFC 5321 §2.3.8)", "5.6.11"))
            self.close()
            return None
        if used is None:
            buf.clear()
            return None
        del buf[:used]
        self.state = State.COMMAND
        self._reader = None
        envelope = self.envelope
        assert envelope is not None
        if reader.oversize:
            self.envelope = None
            self._send(552, "Message size exceeds fixed maximum message size", "5.3.4")
            return None
        refusal = self._refusal_for(envelope)
        if refusal is not None:
            self.envelope = None
            self.reply(refusal)
            return None
        return MessageReceived(envelope, bytes(reader.body), "DATA")

    @property
    def message_bytes(self) -> int:
        """Bytes of message content this connection holds right now (DATA read so far, or
        the BDAT chunks of the transaction), for a budget across connections."""
        if self._reader is not None:
            return len(self._reader.body)
        return len(self._bdat_body)

    def refuse_message(self, reply: Reply) -> None:
        """Drop the content of the message being received and answer `reply` at its end
        instead (at the end of the current chunk for BDAT, whose transaction then ends):
        the I/O layer's budget of memory across connections ran out. No-op between
        messages."""
        envelope = self.envelope
        if envelope is None:
            return
        if self._reader is not None:
            self._reader.discard()
            self._message_refusal = (envelope, reply)
        elif envelope.via_bdat:
            self._bdat_body = bytearray()
            self._message_refusal = (envelope, reply)

    def _refusal_for(self, envelope: Envelope) -> Reply | None:
        """The refusal of this message, if refuse_message() was called during it (one of an
        earlier transaction is dropped)."""
        refusal, self._message_refusal = self._message_refusal, None
        return refusal[1] if refusal is not None and refusal[0] is envelope else None

    def _bdat(self, command: Bdat) -> None:
        self.state = State.BDAT
        self._bdat_remaining = command.size
        self._bdat_last = command.last
        envelope = self.envelope
        if envelope is None:
            self._bdat_refusal = Reply(503, "Error: need MAIL command", "5.5.1")
        elif not envelope.recipients:
            self._bdat_refusal = Reply(554, "Error: no valid recipients", "5.5.1")
        else:
            self._bdat_refusal = None
            if not envelope.via_bdat:
                envelope.via_bdat = True
                self.transfers_started += 1
                self._bdat_body = bytearray()
                self._bdat_size = 0

    def _read_chunk(self) -> Event | None:
        buf = self._buf
        n = min(self._bdat_remaining, len(buf))
        if n:
            if self._bdat_refusal is None:
                self._bdat_size += n
                if self._message_refusal is not None and self._message_refusal[0] is self.envelope:
                    pass  # refused: counted only
                elif self._bdat_size <= self.options.max_message_size:
                    self._bdat_body += buf[:n] if n < len(buf) else buf
                elif self._bdat_body:
                    self._bdat_body = bytearray()  # over the limit: free it, keep counting
            del buf[:n]
            self._bdat_remaining -= n
        if self._bdat_remaining:
            return None
        self.state = State.COMMAND
        if self._bdat_refusal is not None:
            self.reply(self._bdat_refusal)
            return None
        envelope = self.envelope
        assert envelope is not None
        refusal = self._refusal_for(envelope)
        if refusal is not None:
            self._end_bdat()
            self.reply(refusal)
            return None
        if self._bdat_size > self.options.max_message_size:
            self._end_bdat()
            self._send(552, "Message size exceeds fixed maximum message size", "5.3.4")
            return None
        if not self._bdat_last:
            self._out.append(write_reply(250, f"Ok: {self._bdat_size} octets received", "2.0.0"))
            return None
        body = bytes(self._bdat_body)
        self._end_bdat()
        if envelope.mail.params.body != "BINARYMIME" and has_bare_newline(body):
            self._send(550, "Error: bare CR or LF in message content, "
                       "lines must end with CRLF (RFC 5321 §2.3.8)", "5.6.11")
            return None
        self.envelope = envelope  # kept until the caller answers
        return MessageReceived(envelope, body, "BDAT")

    def _end_bdat(self) -> None:
        self.envelope = None
        self._bdat_body = bytearray()
        self._bdat_size = 0

    def _rset(self, command: Rset) -> None:
        self.envelope = None
        self._out.append(write_reply(250, "Ok", "2.0.0"))

    def _noop(self, command: Noop) -> None:
        self._out.append(write_reply(250, "Ok", "2.0.0"))

    def _quit(self, command: Quit) -> None:
        self.close(Reply(221, "Bye", "2.0.0"))

    def _vrfy(self, command: Vrfy) -> None:
        # RFC 5321 §3.5.3: 252 instead of confirming or denying, so that VRFY cannot be used
        # to harvest addresses.
        self._out.append(write_reply(
            252, "Cannot VRFY user, but will accept message and attempt delivery", "2.0.0"))

    def _expn(self, command: Expn) -> None:
        self._send(502, "Error: EXPN not available", "5.5.1")

    def _help(self, command: Help) -> None:
        self._out.append(write_reply(214, "See RFC 5321 (https://www.rfc-editor.org/rfc/rfc5321)", "2.0.0"))

    def _starttls(self, command: StartTLS) -> Event | None:
        if not self.options.starttls:
            return self._send(502, "Error: STARTTLS not available", "5.5.1")
        if self.tls_active:
            return self._send(554, "Error: TLS already active", "5.5.1")
        discarded = len(self._buf)
        self._buf.clear()
        self.state = State.TLS_PENDING
        self._out.append(write_reply(220, "Ready to start TLS", "2.0.0"))
        return StartTLSRequested(discarded)

    def _auth(self, command: Auth) -> Event | None:
        o = self.options
        if not o.auth_mechanisms:
            return self._send(502, "Error: AUTH not available", "5.5.1")
        if self.helo_name is None or not self.esmtp:
            return self._bad_sequence("Error: send EHLO first")
        if self.authenticated is not None:
            return self._bad_sequence("Error: already authenticated")
        if self.envelope is not None:
            return self._bad_sequence("Error: MAIL transaction in progress")
        if not (self.tls_active or o.auth_plaintext_ok):
            return self._send(538, "Encryption required for requested authentication mechanism",
                              "5.7.11")
        if command.mechanism not in o.auth_mechanisms:
            return self._send(504, "Unsupported authentication mechanism", "5.5.4")
        self.state = State.AUTH
        return command

    def _auth_line(self, line: bytes) -> Event | None:
        text = line.decode("ascii", "replace").strip()
        if text == "*":
            self.state = State.COMMAND
            self._send(501, "Authentication cancelled", "5.7.0")
            return None
        return AuthResponse(text)


_HANDLERS: dict[type, Any] = {
    Ehlo: ServerConnection._ehlo,
    Helo: ServerConnection._helo,
    Mail: ServerConnection._mail,
    Rcpt: ServerConnection._rcpt,
    Data: ServerConnection._data,
    Bdat: ServerConnection._bdat,
    Rset: ServerConnection._rset,
    Noop: ServerConnection._noop,
    Quit: ServerConnection._quit,
    Vrfy: ServerConnection._vrfy,
    Expn: ServerConnection._expn,
    Help: ServerConnection._help,
    StartTLS: ServerConnection._starttls,
    Auth: ServerConnection._auth,
}
