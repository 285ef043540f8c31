"""The MX server over raw sockets: BDAT, pipelining, STARTTLS, garbage, limits, timeouts."""

from __future__ import annotations

import asyncio
import smtplib
import socket
import ssl
import time
from types import SimpleNamespace
from typing import Any

import pytest

from mailstead.proto.smtp import Reply, ReplyParser
from mailstead.testing import client_tls_context

MESSAGE = b"From: s@remote.test\r\nSubject: raw\r\n\r\nbody\r\n"


class Raw:
    def __init__(self, mx: Any, timeout: float = 10) -> None:
        self.sock: socket.socket | ssl.SSLSocket = socket.create_connection((mx.host, mx.port), timeout)
        self.parser = ReplyParser(max_line_length=1 << 16)
        self.pending: list[Reply] = []

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def replies(self, count: int) -> list[Reply]:
        while len(self.pending) < count:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError(f"closed after {self.pending}")
            self.pending += self.parser.feed(data)
        out, self.pending = self.pending[:count], self.pending[count:]
        return out

    def codes(self, data: bytes, count: int) -> list[int]:
        self.send(data)
        return [r.code for r in self.replies(count)]

    def closed(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, ssl.SSLError):
            return True

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw(mx: Any) -> Any:
    clients: list[Raw] = []

    def connect(server: Any = None, **kwargs: Any) -> Raw:
        c = Raw(server or mx, **kwargs)
        clients.append(c)
        assert c.replies(1)[0].code == 220
        return c

    yield connect
    for c in clients:
        c.close()


def test_pipelining_in_one_write(mx: Any, raw: Any) -> None:
    c = raw()
    c.send(b"EHLO c.test\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@example.test>\r\n"
           b"RCPT TO:<nobody@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n")
    replies = c.replies(6)
    assert [r.code for r in replies] == [250, 250, 250, 550, 250, 354]
    assert c.codes(MESSAGE + b".\r\nMAIL FROM:<>\r\nRCPT TO:<carol@example.test>\r\nDATA\r\n", 4) == [
        250, 250, 250, 354]
    assert c.codes(MESSAGE + b".\r\nQUIT\r\n", 2) == [250, 221]
    assert len(mx.mailbox("alice@example.test")) == 1 and len(mx.mailbox("carol@example.test")) == 1


def test_bdat(mx: Any, raw: Any) -> None:
    c = raw()
    part1, part2 = MESSAGE[:20], MESSAGE[20:]
    c.send(b"EHLO c.test\r\nMAIL FROM:<s@remote.test> BODY=8BITMIME\r\nRCPT TO:<alice@example.test>\r\n")
    assert [r.code for r in c.replies(3)] == [250, 250, 250]
    c.send(b"BDAT %d\r\n%s" % (len(part1), part1))
    c.send(b"BDAT %d LAST\r\n%s" % (len(part2), part2))
    first, last = c.replies(2)
    assert first.code == 250 and last.code == 250 and "queued as" in last.message
    # BDAT 0 LAST ends a message too; an empty chunk alone is fine.
    assert c.codes(b"MAIL FROM:<s@remote.test>\r\nRCPT TO:<bob@example.test>\r\n"
                   b"BDAT 0\r\nBDAT %d\r\n%sBDAT 0 LAST\r\n" % (len(MESSAGE), MESSAGE), 5) == [
        250, 250, 250, 250, 250]
    (alice,) = mx.mailbox("alice@example.test")
    (bob,) = mx.mailbox("bob@example.test")
    assert alice.endswith(MESSAGE) and bob.endswith(MESSAGE)


def test_bdat_oversize(mx_factory: Any, raw: Any) -> None:
    mx = mx_factory(limits={"max_message_size": 1000})
    c = raw(mx)
    assert c.codes(b"EHLO c\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@example.test>\r\n", 3) == [250] * 3
    big = b"x" * 1500
    replies = c.codes(b"BDAT 1500 LAST\r\n" + big + b"NOOP\r\n", 2)
    assert replies == [552, 250]
    assert mx.mailbox("alice@example.test") == []


def test_bare_lf_refused_and_not_smuggled(mx: Any, raw: Any) -> None:
    c = raw()
    assert c.codes(b"EHLO c\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n", 4) == [
        250, 250, 250, 354]
    c.send(b"Subject: a\r\n\r\nfirst\n.\nMAIL FROM:<evil@remote.test>\r\nRCPT TO:<bob@example.test>\r\n"
           b"DATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n")
    (reply,) = c.replies(1)
    assert (reply.code, reply.enhanced) == (550, "5.6.11")
    assert c.closed()
    assert mx.mailbox("alice@example.test") == [] and mx.mailbox("bob@example.test") == []


