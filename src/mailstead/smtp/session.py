"""One SMTP connection: a thin `asyncio.Protocol` around the sans-IO core.

Per read: feed the core, take events until it needs more bytes or a policy answer, write
every reply produced in one `transport.write`. A policy hook that awaits (store lookup,
delivery) runs as a task; meanwhile further input is only buffered (reading pauses when the
buffer grows), so pipelined commands are answered in order. Timeouts use one timer per
connection that checks the time of the last read, not a timer re-armed per read.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import ssl
from collections.abc import Awaitable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from mailstead.net.tls import describe
from mailstead.proto.smtp import (
    Auth,
    AuthResponse,
    Mail,
    MessageReceived,
    Rcpt,
    Reply,
    ServerConnection,
    ServerOptions,
    StartTLSRequested,
    State,
)
from mailstead.smtp.memory import MessageMemory
from mailstead.smtp.queue_id import new_queue_id
from mailstead.smtp.sasl import MECHANISMS, Challenge, Exchange, SASLError

if TYPE_CHECKING:
    from mailstead.net.connections import TrackedConnection
    from mailstead.net.limits import ConnectionLimiter
    from mailstead.server import ServerContext
    from mailstead.smtp.policy import Policy

log = logging.getLogger("mailstead.smtp")

# Pipelined input held while a policy hook runs before reading pauses.
_PAUSE_ABOVE = 256 * 1024
_session_ids = itertools.count(1)

TEMPFAIL = Reply(451, "Error: internal error, try again later", "4.3.0")
MEMORY_FULL = Reply(452, "Error: insufficient system storage, try again later", "4.3.1")
# One command line may take this many command_timeouts in total. command_timeout itself is
# about silence (RFC 5321 §4.5.3.2); a client on a slow link that sends a line steadily may
# take longer than that, one that drips a byte just inside it must still end.
LINE_TOTAL_FACTOR = 3


class SMTPService:
    """What the sessions of one listener share: context, policy, options, limiter."""

    def __init__(self, ctx: ServerContext, name: str, policy: Policy, implicit_tls: bool,
                 limiter: ConnectionLimiter) -> None:
        config = ctx.config
        limits = config.limits
        self.ctx = ctx
        self.name = name
        self.policy = policy
        self.implicit_tls = implicit_tls
        self.limiter = limiter
        self.hostname = config.hostname
        self.command_timeout = limits.command_timeout
        self.data_timeout = limits.data_timeout
        self.data_total_timeout = limits.data_total_timeout
        self.auth_config = config.auth
        self._plaintext_ok: dict[str, bool] = {}
        # One budget for every SMTP listener of the server (see mailstead.smtp.memory).
        memory = ctx.shared.setdefault("smtp-memory", MessageMemory(limits.max_message_memory))
        assert isinstance(memory, MessageMemory)
        self.memory = memory
        self.options = ServerOptions(
            hostname=config.hostname,
            max_message_size=limits.max_message_size,
            max_line_length=limits.max_line_length,
            max_recipients=limits.max_recipients,
            max_errors=limits.max_errors,
            starttls=ctx.tls_context is not None and not implicit_tls,
            tls_active=implicit_tls,
            auth_mechanisms=tuple(MECHANISMS) if policy.offers_auth else (),
            auth_required=policy.requires_auth,
        )

        # The two variants a session can start with, built once (not per connection).
        self.options_plaintext_auth = replace(self.options, auth_plaintext_ok=True)

    def options_for(self, client_ip: str) -> ServerOptions:
        trusted = self._plaintext_ok.get(client_ip)
        if trusted is None:
            trusted = self.auth_config.plaintext_allowed_from(client_ip)
            if len(self._plaintext_ok) > 10_000:
                self._plaintext_ok.clear()
            self._plaintext_ok[client_ip] = trusted
        return self.options_plaintext_auth if trusted else self.options

    def __call__(self) -> SMTPSession:
        return SMTPSession(self)


class SMTPSession(asyncio.Protocol):
    def __init__(self, service: SMTPService) -> None:
        self.service = service
        self.loop = asyncio.get_running_loop()
        self.id = f"{service.name}#{next(_session_ids)}"
        self.transport: asyncio.Transport | None = None
        self.conn: ServerConnection = None  # type: ignore[assignment]  # set at connect
        self.client_ip = "?"
        self.client_port = 0
        self.tls_info: str | None = None
        self._tracked: TrackedConnection | None = None
        self._acquired = False
        self._busy = False
        self._paused = False
        self._lost = False
        self._close_requested = False
        self._last_read = self.loop.time()
        self._timer: asyncio.TimerHandle | None = None
        # When the command line now arriving began, and the message transfer (with the
        # core's counters at that moment, to tell one line or transfer from the next).
        self._line_started: float | None = None
        self._line_mark = -1
        self._transfer_started: float | None = None
        self._transfer_mark = -1
        self._exchange: Exchange | None = None
        self._auth_user = ""
        self._early_tls: list[bytes] | None = None
        self._eof = False
        self._write_paused = False
        # Message bytes counted in the service's MessageMemory: what the core holds of the
        # message arriving, plus a received message until the policy has answered it.
        self._held = 0
        self._storing = 0

    # -- what the policy sees -------------------------------------------------------------
    @property
    def authenticated(self) -> str | None:
        return self.conn.authenticated

    # -- admission (mailstead.net.admitted_tls) -------------------------------------------
    def admit(self, transport: Any) -> bool:
        """Take a connection slot and register with the shutdown tracker; False (and the
        session is over) when the limits refuse the client. For implicit TLS this runs at
        accept, before the handshake; otherwise from connection_made."""
        peer = transport.get_extra_info("peername")
        if peer:
            self.client_ip, self.client_port = str(peer[0]), int(peer[1])
        if not self.service.limiter.acquire(self.client_ip):
            log.info("%s: refused %s: too many connections", self.id, self.client_ip)
            self._lost = True
            return False
        self._acquired = True
        self._tracked = self.service.ctx.connections.add(transport, self.request_close)
        return True

    def release_admission(self) -> None:
        """The connection is gone (also: its TLS handshake failed, so connection_made and
        connection_lost never ran). Idempotent."""
        self._lost = True
        if self._acquired:
            self._acquired = False
            self.service.limiter.release(self.client_ip)
        if self._tracked is not None:
            self.service.ctx.connections.discard(self._tracked)
            self._tracked = None

    # -- asyncio.Protocol -----------------------------------------------------------------
    def connection_made(self, transport: Any) -> None:
        # uvloop's transports do not subclass asyncio.Transport, so no isinstance check.
        self.transport = transport  # type: ignore[assignment]
        service = self.service
        if self._acquired:
            # Implicit TLS: admitted at accept; from now on the tracker closes the TLS
            # transport (a close_notify, not a bare TCP close).
            if self._tracked is not None:
                self._tracked.transport = transport
        elif not self.admit(transport):
            transport.write(Reply(421, f"{service.hostname} Error: too many connections, try again later",
                                  "4.7.0").to_bytes())
            transport.close()
            return
        self.conn = ServerConnection(service.options_for(self.client_ip))
        if service.implicit_tls:
            self.tls_info = describe(transport.get_extra_info("ssl_object"))
        log.debug("%s: connect from %s:%d", self.id, self.client_ip, self.client_port)
        self.conn.greet()
        self._flush()
        self._arm_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.release_admission()
        self.service.memory.move(self._held, 0)
        self._held = 0
        log.debug("%s: disconnect from %s", self.id, self.client_ip)

    def data_received(self, data: bytes) -> None:
        if self._lost:
            return  # refused at connect; the transport is closing
        self._last_read = self.loop.time()
        if self._early_tls is not None:
            self._early_tls.append(data)  # decrypted bytes that beat tls_started()
            return
        conn = self.conn
        conn.receive(data)
        if not self._busy:
            self._pump()
        elif conn.buffered > _PAUSE_ABOVE and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool | None:
        # A client may half-close right after its last command (QUIT, or the end of DATA):
        # keep the transport open until the replies it is owed are written.
        self._eof = True
        if self._busy or self._lost:
            return True if self._busy else None
        self._pump()
        return None

    def pause_writing(self) -> None:
        # A client that sends commands but never reads its replies would grow our write
        # buffer without bound: stop reading from it until it catches up.
        self._write_paused = True
        if self.transport is not None and not self._paused:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self.transport is not None and not self._paused and not self._lost:
            self.transport.resume_reading()

    # -- the loop around the core ----------------------------------------------------------
    def _pump(self) -> None:
        conn = self.conn
        try:
            while not self._busy:
                event = conn.next_event()
                if event is None:
                    break
                if isinstance(event, StartTLSRequested):
                    self._begin_tls(event)
                    return
                self._dispatch(event)
            if self._close_requested and conn.idle and not self._busy:
                conn.close(Reply(421, f"{self.service.hostname} Service shutting down", "4.3.2"))
            elif self._eof and not self._busy:
                conn.close()
        except Exception:
            log.exception("%s: internal error", self.id)
            conn.close(Reply(421, f"{self.service.hostname} Error: internal error", "4.3.0"))
        self._count_memory()
        self._flush()
        if not self._busy and not conn.closed:
            self._note_progress()
        if self._paused and not self._busy and not conn.closed and self.transport is not None:
            self._paused = False
            if not self._write_paused:
                self.transport.resume_reading()

    def _count_memory(self) -> None:
        if self._lost:
            return
        conn = self.conn
        memory = self.service.memory
        held = conn.message_bytes + self._storing
        if held > self._held and conn.message_bytes and not memory.fits(self._held, held):
            envelope = conn.envelope
            qid = envelope.extra.get("queue_id", "-") if envelope is not None else "-"
            log.warning("%s: %s: message from %s refused: %d bytes of messages in memory "
                        "(limits.max_message_memory = %d)", self.id, qid, self.client_ip,
                        memory.held, memory.limit)
            conn.refuse_message(MEMORY_FULL)
            held = conn.message_bytes + self._storing
        memory.move(self._held, held)
        self._held = held

    def _note_progress(self) -> None:
        """Start the clocks of the total-time limits when a new command line or message
        transfer begins; stop them when it is done."""
        conn = self.conn
        if not conn.in_partial_line:
            self._line_started = None
        elif self._line_started is None or conn.lines_read != self._line_mark:
            self._line_started, self._line_mark = self._last_read, conn.lines_read
        if not conn.in_transfer:
            self._transfer_started = None
        elif self._transfer_started is None or conn.transfers_started != self._transfer_mark:
            self._transfer_started, self._transfer_mark = self._last_read, conn.transfers_started

    def _flush(self) -> None:
        out = self.conn.data_to_send()
        transport = self.transport
        if transport is None or self._lost:
            return
        if out:
            transport.write(out)
        if self.conn.closed:
            transport.close()

    def _dispatch(self, event: Any) -> None:
        policy = self.service.policy
        conn = self.conn
        if isinstance(event, Rcpt):
            envelope = conn.envelope
            assert envelope is not None
            self._run(event, policy.on_rcpt, self, envelope, event)
        elif isinstance(event, Mail):
            self._run(event, policy.on_mail, self, event)
        elif isinstance(event, MessageReceived):
            self._storing = len(event.message)
            self._run(event, policy.on_message, self, event.envelope, event.message)
        elif isinstance(event, Auth):
            self._auth_start(event)
        elif isinstance(event, AuthResponse):
            self._auth_step(event.line)
        else:  # pragma: no cover - the core has no other events
            raise TypeError(f"unexpected event {event!r}")

    def _run(self, event: Any, hook: Any, *args: Any) -> None:
        """Call a policy hook. A hook may answer at once (a Reply, or (Reply, data)) or
        return an awaitable: only then does the answer wait in a task, so cheap decisions
        cost no task and no loop iteration."""
        try:
            result = hook(*args)
        except Exception:
            self._hook_failed(event)
            result = TEMPFAIL
        if inspect.isawaitable(result):
            self._busy = True
            self.loop.create_task(self._answer(event, result))
        else:
            self._respond(event, result)

    def _hook_failed(self, event: Any) -> None:
        qid = self.conn.envelope.extra.get("queue_id", "-") if self.conn.envelope else "-"
        log.exception("%s: %s: policy failed on %s", self.id, qid, type(event).__name__)

    async def _answer(self, event: Any, awaitable: Awaitable[Any]) -> None:
        try:
            result = await awaitable
        except Exception:
            self._hook_failed(event)
            result = TEMPFAIL
        self._busy = False
        if self.conn.closed:
            return
        self._respond(event, result)
        self._pump()

    def _respond(self, event: Any, result: Any) -> None:
        conn = self.conn
        if isinstance(event, MessageReceived):
            self._storing = 0  # counted again at the end of the next _pump
        reply, data = result if isinstance(result, tuple) else (result, None)
        conn.respond(reply, data)
        if isinstance(event, Mail) and conn.envelope is not None:
            qid = new_queue_id()
            conn.envelope.extra["queue_id"] = qid
            log.info("%s: %s: client=%s[%s] from=<%s>", self.id, qid, conn.helo_name,
                     self.client_ip, event.sender)

    # -- AUTH -----------------------------------------------------------------------------
    def _auth_start(self, event: Auth) -> None:
        self._exchange = MECHANISMS[event.mechanism]()
        self._auth_result(lambda ex: ex.start(event.initial_response))

    def _auth_step(self, line: str) -> None:
        exchange = self._exchange
        if exchange is None:  # pragma: no cover - the core only sends responses mid-exchange
            self.conn.respond(Reply(503, "Error: no AUTH in progress", "5.5.1"))
            return
        self._auth_result(lambda ex: ex.step(line))

    def _auth_result(self, step: Any) -> None:
        exchange = self._exchange
        assert exchange is not None
        try:
            result = step(exchange)
        except SASLError as exc:
            self._exchange = None
            self.conn.respond(Reply(501, f"Error: {exc}", "5.5.2"))
            return
        if isinstance(result, Challenge):
            self.conn.auth_challenge(result.text)
            return
        self._exchange = None
        self._busy = True
        self.loop.create_task(self._authenticate(result.username, result.password))

    async def _authenticate(self, username: str, password: str) -> None:
        authenticator: Any = self.service.ctx.authenticator
        reply: Reply
        try:
            # The Authenticator delays and refuses throttled attempts itself; we only pick
            # the reply that tells the client to come back later.
            throttled = authenticator.is_throttled(self.client_ip, username)
            account = await authenticator.authenticate(username, password, self.client_ip)
            if account is not None:
                self.conn.authenticated = account.address
                reply = Reply(235, "Authentication successful", "2.7.0")
                log.info("%s: AUTH ok: %s from %s", self.id, account.address, self.client_ip)
            elif throttled:
                reply = Reply(454, "Error: too many failed attempts, try again later", "4.7.0")
                log.info("%s: AUTH throttled for %s from %s", self.id, username, self.client_ip)
            else:
                reply = Reply(535, "Authentication credentials invalid", "5.7.8")
                log.info("%s: AUTH failed for %s from %s", self.id, username, self.client_ip)
        except Exception:
            log.exception("%s: AUTH failed with an internal error", self.id)
            reply = Reply(454, "Error: temporary authentication failure", "4.7.0")
        self._busy = False
        if not self.conn.closed:
            self.conn.respond(reply)
            self._pump()

    # -- STARTTLS -------------------------------------------------------------------------
    def _begin_tls(self, event: StartTLSRequested) -> None:
        if event.discarded:
            log.warning("%s: discarded %d bytes pipelined after STARTTLS from %s",
                        self.id, event.discarded, self.client_ip)
        transport = self.transport
        assert transport is not None
        # Stop reading plaintext now: every byte from here on goes through the TLS layer.
        transport.pause_reading()
        self._busy = True
        self._flush()
        self._early_tls = []
        self.loop.create_task(self._upgrade(transport))

    async def _upgrade(self, transport: asyncio.Transport) -> None:
        tls_context = self.service.ctx.tls_context
        assert tls_context is not None
        try:
            new = await self.loop.start_tls(
                transport, self, tls_context, server_side=True,
                ssl_handshake_timeout=min(60.0, self.service.command_timeout),
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError, asyncio.CancelledError) as exc:
            log.info("%s: TLS handshake with %s failed: %s", self.id, self.client_ip, exc)
            self._early_tls = None
            transport.abort()
            return
        except Exception:
            log.exception("%s: STARTTLS failed", self.id)
            self._early_tls = None
            transport.abort()
            return
        if new is None:
            transport.abort()
            return
        self.transport = new
        if self._tracked is not None:
            self._tracked.transport = new
        self.tls_info = describe(new.get_extra_info("ssl_object"))
        self.conn.tls_started()
        early, self._early_tls = self._early_tls or [], None
        for data in early:
            self.conn.receive(data)
        self._busy = False
        log.debug("%s: TLS established: %s", self.id, self.tls_info)
        self._pump()

    # -- timeouts and shutdown --------------------------------------------------------------
    def _timeout(self) -> float:
        state = self.conn.state
        return self.service.data_timeout if state in (State.DATA, State.BDAT) else self.service.command_timeout

    def _total_deadline(self) -> tuple[float, str] | None:
        """The earliest total-time limit running, and what it bounds. The idle timeouts
        alone let a client that drips a byte just inside them hold a session forever."""
        service = self.service
        deadlines = []
        if self._line_started is not None:
            deadlines.append((self._line_started + LINE_TOTAL_FACTOR * service.command_timeout,
                              "command line"))
        if self._transfer_started is not None:
            deadlines.append((self._transfer_started + service.data_total_timeout, "message"))
        return min(deadlines) if deadlines else None

    def _arm_timer(self) -> None:
        # Check at least every min(command, data timeout): the state (and so the timeout
        # that applies) may change between two checks, and a total-time limit may start.
        service = self.service
        step = min(service.command_timeout, service.data_timeout)
        at = min(self._last_read + self._timeout(), self.loop.time() + step)
        total = self._total_deadline()
        if total is not None:
            at = min(at, total[0])
        self._timer = self.loop.call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._lost or self.conn.closed:
            return
        now = self.loop.time()
        deadline = self._last_read + self._timeout()
        if self._busy:
            # We owe the client an answer; its silence is not idleness.
            self._last_read = now
        elif now >= deadline:
            log.info("%s: timeout after %s from %s", self.id, self.conn.state.value, self.client_ip)
            self.conn.close(Reply(421, f"{self.service.hostname} Error: timeout exceeded", "4.4.2"))
            self._flush()
            return
        else:
            total = self._total_deadline()
            if total is not None and now >= total[0]:
                log.info("%s: %s from %s took too long in total", self.id, total[1], self.client_ip)
                self.conn.close(Reply(421, f"{self.service.hostname} Error: {total[1]} took too "
                                      "long, closing", "4.4.2"))
                self._flush()
                return
        self._arm_timer()

    def request_close(self) -> None:
        """Shutdown: an idle session says 421 now; one mid-message finishes first."""
        if self._lost or self.conn is None or self.conn.closed:
            return
        self._close_requested = True
        if self.conn.idle and not self._busy:
            self.conn.close(Reply(421, f"{self.service.hostname} Service shutting down", "4.3.2"))
            self._flush()
