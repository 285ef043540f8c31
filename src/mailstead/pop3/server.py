"""The POP3 server (RFC 1939, 2449, 2595, 5034): a thin asyncio.Protocol around the sans-IO
core in `mailstead.proto.pop3`, over the store.

One session = one `Pop3Session`. Bytes go into the core as they arrive; one task per
session takes events out of it in order (so PIPELINING needs nothing special) and answers
them. The rules that matter:

* Deletions happen only in the UPDATE state, entered by QUIT, with one `store.expunge`
  call. A dropped connection, an idle timeout or a server shutdown deletes nothing.
* One session per mailbox (`-ERR [IN-USE]`), the message list frozen at login.
* Plaintext passwords only over TLS or from `[auth] allow_plaintext_from`.
* STLS drops whatever the client pipelined after it before the TLS handshake.
* Every exception inside a session ends as `-ERR [SYS/TEMP]` to that client only.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mailstead.auth import sasl
from mailstead.config import ListenAddress
from mailstead.net.admitted_tls import AdmittedTLS as _AdmittedTLS
from mailstead.net.connections import TrackedConnection
from mailstead.net.limits import ConnectionLimiter
from mailstead.proto.pop3 import commands as c
from mailstead.proto.pop3.responses import (
    DotStuffer,
    ResponseCode,
    continuation,
    err,
    multiline,
    ok,
    top_length,
)
from mailstead.proto.pop3.server import (
    NEED_DATA,
    BadCommand,
    ConnectionClosed,
    ServerConnection,
    State,
)
from mailstead.store.base import MessageSummary, NotFound

log = logging.getLogger("mailstead.pop3")

# Bytes of a message written per transport.write while streaming RETR/TOP.
CHUNK_SIZE = 64 * 1024
# Read no further ahead of the session than this (plus one line): pipelined input beyond it
# waits in the kernel instead of in our memory.
MAX_PENDING_INPUT = 64 * 1024
# Failed logins in one session before we hang up (the Authenticator throttles across
# sessions; this only stops one connection from trying forever).
MAX_AUTH_FAILURES_PER_SESSION = 3
TLS_HANDSHAKE_TIMEOUT = 30.0
# RETR/TOP read the requested message and the next live ones in one store round trip (a
# thread hop and a transaction each): at most this many messages and, past the requested
# one, this many bytes held per session.
PREFETCH_MESSAGES = 32
PREFETCH_BYTES = 1024 * 1024
SASL_MECHANISMS = ("PLAIN", "LOGIN")
IMPLEMENTATION = "Mailstead"

_session_ids = itertools.count(1)
_journey_tasks: set[asyncio.Task[None]] = set()


def _journey_done(task: asyncio.Task[None]) -> None:
    _journey_tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.warning("pop3: journey record failed: %s", task.exception())


def uidl_for(uidvalidity: int, uid: int) -> str:
    """A message's unique-id listing: 16 hex digits, stable while the mailbox's UIDVALIDITY
    holds and unique within it (RFC 1939 §7 asks for 1-70 characters in 0x21-0x7E). When
    UIDVALIDITY changes, every id changes, so clients download anew instead of skipping."""
    return f"{uidvalidity:08x}{uid:08x}"


@dataclass
class Pop3Shared:
    """State shared by every POP3 listener of one server (pop3 and pop3s alike)."""

    limiter: ConnectionLimiter
    # mailbox id -> the session holding it. In-process only: a deployment with several
    # server machines on one PostgreSQL store needs a store-level lease instead.
    locks: dict[int, Pop3Session] = field(default_factory=dict)


def shared_state(ctx: Any) -> Pop3Shared:
    shared = ctx.shared.get("pop3")
    if shared is None:
        limits = ctx.config.limits
        shared = Pop3Shared(ConnectionLimiter(limits.max_connections, limits.max_connections_per_ip))
        ctx.shared["pop3"] = shared
    return shared


async def start_pop3(ctx: Any, address: ListenAddress, implicit_tls: bool) -> asyncio.AbstractServer:
    """Listen for POP3 on `address`: STLS offered when a TLS context exists, or TLS from the
    first byte (`pop3s`, RFC 8314) when `implicit_tls`."""
    if implicit_tls and ctx.tls_context is None:
        raise RuntimeError("pop3s needs [tls] cert and key")
    loop = asyncio.get_running_loop()
    shared = shared_state(ctx)

    def accept() -> asyncio.BaseProtocol:
        session = Pop3Session(ctx, shared, implicit_tls)
        if not implicit_tls:
            return session
        timeout = min(TLS_HANDSHAKE_TIMEOUT, ctx.config.limits.pop3_idle_timeout)
        return _AdmittedTLS(loop, session, ctx.tls_context, timeout)

    return await loop.create_server(accept, address.host, address.port, reuse_address=True)


class _SessionEnd(Exception):
    """Raised inside a handler when the session must stop (connection gone, timeout)."""


@dataclass
class _Maildrop:
    """The mailbox as frozen at login: message n is messages[n - 1]."""

    mailbox_id: int
    uidvalidity: int
    messages: Sequence[MessageSummary]
    deleted: set[int] = field(default_factory=set)  # message numbers

    def live(self) -> list[tuple[int, MessageSummary]]:
        return [(n, m) for n, m in enumerate(self.messages, 1) if n not in self.deleted]


class Pop3Session(asyncio.Protocol):
    def __init__(self, ctx: Any, shared: Pop3Shared, implicit_tls: bool) -> None:
        self.ctx = ctx
        self.shared = shared
        self.config = ctx.config
        self.store = ctx.store
        self.id = next(_session_ids)
        self.tls = implicit_tls
        self.core = ServerConnection(max_line_length=self.config.limits.max_line_length)
        self.transport: asyncio.Transport | None = None
        self.ip = ""
        self.user: str | None = None
        self.maildrop: _Maildrop | None = None
        self.errors = 0
        self.auth_failures = 0
        self._tracked: TrackedConnection | None = None
        self._limited = False
        self._closed = False
        self._close_requested = False
        self._finished = False  # the session ended itself (QUIT, too many errors)
        self._hang_up = False  # too many errors: close after this command
        self._reading_paused = False
        self._input = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._task: asyncio.Task[None] | None = None
        # Message number -> raw bytes read ahead by the last batched read.
        self._prefetched: dict[int, bytes] = {}
        self._batch_reads = True  # False once the store says it has no read_raw_messages
        # Journey steps waiting to be written in one burst at the end of the session.
        self._pending_journey: list[tuple[str, str, str]] = []

    # -- asyncio.Protocol ----------------------------------------------------------------
    def admit(self, transport: asyncio.BaseTransport) -> bool:
        """Take a connection slot and register with the shutdown tracker; False when the
        limits refuse the client. Called at accept time (before any TLS handshake)."""
        peer = transport.get_extra_info("peername")
        self.ip = str(peer[0]) if peer else ""
        if not self.shared.limiter.acquire(self.ip):
            log.warning("pop3[%d] %s: connection limit reached, refused", self.id, self.ip)
            self._closed = True
            return False
        self._limited = True
        self._tracked = self.ctx.connections.add(transport, self.request_close)
        return True

    def release_admission(self) -> None:
        """The connection ended before the session started (failed TLS handshake)."""
        if self._task is None:
            self._closed = True
            self._release()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, so no isinstance check.
        self.transport = transport  # type: ignore[assignment]
        if self.tls:
            # Implicit TLS: admitted at accept; now track the TLS transport instead.
            if self._tracked is not None:
                self.ctx.connections.discard(self._tracked)
            self._tracked = self.ctx.connections.add(transport, self.request_close)
        elif not self.admit(transport):
            transport.write(err("Too many connections, try again later", ResponseCode.SYS_TEMP))
            transport.close()
            return
        log.debug("pop3[%d] connect from %s%s", self.id, self.ip, " (TLS)" if self.tls else "")
        self._task = asyncio.get_running_loop().create_task(self._run())

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        self.core.receive_data(data)
        self._input.set()
        if self.core.buffered > MAX_PENDING_INPUT and not self._reading_paused:
            self._reading_paused = True
            if self.transport is not None:
                self.transport.pause_reading()

    def eof_received(self) -> bool | None:
        self.core.receive_data(b"")
        self._input.set()
        # Keep our side open to answer what the client sent before its half-close (e.g.
        # `printf 'USER..\r\nQUIT\r\n' | nc`); the session closes after the last answer.
        # (TLS transports cannot stay half-open: asyncio ignores True there.)
        return not self.tls

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._input.set()
        self._writable.set()
        self._release()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def request_close(self) -> None:
        """Server shutdown: end at the next quiet point, without applying deletions."""
        self._close_requested = True
        self._input.set()
        if self._task is None and self._tracked is not None:
            # Still in the implicit-TLS handshake: nothing to finish.
            self._tracked.transport.abort()

    # -- plumbing ------------------------------------------------------------------------
    def _release(self) -> None:
        """Give back the connection slot and the mailbox lock (idempotent)."""
        if self._limited:
            self._limited = False
            self.shared.limiter.release(self.ip)
        if self._tracked is not None:
            self.ctx.connections.discard(self._tracked)
            self._tracked = None
        if self.maildrop is not None and self.shared.locks.get(self.maildrop.mailbox_id) is self:
            del self.shared.locks[self.maildrop.mailbox_id]

    def _write(self, data: bytes) -> None:
        if not self._closed and self.transport is not None:
            self.transport.write(data)

    def _close(self) -> None:
        self._closed = True
        if self.transport is not None:
            self.transport.close()

    async def _drain(self) -> None:
        """Wait while the transport's buffer is full (the client reads slower than we write);
        a client that stops reading altogether is dropped after the idle timeout."""
        if self._closed:
            raise _SessionEnd
        if self._writable.is_set():
            return
        try:
            await asyncio.wait_for(self._writable.wait(), self.config.limits.pop3_idle_timeout)
        except TimeoutError:
            log.info("pop3[%d] %s: client stopped reading, closing", self.id, self.ip)
            if self.transport is not None:
                self.transport.abort()
            raise _SessionEnd from None
        if self._closed:
            raise _SessionEnd

    async def _next_event(self) -> Any:
        """The next event from the core, waiting for input.

        The idle timeout bounds the whole wait for one complete line, not each read: a
        client dripping one byte just inside the timeout would otherwise hold the session
        (and its mailbox lock) forever. RFC 1939 §3 lets only a command reset the timer."""
        deadline: float | None = None
        while True:
            if self._closed:
                raise _SessionEnd
            event = self.core.next_event()
            if event is not NEED_DATA:
                return event
            if self._close_requested:
                raise _SessionEnd
            if self._reading_paused and self.transport is not None:
                self._reading_paused = False
                self.transport.resume_reading()
            self._input.clear()
            if deadline is None:
                loop = asyncio.get_running_loop()
                deadline = loop.time() + self.config.limits.pop3_idle_timeout
            try:
                # timeout_at, not wait_for: no task is created for every wait.
                async with asyncio.timeout_at(deadline):
                    await self._input.wait()
            except TimeoutError:
                if self.core.buffered:
                    log.info("pop3[%d] %s: command line not finished in time", self.id, self.ip)
                    self._write(err("Command line too slow, closing connection"))
                else:
                    log.info("pop3[%d] %s: idle timeout", self.id, self.ip)
                    self._write(err("Idle timeout, closing connection"))
                self._close()
                raise _SessionEnd from None

    # -- the session ---------------------------------------------------------------------
    async def _run(self) -> None:
        try:
            self._write(ok(f"{self.config.hostname} Mailstead POP3 ready"))
            while True:
                await self._drain()
                if self._close_requested:
                    break
                event = await self._next_event()
                if isinstance(event, ConnectionClosed):
                    break
                try:
                    done = await self._handle(event) or self._hang_up
                except _SessionEnd:
                    raise
                except Exception:
                    log.exception("pop3[%d] %s: error handling %r", self.id, self.ip, event)
                    self._write(err("Internal server error, try again later", ResponseCode.SYS_TEMP))
                    done = False
                if done:
                    self._finished = True
                    break
        except _SessionEnd:
            pass
        except Exception:
            log.exception("pop3[%d] %s: session failed", self.id, self.ip)
            self._write(err("Internal server error", ResponseCode.SYS_TEMP))
        finally:
            if self._close_requested and not (self._closed or self._finished):
                # RFC 1939 §6: only QUIT enters UPDATE, so nothing marked deleted is removed.
                self._write(err("Server shutting down"))
            self.core.close()
            self._close()
            self._release()
            self._prefetched.clear()
            self._flush_journey()
            log.debug("pop3[%d] %s: closed", self.id, self.ip)

    async def _handle(self, event: Any) -> bool:
        """Answer one event; True when the session is over."""
        match event:
            case BadCommand(response=response):
                return self._bad(response)
            case c.SaslResponse():  # outside an exchange: the core never yields one
                return self._bad(err("Unexpected SASL response"))
            case c.Capa():
                self._write(multiline(ok("Capability list follows"), self._capabilities()))
            case c.Stls():
                await self._stls()
            case c.Utf8():
                self._write(ok("UTF8 enabled"))
            case c.User(name):
                self._user(name)
            case c.Pass(username, password):
                return await self._login(username, password)
            case c.Auth(mechanism, initial):
                return await self._auth(mechanism, initial)
            case c.Quit():
                return await self._quit()
            case c.Retr() | c.Top():
                await self._send_message(event)
            case _:
                self._transaction(event)
        return False

    def _bad(self, response: bytes) -> bool:
        """Send an error for a bad command; count it, and hang up after too many."""
        self.errors += 1
        self._write(response)
        if self.errors >= self.config.limits.max_errors and not self._hang_up:
            log.info("pop3[%d] %s: too many errors, closing", self.id, self.ip)
            self._write(err("Too many errors, closing connection"))
            self._hang_up = True
        return self._hang_up

    # -- capabilities and TLS ------------------------------------------------------------
    def _plaintext_allowed(self) -> bool:
        return self.tls or self.config.auth.plaintext_allowed_from(self.ip)

    def _stls_available(self) -> bool:
        return not self.tls and self.ctx.tls_context is not None

    def _capabilities(self) -> list[str]:
        caps = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "UTF8"]
        if self.core.state is State.AUTHORIZATION:
            # As Dovecot with disable_plaintext_auth: offer no password mechanism where a
            # password would cross the network in clear.
            if self._plaintext_allowed():
                caps += ["USER", "SASL " + " ".join(SASL_MECHANISMS)]
            if self._stls_available():
                caps.append("STLS")
        caps.append(f"IMPLEMENTATION {IMPLEMENTATION}")
        return caps

    async def _stls(self) -> None:
        if self.tls:
            self._bad(err("Already using TLS"))
            return
        if self.ctx.tls_context is None or self.transport is None:
            self._bad(err("TLS is not available"))
            return
        # Whatever the client sent after STLS arrived in plaintext: drop it (CVE-2011-0411
        # class). From here to start_tls there is no await, so the loop cannot hand us one
        # more plaintext byte; start_tls then makes the TLS layer the transport's protocol
        # (before its own first await), and everything we receive afterwards came over TLS.
        dropped = self.core.discard_pending_input()
        if dropped:
            log.info("pop3[%d] %s: dropped %d bytes pipelined after STLS", self.id, self.ip,
                     dropped)
        self._write(ok("Begin TLS negotiation now"))
        old = self.transport
        loop = asyncio.get_running_loop()
        try:
            new = await loop.start_tls(
                old, self, self.ctx.tls_context, server_side=True,
                ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT,
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as exc:
            log.info("pop3[%d] %s: TLS handshake failed: %s", self.id, self.ip, exc)
            raise _SessionEnd from None
        if new is None:
            raise _SessionEnd
        self.transport = new
        self.tls = True
        if self._tracked is not None:
            self.ctx.connections.discard(self._tracked)
        self._tracked = self.ctx.connections.add(new, self.request_close)
        # RFC 2595 §4: the client must discard what it knew; so do we.
        self.core.tls_started()
        self.user = None

    # -- authorization -------------------------------------------------------------------
    def _refuse_plaintext(self) -> None:
        hint = "use STLS first" if self._stls_available() else "use a TLS connection"
        self._write(
            err(f"Plaintext authentication disallowed on non-secure connections; {hint}",
                ResponseCode.AUTH)
        )

    def _user(self, name: str) -> None:
        if not self._plaintext_allowed():
            self.core.reject_user()
            self._refuse_plaintext()
            return
        # Never say whether the user exists: that would help guessing.
        self._write(ok("Send your password"))

    async def _auth(self, mechanism: str | None, initial: bytes | None) -> bool:
        if mechanism is None:
            mechanisms = SASL_MECHANISMS if self._plaintext_allowed() else ()
            self._write(multiline(ok("Supported mechanisms follow"), mechanisms))
            return False
        if mechanism not in SASL_MECHANISMS:
            self._bad(err(f"Unsupported authentication mechanism {mechanism}"))
            return False
        if not self._plaintext_allowed():
            self._refuse_plaintext()
            return False
        if mechanism == "PLAIN":
            response = initial if initial is not None else await self._challenge(b"")
            if response is None:
                return False
            # The core already checked and decoded the base64; mailstead.auth.sasl wants it
            # encoded, and re-encoding a few dozen bytes is cheaper than two decoders.
            try:
                credentials = sasl.decode_plain(base64.b64encode(response) or b"=")
                credentials.check_authzid()
            except sasl.SASLError as exc:
                self._bad(err(f"Malformed PLAIN response: {exc}", ResponseCode.AUTH))
                return False
        else:  # LOGIN (draft-murchison-sasl-login): username, then password
            exchange = sasl.LoginExchange()
            try:
                if initial:
                    exchange.feed(base64.b64encode(initial))
                while not exchange.done:
                    answer = await self._challenge(base64.b64decode(exchange.challenge()))
                    if answer is None:
                        return False
                    exchange.feed(base64.b64encode(answer) or b"=")
                credentials = exchange.credentials()
            except sasl.SASLError as exc:
                self._bad(err(f"Malformed LOGIN response: {exc}", ResponseCode.AUTH))
                return False
        return await self._login(credentials.username, credentials.password)

    async def _challenge(self, challenge: bytes) -> bytes | None:
        """Send `+ challenge`, read the client's answer; None when cancelled or malformed
        (the -ERR is already sent)."""
        self._write(continuation(challenge))
        self.core.expect_sasl_response()
        event = await self._next_event()
        if isinstance(event, c.SaslResponse):
            if event.data is None:
                self._write(err("Authentication cancelled"))
                return None
            return event.data
        if isinstance(event, BadCommand):
            self._bad(event.response)
            return None
        raise _SessionEnd  # ConnectionClosed

    async def _login(self, username: str, password: str) -> bool:
        if not self._plaintext_allowed():  # USER already refused; belt and braces
            self._refuse_plaintext()
            return False
        authenticator = self.ctx.authenticator
        # A throttled attempt is delayed (and refused unchecked) by the Authenticator itself.
        throttled = authenticator.is_throttled(self.ip, username)
        account = await authenticator.authenticate(username, password, self.ip)
        if account is None:
            self.auth_failures += 1
            log.info("pop3[%d] %s: authentication failed for %r%s", self.id, self.ip, username,
                     " (throttled)" if throttled else "")
            if not throttled:
                # A slow answer to every failure makes guessing slow even below the throttle.
                await asyncio.sleep(self.config.auth.failure_delay)
            if self._closed:
                raise _SessionEnd
            self._write(err("Authentication failed", ResponseCode.AUTH))
            if self.auth_failures >= MAX_AUTH_FAILURES_PER_SESSION:
                self._write(err("Too many authentication failures, closing connection"))
                return True
            return False
        mailbox = await self.store.get_mailbox(account.id, "INBOX")
        if mailbox is None:
            self._write(err("Mailbox not available", ResponseCode.SYS_PERM))
            return False
        holder = self.shared.locks.get(mailbox.id)
        if holder is not None and holder is not self:
            self._write(err("Mailbox is locked by another POP3 session", ResponseCode.IN_USE))
            return False
        self.shared.locks[mailbox.id] = self
        try:
            # Frozen for the session: mail arriving later appears at the next login.
            messages = await self.store.list_messages(mailbox.id)
        except BaseException:
            del self.shared.locks[mailbox.id]
            raise
        self.maildrop = _Maildrop(mailbox.id, mailbox.uidvalidity, messages)
        self.user = account.address
        self.core.authenticated()
        total = sum(m.size for m in messages)
        log.info("pop3[%d] %s: %s logged in (%d messages)", self.id, self.ip, self.user,
                 len(messages))
        self._write(ok(f"Logged in, {len(messages)} messages ({total} octets)"))
        return False

    # -- transaction ---------------------------------------------------------------------
    def _message(self, number: int) -> MessageSummary | None:
        """The message `number`, or None after writing the -ERR."""
        drop = self.maildrop
        assert drop is not None
        if not 1 <= number <= len(drop.messages):
            self._bad(err(f"No such message {number}"))
            return None
        if number in drop.deleted:
            self._bad(err(f"Message {number} is deleted"))
            return None
        return drop.messages[number - 1]

    def _transaction(self, command: Any) -> None:
        drop = self.maildrop
        assert drop is not None
        match command:
            case c.Stat():
                live = drop.live()
                self._write(ok(f"{len(live)} {sum(m.size for _, m in live)}"))
            case c.List(None):
                live = drop.live()
                total = sum(m.size for _, m in live)
                self._write(multiline(ok(f"{len(live)} messages ({total} octets)"),
                                      [f"{n} {m.size}" for n, m in live]))
            case c.List(number):
                if (message := self._message(number)) is not None:
                    self._write(ok(f"{number} {message.size}"))
            case c.Uidl(None):
                self._write(multiline(ok("Unique-ID listing follows"),
                                      [f"{n} {uidl_for(drop.uidvalidity, m.uid)}"
                                       for n, m in drop.live()]))
            case c.Uidl(number):
                if (message := self._message(number)) is not None:
                    self._write(ok(f"{number} {uidl_for(drop.uidvalidity, message.uid)}"))
            case c.Dele(number):
                if self._message(number) is not None:
                    drop.deleted.add(number)
                    self._write(ok(f"Message {number} deleted"))
            case c.Rset():
                drop.deleted.clear()
                live = drop.live()
                self._write(ok(f"{len(live)} messages ({sum(m.size for _, m in live)} octets)"))
            case c.Noop():
                self._write(ok())
            case _:
                self._bad(err("Command not valid in this state"))

    async def _send_message(self, command: c.Retr | c.Top) -> None:
        drop = self.maildrop
        assert drop is not None
        summary = self._message(command.msg)
        if summary is None:
            return
        raw = await self._read_message(command.msg)
        if raw is None:
            # Removed meanwhile by another protocol (IMAP EXPUNGE).
            self._write(err(f"Message {command.msg} is no longer available"))
            return
        if isinstance(command, c.Top):
            length = top_length(raw, command.lines)
            status = ok("Top of message follows")
        else:
            length = len(raw)
            status = ok(f"{length} octets")
        stuffer = DotStuffer()
        if length <= CHUNK_SIZE:
            # The usual message: status, body and terminator in one write (one send()).
            body = raw if length == len(raw) else raw[:length]
            self._write(b"".join((status, stuffer.feed(body), stuffer.finish())))
        else:
            # Stream from the stored bytes: the stuffed copy exists one chunk at a time.
            self._write(status)
            view = memoryview(raw)
            for start in range(0, length, CHUNK_SIZE):
                self._write(stuffer.feed(view[start : min(start + CHUNK_SIZE, length)]))
                await self._drain()
            self._write(stuffer.finish())
        if isinstance(command, c.Retr):
            self._journey(summary, "fetched", f"pop3 RETR by {self.user} from {self.ip}")

    async def _read_message(self, number: int) -> bytes | None:
        """The raw bytes of live message `number` (None if expunged meanwhile), read with
        the next live messages in one store round trip, up to PREFETCH_MESSAGES and
        PREFETCH_BYTES. Prefetched bytes are used once, then dropped."""
        raw = self._prefetched.pop(number, None)
        if raw is not None:
            return raw
        drop = self.maildrop
        assert drop is not None
        if self._batch_reads:
            numbers = [number]
            budget = PREFETCH_BYTES
            for ahead in range(number + 1, len(drop.messages) + 1):
                if len(numbers) >= PREFETCH_MESSAGES:
                    break
                if ahead in drop.deleted:
                    continue
                budget -= drop.messages[ahead - 1].size
                if budget < 0:
                    break
                numbers.append(ahead)
            uids = {drop.messages[n - 1].uid: n for n in numbers}
            try:
                by_uid = await self.store.read_raw_messages(drop.mailbox_id, list(uids))
            except NotImplementedError:
                self._batch_reads = False
            else:
                self._prefetched = {uids[uid]: data for uid, data in by_uid.items()}
                return self._prefetched.pop(number, None)
        stored = await self.store.get_message(drop.mailbox_id, drop.messages[number - 1].uid)
        return stored.raw if stored is not None else None

    def _journey(self, summary: MessageSummary, event: str, detail: str) -> None:
        """Note a journey step; the session's steps are written together at its end."""
        if summary.queue_id:  # APPENDed or copied by IMAP: no delivery to follow
            self._pending_journey.append((summary.queue_id, event, detail))

    def _flush_journey(self) -> None:
        """Write the noted journey steps in one store write instead of one per RETR and
        DELE; the client never waits for it."""
        if not self._pending_journey:
            return
        records, self._pending_journey = self._pending_journey, []
        store = self.store

        task = asyncio.get_running_loop().create_task(store.record_journeys(records))
        # Held here (not on the session) so a closed session cannot drop a pending record.
        _journey_tasks.add(task)
        task.add_done_callback(_journey_done)

    async def _quit(self) -> bool:
        drop = self.maildrop
        if drop is None or self.core.state is not State.UPDATE:
            self._write(ok("Bye"))
            return True
        # UPDATE state (RFC 1939 §6): remove the marked messages in one transaction.
        uids = [drop.messages[n - 1].uid for n in sorted(drop.deleted)]
        removed: list[int] = []
        if uids:
            try:
                removed = list(await self.store.expunge(drop.mailbox_id, uids))
            except NotFound:
                # The account (and its mailbox) was deleted during the session, e.g. with
                # `mailstead user del`: what the client asked to delete is gone already.
                log.info("pop3[%d] %s: mailbox of %s removed during the session", self.id,
                         self.ip, self.user)
            except Exception:
                log.exception("pop3[%d] %s: expunge failed", self.id, self.ip)
                self._write(err("Some deleted messages not removed", ResponseCode.SYS_TEMP))
                return True
        by_uid = {m.uid: m for m in drop.messages}
        for uid in removed:
            self._journey(by_uid[uid], "deleted", f"pop3 DELE by {self.user} from {self.ip}")
        self._flush_journey()
        left = len(drop.messages) - len(uids)
        if len(removed) < len(uids):
            # Already gone (another protocol expunged them): the client's intent holds.
            log.info("pop3[%d]: %d of %d deleted messages were already gone", self.id,
                     len(uids) - len(removed), len(uids))
        self._write(ok(f"Logging out, {len(uids)} deleted, {left} left"))
        return True