def test_starttls_then_auth(mx: Any, raw: Any) -> None:
    with smtplib.SMTP(mx.host, mx.port, timeout=10) as smtp:
        smtp.ehlo("client.test")
        assert smtp.has_extn("starttls")
        smtp.starttls(context=client_tls_context())
        smtp.ehlo("client.test")
        assert not smtp.has_extn("starttls")
        assert "PLAIN" in smtp.esmtp_features["auth"]
        with pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.login("alice@example.test", "wrong")
        assert smtp.login("alice@example.test", "secret-password")[0] == 235
        smtp.sendmail("alice@example.test", ["bob@example.test"], MESSAGE)
    (raw_message,) = mx.mailbox("bob@example.test")
    received = raw_message[raw_message.index(b"Received:"):]
    assert b"with ESMTPSA id" in received
    assert b"(using TLSv1." in received and b"with cipher" in received


def test_auth_login_mechanism(mx: Any) -> None:
    with smtplib.SMTP(mx.host, mx.port, timeout=10) as smtp:
        smtp.starttls(context=client_tls_context())
        smtp.ehlo("client.test")
        smtp.user, smtp.password = "bob@example.test", "secret-password"
        code, _ = smtp.auth("LOGIN", smtp.auth_login, initial_response_ok=False)
        assert code == 235


def test_authenticated_relay_is_refused_for_now(mx: Any) -> None:
    with smtplib.SMTP(mx.host, mx.port, timeout=10) as smtp:
        smtp.starttls(context=client_tls_context())
        smtp.ehlo("client.test")
        smtp.login("alice@example.test", "secret-password")
        smtp.mail("alice@example.test")
        code, text = smtp.rcpt("someone@elsewhere.test")
        assert code == 451 and text.startswith(b"4.3.5 ")


def test_auth_needs_tls_when_not_trusted(mx_factory: Any, raw: Any) -> None:
    mx = mx_factory(auth={"allow_plaintext_from": ["192.0.2.0/24"]})
    c = raw(mx)
    c.send(b"EHLO c\r\n")
    (reply,) = c.replies(1)
    assert not any(line.startswith("AUTH") for line in reply.lines)
    c.send(b"AUTH PLAIN AGFAYg==\r\n")
    (reply,) = c.replies(1)
    assert (reply.code, reply.enhanced) == (538, "5.7.11")


def test_starttls_injection_is_discarded(mx: Any, raw: Any) -> None:
    """CVE-2011-0411: plaintext pipelined after STARTTLS must not be read as if over TLS."""
    c = raw()
    assert c.codes(b"EHLO c.test\r\n", 1) == [250]
    c.send(b"STARTTLS\r\nRSET\r\n")
    (reply,) = c.replies(1)
    assert reply.code == 220
    tls = client_tls_context().wrap_socket(c.sock, server_hostname="mx.example.test")
    c.sock = tls
    c.parser = ReplyParser()
    # If RSET had been kept it would be answered now, before our NOOP's reply.
    c.send(b"NOOP\r\n")
    (reply,) = c.replies(1)
    assert (reply.code, reply.message) == (250, "Ok")
    tls.settimeout(0.3)
    with pytest.raises(TimeoutError):
        tls.recv(100)
    tls.settimeout(10)
    # And the session was reset: MAIL needs a new EHLO.
    assert c.codes(b"MAIL FROM:<s@remote.test>\r\n", 1) == [503]
    assert c.codes(b"EHLO c.test\r\nMAIL FROM:<s@remote.test>\r\n", 2) == [250, 250]


def test_garbage_malformed_and_overlong(mx: Any, raw: Any) -> None:
    c = raw()
    assert c.codes(b"\x00\xff\xfe\x80garbage\r\n", 1) == [500]
    assert c.codes(b"EHLO\r\n", 1) == [501]
    assert c.codes(b"MAIL FROM:<<<>>>\r\n", 1) == [501]
    assert c.codes(b"EHLO c\r\nMAIL FROM:<a@@b>\r\n", 2) == [250, 501]
    assert c.codes(b"RCPT TO:<alice@example.test>\r\n", 1) == [503]
    assert c.codes(b"X" * 10_000 + b"\r\n", 1) == [500]
    assert c.codes(bytes(b for b in range(256) if b != 10) * 3 + b"\r\n", 1) == [500]
    assert c.codes(b"NOOP\r\n", 1) == [250]
    # the server is still up for others
    other = raw()
    assert other.codes(b"QUIT\r\n", 1) == [221]


