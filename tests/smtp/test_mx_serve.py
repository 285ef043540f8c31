"""Against the real program: `mailstead serve` in a subprocess (shared fixture)."""

from __future__ import annotations

import smtplib
import socket
from typing import Any

from mailstead.testing import client_tls_context, read_mailbox

MESSAGE = b"From: s@remote.test\r\nTo: alice@example.test\r\nSubject: serve\r\n\r\nHello over port 25.\r\n"


def test_serve_delivers_with_trace_headers(mailstead_server: Any) -> None:
    server = mailstead_server
    with smtplib.SMTP(server.host, server.smtp_port, local_hostname="client.remote.test", timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("chunking") and smtp.has_extn("starttls")
        refused = smtp.sendmail("s@remote.test", ["alice@example.test", "bob@example.test"], MESSAGE)
        assert refused == {}
    for user in ("alice", "bob"):
        (raw,) = read_mailbox(server, f"{user}@example.test")
        assert raw.startswith(f"Return-Path: <s@remote.test>\r\nDelivered-To: {user}@example.test\r\n"
                              "Received: from client.remote.test ([".encode())
        assert raw.endswith(MESSAGE)
    assert "delivered from=<s@remote.test>" in server.log_text()


def test_serve_starttls_auth_and_rejections(mailstead_server: Any) -> None:
    server = mailstead_server
    with smtplib.SMTP(server.host, server.smtp_port, timeout=10) as smtp:
        smtp.starttls(context=client_tls_context())
        smtp.ehlo("client.test")
        smtp.login("alice@example.test", "secret-password")
        smtp.mail("alice@example.test")
        assert smtp.rcpt("nobody@example.test")[0] == 550
        assert smtp.rcpt("bob@example.test")[0] == 250
        assert smtp.data(MESSAGE)[0] == 250
    (raw,) = read_mailbox(server, "bob@example.test")
    assert b"with ESMTPSA id" in raw


def test_serve_survives_garbage(mailstead_server: Any) -> None:
    server = mailstead_server
    with socket.create_connection((server.host, server.smtp_port), 10) as sock:
        sock.recv(1000)
        sock.sendall(bytes(range(256)) * 40 + b"\r\n")
        sock.recv(10000)
    with smtplib.SMTP(server.host, server.smtp_port, timeout=10) as smtp:
        assert smtp.noop()[0] == 250
        smtp.ehlo()
        smtp.mail("<>")
        assert smtp.rcpt("postmaster")[0] == 250


def test_sigterm_lets_a_message_in_flight_finish(mailstead_server: Any) -> None:
    import signal

    from mailstead.proto.smtp import ReplyParser

    server = mailstead_server
    parser = ReplyParser()

    def replies(sock: socket.socket, count: int) -> list[Any]:
        got: list[Any] = []
        while len(got) < count:
            data = sock.recv(65536)
            assert data, f"closed after {got}"
            got += parser.feed(data)
        return got

    with socket.create_connection((server.host, server.smtp_port), 10) as sock:
        sock.sendall(b"EHLO c\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
        assert [r.code for r in replies(sock, 5)] == [220, 250, 250, 250, 354]
        sock.sendall(b"Subject: in flight\r\n\r\n")
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        sock.sendall(b"still arriving\r\n.\r\n")
        final = replies(sock, 2)
        assert [r.code for r in final] == [250, 421]
        assert final[1].enhanced == "4.3.2"
    assert server.proc.wait(20) == 0
    (raw,) = read_mailbox(server, "alice@example.test")
    assert raw.endswith(b"Subject: in flight\r\n\r\nstill arriving\r\n")


def test_serve_policy_limits_and_bdat(server_factory: Any) -> None:
    """The MX rules once more against the real program, in one session per concern."""
    server = server_factory(
        config_overrides={"limits": {"max_message_size": 5000}},
        users={"alice@example.test": "pw-alice-123", "bob@example.test": "pw-bob-123"},
    )
    server.cli("alias", "add", "team@example.test", "alice@example.test")
    server.cli("alias", "add", "team@example.test", "bob@example.test")
    with smtplib.SMTP(server.host, server.smtp_port, timeout=10) as smtp:
        smtp.ehlo("client.test")
        assert smtp.esmtp_features["size"] == "5000"
        assert smtp.mail("s@remote.test", ["SIZE=9000"])[0] == 552
        smtp.rset()
        smtp.mail("<>")
        assert smtp.rcpt("nobody@example.test")[0] == 550
        assert smtp.rcpt("someone@elsewhere.test")[0] == 554
        assert smtp.docmd("RCPT", "TO:<alice%elsewhere.test@example.test>")[0] == 554
        assert smtp.docmd("RCPT", "TO:<@relay.test:alice@example.test>")[0] == 554
        assert smtp.rcpt("<postmaster>")[0] == 250
        assert smtp.rcpt("team@example.test")[0] == 250
        assert smtp.data(MESSAGE)[0] == 250
        smtp.mail("s@remote.test")
        smtp.rcpt("bob@example.test")
        assert smtp.data(MESSAGE + b"x" * 6000 + b"\r\n")[0] == 552
    with socket.create_connection((server.host, server.smtp_port), 10) as sock:
        sock.sendall(b"EHLO c\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<bob@example.test>\r\n"
                     b"BDAT %d LAST\r\n%sQUIT\r\n" % (len(MESSAGE), MESSAGE))
        data = b""
        while not data.endswith(b"221 2.0.0 Bye\r\n"):
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
        assert b"250 2.0.0 Ok: queued as " in data
    alice = read_mailbox(server, "alice@example.test")
    bob = read_mailbox(server, "bob@example.test")
    assert len(alice) == 1 and len(bob) == 2  # postmaster and team reach alice once
    assert all(m.endswith(MESSAGE) for m in alice + bob)
