"""The server side of one IMAP connection as a state machine, with no I/O (h11-style).

The session loop around it::

    conn = Connection(limits)
    writer.write(response.untagged_status("OK", "ready", code="CAPABILITY ..."))
    while data := await reader.read(65536):
        conn.receive_data(data)
        while (event := conn.next_event()) is not NEED_DATA:
            ...  # a Command: run it, then writer.write(conn.complete(command, "OK"))
        if conn.should_pause_reading: ...  # only for Protocol-style sessions

``next_event`` parses lazily, one command per call, in the state of the moment: call it
again only once the previous command has been completed, so that a command pipelined after
LOGIN or SELECT is checked against the state that command produced.

Events: a ``Command``; ``ContinuationRequest`` (write ``data``, ``+ ...``, then keep feeding);
``CommandError`` (write ``data``, a tagged BAD or NO, already rendered); ``AuthenticateResponse``
and ``IdleDone`` during those exchanges; ``StreamChange`` after a STARTTLS or COMPRESS OK;
``Bye`` (write ``data`` and close); ``ConnectionClosed`` after ``receive_eof``.
"""

from __future__ import annotations

import datetime
import re
from collections import deque
from dataclasses import dataclass

from . import commands as c
from . import lexer, response
from .limits import Limits
from .parser import (
    ParseContext,
    ParseError,
    WrongState,
    command_class,
    command_name,
    decode_base64,
    parse_append_head,
    parse_command,
    parse_tag,
)


class _NeedData:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()
"""``next_event`` has nothing complete: feed more bytes."""


@dataclass(frozen=True, slots=True)
class ContinuationRequest:
    """A synchronising literal was announced and accepted: send ``data`` (``+ ...``)."""

    tag: str
    size: int
    data: bytes


@dataclass(frozen=True, slots=True)
class CommandError:
    """A malformed or misplaced command; ``data`` is the rendered tagged (or ``*``) reply.

    ``tag`` is None when the line had no usable tag. If ``tag`` is that of an AUTHENTICATE
    or IDLE in progress, that command is over.
    """

    tag: str | None
    command: str
    status: str
    text: str
    data: bytes


@dataclass(frozen=True, slots=True)
class AuthenticateResponse:
    """A client SASL response line, decoded; ``data`` is None when the client sent ``*``."""

    tag: str
    data: bytes | None

    @property
    def cancelled(self) -> bool:
        return self.data is None


@dataclass(frozen=True, slots=True)
class IdleDone:
    """The line that ended IDLE: ``valid`` if it was ``DONE`` (else answer BAD)."""

    tag: str
    valid: bool


@dataclass(frozen=True, slots=True)
class StreamChange:
    """After the OK to STARTTLS (``kind="tls"``) or COMPRESS (``kind="compress"``).

    TLS: everything the client pipelined after STARTTLS was discarded (``discarded``
    octets, CVE-2011-0411); do the handshake, then call ``Connection.stream_changed()``.
    COMPRESS: ``pending`` holds octets already received after the command, to be inflated and
    fed back after ``stream_changed()``.
    """

    kind: str
    pending: bytes = b""
    discarded: int = 0


@dataclass(frozen=True, slots=True)
class AppendStart:
    """A streamed APPEND message begins (only with ``Limits.stream_append_over``).

    ``command`` carries the tag and mailbox; its ``messages`` stay empty. If
    ``synchronising``, the client waits: answer ``accept_append()`` (``+``) or
    ``reject_append(...)`` (e.g. ``NO [TRYCREATE]``) before any data comes. Then the data
    arrives as ``AppendData`` events, ``size`` octets in all.
    """

    command: c.Append
    flags: tuple[str, ...]
    internal_date: datetime.datetime | None
    size: int
    binary: bool
    synchronising: bool


@dataclass(frozen=True, slots=True)
class AppendData:
    """A piece of the current streamed APPEND message, in order."""

    tag: str
    data: bytes