def test_too_many_errors_disconnects(mx_factory: Any, raw: Any) -> None:
    mx = mx_factory(limits={"max_errors": 3})
    c = raw(mx)
    assert c.codes(b"BAD\r\nBAD\r\nBAD\r\nNOOP\r\n", 4) == [500, 500, 500, 421]
    assert c.closed()


def test_command_timeout(mx_factory: Any, raw: Any) -> None:
    mx = mx_factory(limits={"command_timeout": 1})
    c = raw(mx)
    (reply,) = c.replies(1)
    assert (reply.code, reply.enhanced) == (421, "4.4.2")
    assert c.closed()


def test_data_timeout(mx_factory: Any, raw: Any) -> None:
    mx = mx_factory(limits={"data_timeout": 1, "command_timeout": 30})
    c = raw(mx)
    assert c.codes(b"EHLO c\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n", 4)[-1] == 354
    c.send(b"Subject: slow\r\n")
    (reply,) = c.replies(1)
    assert (reply.code, reply.enhanced) == (421, "4.4.2")
    assert mx.mailbox("alice@example.test") == []


def test_connection_limits(mx_factory: Any, raw: Any) -> None:
    mx = mx_factory(limits={"max_connections_per_ip": 2, "max_connections": 3})
    a, b = raw(mx), raw(mx)
    refused = Raw(mx)
    (reply,) = refused.replies(1)
    assert (reply.code, reply.enhanced) == (421, "4.7.0")
    assert refused.closed()
    refused.close()
    a.codes(b"QUIT\r\n", 1)
    a.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        c = Raw(mx)
        if c.replies(1)[0].code == 220:
            break
        c.close()
        time.sleep(0.05)
    else:
        raise AssertionError("slot was not released")
    assert c.codes(b"NOOP\r\n", 1) == [250]
    c.close()
    del b


def test_store_failure_gets_451_and_session_survives(mx: Any, raw: Any) -> None:
    original = mx.store.deliver

    async def broken(delivery: Any) -> Any:
        raise OSError("disk on fire")

    mx.store.deliver = broken
    try:
        c = raw()
        assert c.codes(b"EHLO c\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n", 4)[-1] == 354
        c.send(MESSAGE + b".\r\n")
        (reply,) = c.replies(1)
        assert (reply.code, reply.enhanced) == (451, "4.3.0")
    finally:
        mx.store.deliver = original
    assert c.codes(b"MAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n", 3) == [250, 250, 354]
    assert c.codes(MESSAGE + b".\r\n", 1) == [250]
    assert len(mx.mailbox("alice@example.test")) == 1


def test_shutdown_says_421_to_idle_sessions(mx_factory: Any, raw: Any) -> None:
    mx = mx_factory()
    idle = raw(mx)
    busy = raw(mx)
    assert busy.codes(b"EHLO c\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n", 4)[-1] == 354
    busy.send(b"Subject: in flight\r\n\r\n")

    async def drain() -> None:
        mx.server.close()
        await mx.ctx.connections.drain(5)

    future = asyncio.run_coroutine_threadsafe(drain(), mx.loop)
    (reply,) = idle.replies(1)
    assert (reply.code, reply.enhanced) == (421, "4.3.2")
    busy.send(b"still here\r\n.\r\n")
    replies = busy.replies(2)
    assert replies[0].code == 250 and replies[1].code == 421
    future.result(10)
    assert len(mx.mailbox("alice@example.test")) == 1


def test_half_close_still_gets_every_reply(mx: Any, raw: Any) -> None:
    c = raw()
    c.send(b"EHLO c\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
    assert [r.code for r in c.replies(4)] == [250, 250, 250, 354]
    c.send(MESSAGE + b".\r\nQUIT\r\n")
    c.sock.shutdown(socket.SHUT_WR)
    assert [r.code for r in c.replies(2)] == [250, 221]
    assert len(mx.mailbox("alice@example.test")) == 1


def test_policy_exception_is_451_and_session_carries_on(mx: Any, raw: Any) -> None:
    from mailstead.smtp.policy import MxPolicy

    original = MxPolicy.on_mail

    def broken(self: Any, session: Any, mail: Any) -> Any:
        raise RuntimeError("bug in a hook")

    MxPolicy.on_mail = broken  # type: ignore[method-assign]
    try:
        c = raw()
        assert c.codes(b"EHLO c\r\nMAIL FROM:<s@remote.test>\r\n", 2) == [250, 451]
    finally:
        MxPolicy.on_mail = original  # type: ignore[method-assign]
    assert c.codes(b"MAIL FROM:<s@remote.test>\r\nRCPT TO:<bob@example.test>\r\n", 2) == [250, 250]


def test_auth_failures_are_throttled(mx_factory: Any, raw: Any) -> None:
    mx = mx_factory(auth={"max_failures": 2})
    c = raw(mx)
    assert c.codes(b"EHLO c\r\n", 1) == [250]
    bad = b"AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAB3cm9uZw==\r\n"  # alice@example.test / wrong
    assert c.codes(bad, 1) == [535]
    assert c.codes(bad, 1) == [535]
    good = b"AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQtcGFzc3dvcmQ=\r\n"
    c.send(good)
    (reply,) = c.replies(1)
    assert (reply.code, reply.enhanced) == (454, "4.7.0")


def test_smtputf8_delivery(mx: Any, raw: Any) -> None:
    c = raw()
    message = "From: jörg@remote.test\r\nSubject: grüße\r\n\r\nÄrger\r\n".encode()
    assert c.codes("EHLO c\r\nMAIL FROM:<jörg@remote.test> SMTPUTF8 BODY=8BITMIME\r\n"
                   "RCPT TO:<alice@example.test>\r\nDATA\r\n".encode(), 4) == [250, 250, 250, 354]
    assert c.codes(message + b".\r\n", 1) == [250]
    (stored,) = mx.mailbox("alice@example.test")
    assert stored.startswith("Return-Path: <jörg@remote.test>\r\n".encode())
    assert b"with UTF8SMTP id" in stored and stored.endswith(message)


def test_bare_cr_refused(mx: Any, raw: Any) -> None:
    c = raw()
    assert c.codes(b"EHLO c\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n", 4)[-1] == 354
    c.send(b"Subject: a\r\n\r\nline\rmore\r\n.\r\n")
    (reply,) = c.replies(1)
    assert (reply.code, reply.enhanced) == (550, "5.6.11")
    assert mx.mailbox("alice@example.test") == []


def test_implicit_tls_listener(mx: Any) -> None:
    from mailstead.config import ListenAddress
    from mailstead.smtp.policy import MxPolicy
    from mailstead.smtp.server import start_smtp_service

    server = mx.run(start_smtp_service(mx.ctx, ListenAddress(mx.host, 0), True, "smtps-test",
                                       MxPolicy(mx.ctx)))
    port = server.sockets[0].getsockname()[1]
    try:
        with smtplib.SMTP_SSL(mx.host, port, context=client_tls_context(), timeout=10) as smtp:
            smtp.ehlo("client.test")
            assert not smtp.has_extn("starttls")
            smtp.login("bob@example.test", "secret-password")
            smtp.sendmail("bob@example.test", ["alice@example.test"], MESSAGE)
    finally:
        server.close()
    (stored,) = mx.mailbox("alice@example.test")
    assert b"with ESMTPSA id" in stored and b"(using TLSv1." in stored


def test_internal_error_in_session_is_421_and_server_carries_on(mx: Any, raw: Any) -> None:
    from mailstead.proto.smtp import ServerConnection

    original = ServerConnection.next_event
    calls = {"n": 0}

    def flaky(self: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("bug in the core")
        return original(self)

    c = raw()
    ServerConnection.next_event = flaky  # type: ignore[method-assign]
    try:
        c.send(b"NOOP\r\n")
        (reply,) = c.replies(1)
    finally:
        ServerConnection.next_event = original  # type: ignore[method-assign]
    assert (reply.code, reply.enhanced) == (421, "4.3.0")
    assert c.closed()
    assert raw().codes(b"NOOP\r\n", 1) == [250]


def test_listeners_of_one_service_share_the_limiter(mx_factory: Any, raw: Any) -> None:
    from mailstead.config import ListenAddress
    from mailstead.smtp.server import start_mx

    mx = mx_factory(limits={"max_connections_per_ip": 1})
    second = mx.run(start_mx(mx.ctx, ListenAddress(mx.host, 0), False))
    try:
        raw(mx)  # holds the one slot this address has
        other = Raw(SimpleNamespace(host=mx.host, port=second.sockets[0].getsockname()[1]))
        (reply,) = other.replies(1)
        assert (reply.code, reply.enhanced) == (421, "4.7.0")
        other.close()
    finally:
        second.close()