@dataclass(frozen=True, slots=True)
class AppendDone:
    """The streamed APPEND command ended well: store, then ``complete(command, "OK")``.

    A ``CommandError`` with the APPEND's tag instead means: discard what was streamed.
    """

    command: c.Append


@dataclass(frozen=True, slots=True)
class Bye:
    """The connection must end: write ``data`` and close."""

    text: str
    data: bytes


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The client closed its side and no complete command is left."""


Event = (
    c.Command
    | ContinuationRequest
    | CommandError
    | AuthenticateResponse
    | IdleDone
    | StreamChange
    | AppendStart
    | AppendData
    | AppendDone
    | Bye
    | ConnectionClosed
    | _NeedData
)

# A literal marker ends a line and follows a space or "(" (``UTF8 (~{n}``).
_MARKER_RE = re.compile(rb"(?<![^ (])(~?)\{([0-9]{1,12})(\+?)\}\Z")
_TAG_PREFIX_RE = re.compile(rb"[^ \r\n]{1,64}")

# What the lines mean.
_COMMAND, _AUTHENTICATE, _IDLE, _STREAM_CHANGE, _CLOSED = range(5)
_COMPACT_AT = 65_536
_SILENT = "SILENT"  # a failure already answered


class Connection:
    """One client connection: input framing, parsing, state and stream changes."""

    def __init__(self, limits: Limits | None = None, *, utf8: bool = False) -> None:
        self.limits = limits or Limits()
        self._state = c.State.NOT_AUTHENTICATED
        self._state_set = frozenset({self._state})
        self.enabled: set[str] = set()
        self.read_only = False
        self._context = ParseContext(utf8, frozenset(), self.limits.max_nesting_depth)
        self._buffer: bytes | bytearray = b""
        self._pos = 0  # start of unconsumed input in _buffer
        self._scan = 0  # where the search for the next LF resumes
        self._mode = _COMMAND
        self._eof = False
        self._closed_reported = False
        self._overflowed = False
        self._bad_count = 0
        self._exchange_tag = ""  # the AUTHENTICATE or IDLE in progress
        self._stream_kind = ""
        self._discarded = 0
        self._events: deque[Event] = deque()
        self._reset_command()

    # --- input ------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Take bytes from the client. Never raises; excess input becomes a ``Bye``."""
        if self._mode in (_CLOSED, _STREAM_CHANGE) or self._overflowed:
            self._discarded += len(data)
            return
        if self._pos == len(self._buffer):
            if self._literal_left or self._skip_left:
                # Literal data goes straight to its destination, never through the buffer.
                data = self._feed_literal(memoryview(data))
                if not data:
                    return
            if len(data) > self.limits.max_buffered_bytes:
                self._overflowed = True
                return
            # Nothing unread: adopt the caller's bytes instead of copying them into the
            # buffer, so that a literal arriving with its command is copied once, when it is
            # cut out (and lines are sliced out once). _growable() turns it into a
            # bytearray when more input must be appended.
            self._buffer = data if type(data) is bytes else bytes(data)
            self._pos = self._scan = 0
            return
        if len(self._buffer) - self._pos + len(data) > self.limits.max_buffered_bytes:
            self._overflowed = True
            return
        buffer = self._growable()
        if self._pos >= _COMPACT_AT and self._pos * 2 >= len(buffer):
            del buffer[: self._pos]
            self._scan -= self._pos
            self._pos = 0
        buffer += data

    def _growable(self) -> bytearray:
        """The buffer as a bytearray (an adopted ``bytes`` chunk: its unread part copied)."""
        buffer = self._buffer
        if isinstance(buffer, bytearray):
            return buffer
        grown = self._buffer = bytearray(memoryview(buffer)[self._pos :])
        self._scan -= self._pos
        self._pos = 0
        return grown

    def receive_eof(self) -> None:
        self._eof = True

    @property
    def buffered_bytes(self) -> int:
        """Unparsed input plus the command under assembly (what the client makes us hold)."""
        return len(self._buffer) - self._pos + self._size

    @property
    def should_pause_reading(self) -> bool:
        """Stop reading from the socket until ``next_event`` has drained some input."""
        pending = len(self._buffer) - self._pos
        if pending >= self.limits.max_buffered_bytes // 2:
            return True
        return self._buffer.count(b"\n", self._pos) >= self.limits.max_pipelined_commands

    @property
    def state(self) -> c.State:
        return self._state

    @state.setter
    def state(self, value: c.State) -> None:
        self._state = value
        self._state_set = frozenset({value})

    @property
    def utf8(self) -> bool:
        return self._context.utf8

    # --- events -------------------------------------------------------------------------------

    def next_event(self) -> Event:
        try:
            return self._next_event()
        except Exception as exc:  # a bug here must not take the server down
            self._reset_command()
            self._mode = _CLOSED
            text = f"Internal error parsing input ({type(exc).__name__})"
            return Bye(text, response.untagged_status("BYE", text))

    def _next_event(self) -> Event:
        while True:
            if self._overflowed and self._mode != _CLOSED:
                self._mode = _CLOSED
                text = "Too much input without waiting for replies"
                return Bye(text, response.untagged_status("BYE", text))
            if self._mode == _CLOSED:
                return self._closed_event()
            if self._stream_kind and self._mode != _STREAM_CHANGE:
                return self._begin_stream_change()
            if self._mode == _STREAM_CHANGE:
                return NEED_DATA
            if self._events:
                return self._events.popleft()
            if self._stream_waiting >= 0:  # the server has to accept or reject the APPEND
                return self._closed_event() if self._eof else NEED_DATA
            if self._stream_left:
                event = self._stream_chunk()
                if event is None:
                    return self._closed_event() if self._eof else NEED_DATA
                if type(event) is AppendData:
                    return event
                continue
            if self._literal_left and len(self._buffer) - self._pos >= self._literal_left:
                # The usual case: the whole literal is already here. One copy, no views.
                end = self._pos + self._literal_left
                with memoryview(self._buffer) as view:  # slicing a bytearray would copy twice
                    self._literal_chunks.append(bytes(view[self._pos : end]))
                self._literal_left = 0
                self._pos = end
                self._scan = max(self._scan, end)
                self._finish_literal()
                continue
            if self._literal_left or self._skip_left:
                rest = self._feed_literal(memoryview(self._buffer)[self._pos :])
                self._pos = len(self._buffer) - len(rest)
                self._scan = max(self._scan, self._pos)
                rest.release()
                if self._literal_left or self._skip_left:
                    return self._closed_event() if self._eof else NEED_DATA
                continue
            line = self._read_line()
            if line is None:
                return self._closed_event() if self._eof else NEED_DATA
            event = self._handle_line(line)
            if event is not None:
                return event

    def _closed_event(self) -> Event:
        if self._eof and not self._closed_reported:
            self._closed_reported = True
            self._mode = _CLOSED
            return ConnectionClosed()
        return NEED_DATA

    def _read_line(self) -> bytes | None:
        buffer = self._buffer
        end = buffer.find(b"\n", self._scan)
        if end < 0:
            self._scan = len(buffer)
            if len(buffer) - self._pos > self.limits.max_line_length:
                self._start_line_overflow()
            return None
        start = self._pos
        if end - start > self.limits.max_line_length and not self._overflow_line:
            # A whole overlong line arrived at once: refuse it the same way.
            self._begin_line_overflow()
            start = max(start, end - 20)
        stop = end - 1 if end > start and buffer[end - 1] == 0x0D else end
        line = bytes(buffer[start:stop])
        self._pos = self._scan = end + 1
        # After an overlong line, this is its tail: the refused command's failure path
        # (``_handle_line``) still sees a trailing literal marker and skips that literal.
        self._overflow_line = False
        return line

    def _begin_line_overflow(self) -> None:
        self._overflow_line = True
        if self._mode in (_AUTHENTICATE, _IDLE):
            self._error_tag = self._exchange_tag
            self._error_command = "AUTHENTICATE" if self._mode == _AUTHENTICATE else "IDLE"
            self._mode = _COMMAND
        self._fail("Line too long", segment=bytes(self._buffer[self._pos : self._pos + 200]))

    def _start_line_overflow(self) -> None:
        if not self._overflow_line:
            self._begin_line_overflow()
        # Drop what we have of the line but its last bytes, to spot a literal marker.
        keep = 20
        buffer = self._growable()
        del buffer[self._pos : len(buffer) - keep]
        self._scan = len(buffer)

    # --- lines -----------------------------------------------------------------------------

    def _handle_line(self, line: bytes) -> Event | None:
        if self._mode == _AUTHENTICATE:
            return self._authenticate_line(line)
        if self._mode == _IDLE:
            self._mode = _COMMAND
            return IdleDone(self._exchange_tag, line.strip().upper() == b"DONE")
        marker = _MARKER_RE.search(line, max(0, len(line) - 20)) if line.endswith(b"}") else None
        if self._failure is not None:
            # The command is already refused: skip its non-synchronising literals, then answer.
            if marker is not None and marker.group(3):
                self._skip_left = int(marker.group(2))
                return None
            return self._emit_failure()
        segment = line[: marker.start()] if marker is not None else line
        self._size += len(line) + 2
        if segment:
            try:
                tokens = lexer.tokenize(segment)
            except lexer.LexError as exc:
                self._fail(str(exc), segment=segment)
                tokens = []
            if self._failure is None:
                if self._tokens:
                    self._tokens.extend(tokens)
                else:
                    self._tokens = tokens
        if marker is None:
            if self._failure is not None:
                return self._emit_failure()
            if self._stream_command is not None:
                return self._finish_stream()
            if not self._tokens:
                self._reset_command()
                return None  # an empty line: nothing to answer
            return self._complete_command()
        return self._start_literal(marker)

    def _remember_tag(self, segment: bytes = b"") -> None:
        """Note the tag and command name while the tokens still exist (for error replies)."""
        if self._error_tag is not None:
            return
        if self._stream_command is not None:
            self._error_tag, self._error_command = self._stream_command.tag, "APPEND"
            return
        tokens = self._tokens
        if not tokens and segment:
            try:
                tokens = lexer.tokenize(segment[:200])
            except lexer.LexError:
                tokens = segment[:200].split(b" ", 3)[:3]
        self._error_tag = parse_tag(tokens[:1]) if tokens else None
        self._error_command = command_name(tokens)

    def _start_literal(self, marker: re.Match[bytes]) -> Event | None:
        binary, digits, plus = marker.groups()
        size = int(digits)
        synchronising = not plus
        tokens = self._tokens
        cls = None
        if self._stream_command is not None:
            cls = c.Append
            if size > self.limits.max_literal_size:
                self._fail("Literal too large", status="NO", code="TOOBIG")
        elif self._failure is None:
            cls = command_class(tokens)
            limits = self.limits
            if self._state is c.State.NOT_AUTHENTICATED:
                limit = limits.max_preauth_literal_size
            elif cls is c.Append:
                limit = limits.max_literal_size
            else:
                limit = limits.max_argument_literal_size
            if cls is not None and self.state not in cls.allowed_in:
                self._fail_state(cls)
            elif size > limit or self._size + size > self.limits.max_command_size:
                code = "TOOBIG" if cls is c.Append else None
                self._fail(
                    "Literal too large", status="NO" if cls is c.Append else "BAD", code=code
                )
            elif (
                not synchronising
                and self.limits.literal_minus
                and size > self.limits.nonsync_literal_minus_limit
            ):
                self._fail("Non-synchronising literal over 4096 octets (LITERAL-)")
        if self._failure is None and cls is c.Append and self._should_stream(size):
            return self._start_stream(size, bool(binary), synchronising)
        if self._failure is not None:
            if synchronising:
                return self._emit_failure()  # the client waits for "+" and gets this instead
            self._skip_left = size
            return None
        self._literal_left = size
        self._literal_binary = bool(binary)
        self._literal_chunks = []
        self._size += size
        if size == 0:
            return self._finish_literal() if not synchronising else self._continuation(size)
        if synchronising:
            return self._continuation(size)
        return None

    def _continuation(self, size: int) -> ContinuationRequest:
        self._remember_tag()
        if self._literal_left == 0:
            self._finish_literal()
        return ContinuationRequest(self._error_tag or "*", size, b"+ Ready for literal data\r\n")

    def _feed_literal(self, data: memoryview) -> memoryview:
        """Take literal (or skipped) octets from ``data``; return what follows them."""
        if self._skip_left:
            taken = min(self._skip_left, len(data))
            self._skip_left -= taken
            return data[taken:]
        taken = min(self._literal_left, len(data))
        if taken:
            whole = data.obj
            if taken == len(data) == len(whole) and type(whole) is bytes:
                # A read that is all literal: keep the caller's bytes, so that the join in
                # _finish_literal is the one copy of these octets.
                self._literal_chunks.append(whole)
            else:
                self._literal_chunks.append(bytes(data[:taken]))
            self._literal_left -= taken
            if self._literal_left == 0:
                self._finish_literal()
        return data[taken:]

    def _finish_literal(self) -> None:
        chunks = self._literal_chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._literal_chunks = []
        if not self._literal_binary and 0 in data:  # NUL (an int: one memchr)
            self._fail("NUL in literal (use ~{n} for binary data)")
        if self._failure is None:
            self._tokens.append(lexer.Literal(data, self._literal_binary))

    # --- commands ---------------------------------------------------------------------------

    def _complete_command(self) -> Event:
        try:
            command = parse_command(self._tokens, self._context, self._state_set)
        except WrongState as exc:
            self._fail_state(exc.command)
            return self._emit_failure()
        except ParseError as exc:
            self._fail(exc.text, exc.status, exc.code)
            return self._emit_failure()
        # What a completed command can leave behind (no literal, stream or failure is pending
        # here, and _read_line clears _overflow_line): a lighter _reset_command.
        self._tokens = []
        self._size = 0
        self._literal_binary = False
        self._error_tag = None
        self._error_command = ""
        self._bad_count = 0
        return command

    def _fail_state(self, cls: type[c.Command]) -> None:
        if self.state == c.State.NOT_AUTHENTICATED:
            why = "Log in first"
        elif self.state == c.State.AUTHENTICATED and cls.allowed_in == c.SELECTED:
            why = "No mailbox selected"
        else:
            why = f"Not valid in the {self.state.value} state"
        self._fail(why)

    def _fail(
        self, text: str, status: str = "BAD", code: str | None = None, segment: bytes = b""
    ) -> None:
        self._remember_tag(segment)
        if self._failure is None:
            self._failure = (text, status, code)
            self._tokens = []

    def _emit_failure(self) -> Event | None:
        assert self._failure is not None
        text, status, code = self._failure
        if status == _SILENT:  # already answered (reject_append): just forget the command
            self._reset_command()
            return None
        tag = self._error_tag
        name = self._error_command
        self._reset_command()
        if status == "BAD":
            self._bad_count += 1
        if name and text != "Unknown command":
            text = f"Error in IMAP command {name}: {text}"
        data = response.tagged(tag or "*", status, text, code)
        if self._bad_count > self.limits.max_bad_commands:
            self._mode = _CLOSED
            bye = "Too many invalid commands"
            return Bye(bye, data + response.untagged_status("BYE", bye))
        return CommandError(tag, name, status, text, data)

    def _reset_command(self) -> None:
        self._tokens: list = []
        self._size = 0
        self._literal_left = 0
        self._literal_binary = False
        self._literal_chunks: list[bytes] = []
        self._skip_left = 0
        self._failure: tuple[str, str, str | None] | None = None
        self._error_tag: str | None = None
        self._error_command = ""
        self._overflow_line = False
        self._stream_command: c.Append | None = None
        self._stream_left = 0
        self._stream_waiting = -1  # size of a synchronising literal awaiting accept/reject
        self._stream_binary = False

    # --- streamed APPEND ----------------------------------------------------------------------

    def _should_stream(self, size: int) -> bool:
        threshold = self.limits.stream_append_over
        if threshold is None or self._state is c.State.NOT_AUTHENTICATED:
            return False
        if self._stream_command is not None:
            return True
        # APPEND ... UTF8 (~{n}) closes its parenthesis after the literal: keep it buffered.
        return size > threshold and not (self._tokens and self._tokens[-1] == lexer.OPEN)

    def _start_stream(self, size: int, binary: bool, synchronising: bool) -> Event | None:
        first = self._stream_command is None
        try:
            tag, mailbox, done, flags, when = parse_append_head(
                self._tokens, self._context, first=first
            )
        except ParseError as exc:
            self._fail(exc.text, exc.status, exc.code)
            if synchronising:
                return self._emit_failure()
            self._skip_left = size
            return None
        if first:
            self._stream_command = c.Append(tag, mailbox, ())
        command = self._stream_command
        assert command is not None
        if done and not first:
            self._fail("Expected one message literal")
            self._skip_left = 0 if synchronising else size
            return self._emit_failure() if synchronising else None
        for message in done:  # MULTIAPPEND messages before the first big one
            self._events.append(
                AppendStart(
                    command,
                    message.flags,
                    message.internal_date,
                    len(message.data),
                    message.binary,
                    False,
                )
            )
            if message.data:
                self._events.append(AppendData(command.tag, message.data))
        self._events.append(AppendStart(command, flags, when, size, binary, synchronising))
        self._tokens = []
        self._stream_binary = binary
        if synchronising:
            self._stream_waiting = size
        else:
            self._stream_left = size
        return self._events.popleft()

    def _stream_chunk(self) -> Event | None:
        available = len(self._buffer) - self._pos
        if not available:
            return None
        taken = min(available, self._stream_left)
        end = self._pos + taken
        with memoryview(self._buffer) as view:
            data = bytes(view[self._pos : end])
        self._pos = end
        self._scan = max(self._scan, end)
        self._stream_left -= taken
        if not self._stream_binary and 0 in data:  # NUL
            self._fail("NUL in literal (use ~{n} for binary data)")
            self._skip_left, self._stream_left = self._stream_left, 0
            return NEED_DATA  # not an event to hand out: the loop goes on
        assert self._stream_command is not None
        return AppendData(self._stream_command.tag, data)

    def _finish_stream(self) -> Event | None:
        command = self._stream_command
        assert command is not None
        if self._tokens:
            self._fail("Expected a message literal or the end of APPEND")
            return self._emit_failure()
        self._reset_command()
        self._bad_count = 0
        return AppendDone(command)

    def accept_append(self) -> bytes:
        """Let the client send a synchronising streamed APPEND literal: ``+ ...``."""
        if self._stream_waiting < 0:
            raise RuntimeError("no streamed APPEND literal is waiting")
        self._stream_left, self._stream_waiting = self._stream_waiting, -1
        return b"+ Ready for literal data\r\n"

    def reject_append(
        self, status: str = "NO", text: str = "APPEND failed", code: str | None = None
    ) -> bytes:
        """End a streamed APPEND now (before its data, or in the middle of it); returns the
        tagged reply. Octets the client still sends for it are skipped unseen."""
        command = self._stream_command
        if command is None:
            raise RuntimeError("no streamed APPEND in progress")
        tag = command.tag
        self._events = deque(
            e
            for e in self._events
            if getattr(e, "tag", None) != tag and getattr(e, "command", None) is not command
        )
        if self._stream_waiting >= 0:
            self._reset_command()  # the client waits for "+": nothing more of it will come
        else:
            skip = self._stream_left
            self._reset_command()
            self._skip_left = skip
            self._failure = ("", _SILENT, None)
        return response.tagged(tag, status, text, code)

    # --- exchanges ----------------------------------------------------------------------------

    def _authenticate_line(self, line: bytes) -> Event:
        tag = self._exchange_tag
        if line.strip() == b"*":
            self._mode = _COMMAND
            return AuthenticateResponse(tag, None)
        try:
            return AuthenticateResponse(tag, decode_base64(line.strip()))
        except ParseError as exc:
            self._mode = _COMMAND
            text = f"Error in IMAP command AUTHENTICATE: {exc.text}"
            return CommandError(tag, "AUTHENTICATE", "BAD", text, response.tagged(tag, "BAD", text))

    def authenticate_challenge(self, command: c.Authenticate, challenge: bytes = b"") -> bytes:
        """``+ <base64 challenge>``; the next line comes back as ``AuthenticateResponse``."""
        self._mode = _AUTHENTICATE
        self._exchange_tag = command.tag
        return response.continuation_data(challenge) if challenge else b"+ \r\n"

    def start_idle(self, command: c.Idle, text: str = "idling") -> bytes:
        """``+ idling``; the next line comes back as ``IdleDone``. Untagged updates may be
        written meanwhile; finish with ``complete(command, "OK")``."""
        self._mode = _IDLE
        self._exchange_tag = command.tag
        return response.continuation(text)

    def enable(self, capabilities: list[str] | tuple[str, ...]) -> bytes:
        """Record extensions the server agreed to ENABLE; returns ``* ENABLED ...``."""
        names = [name.upper() for name in capabilities]
        fresh = [name for name in names if name not in self.enabled]
        self.enabled.update(names)
        if "QRESYNC" in self.enabled:
            self.enabled.add("CONDSTORE")
        utf8 = self._context.utf8 or bool({"UTF8=ACCEPT", "IMAP4REV2"} & self.enabled)
        self._context = ParseContext(utf8, frozenset(self.enabled), self.limits.max_nesting_depth)
        return response.enabled(fresh)

    def complete(
        self,
        command: c.Command,
        status: str = "OK",
        text: str | None = None,
        code: str | None = None,
    ) -> bytes:
        """The tagged reply that ends ``command``; applies the state change it implies."""
        if self._mode in (_AUTHENTICATE, _IDLE) and command.tag == self._exchange_tag:
            self._mode = _COMMAND
        ok = status == "OK"
        if isinstance(command, c.Login | c.Authenticate) and ok:
            self.state = c.State.AUTHENTICATED
        elif isinstance(command, c.Select):
            if ok:
                self.state = c.State.SELECTED
                self.read_only = command.read_only
            elif self.state == c.State.SELECTED:
                # RFC 9051 §6.3.2: a failed SELECT leaves no mailbox selected.
                self.state = c.State.AUTHENTICATED
        elif isinstance(command, c.Close | c.Unselect) and ok:
            self.state = c.State.AUTHENTICATED
        elif isinstance(command, c.Logout):
            self.state = c.State.LOGOUT
            self._mode = _CLOSED
        elif isinstance(command, c.StartTLS) and ok:
            self._stream_kind = "tls"
        elif isinstance(command, c.Compress) and ok:
            self._stream_kind = "compress"
        if text is None:
            text = f"{command.name} completed" if ok else f"{command.name} failed"
        return response.tagged(command.tag, status, text, code)

    def _begin_stream_change(self) -> StreamChange:
        pending = bytes(self._buffer[self._pos :])
        self._buffer = b""
        self._pos = self._scan = 0
        self._reset_command()
        self._skip_left = 0
        self._overflow_line = False
        self._mode = _STREAM_CHANGE
        self._discarded = 0
        if self._stream_kind == "tls":
            return StreamChange("tls", b"", len(pending))
        return StreamChange("compress", pending, 0)

    def stream_changed(self) -> None:
        """The TLS handshake is done (or the compression layer is installed): go on."""
        if self._stream_kind == "tls":
            # RFC 9051 §6.2.1: forget everything learnt before; capabilities may differ.
            self.state = c.State.NOT_AUTHENTICATED
            self._bad_count = 0
        self._stream_kind = ""
        self._mode = _COMMAND
