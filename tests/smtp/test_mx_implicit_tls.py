"""Implicit TLS (smtps/submissions, port 465): a connection counts from its accept, not
from the end of its handshake, so clients that connect and say nothing cannot escape the
connection limits or the shutdown tracker."""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

import pytest

from mailstead.config import ListenAddress
from mailstead.smtp.policy import MxPolicy
from mailstead.smtp.server import start_smtp_service
from mailstead.testing import client_tls_context


def wait_until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(200):  # bounded: 10 s at most
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def start_smtps(mx: Any) -> tuple[Any, int]:
    server = mx.run(start_smtp_service(mx.ctx, ListenAddress(mx.host, 0), True, "smtps-test",
                                       MxPolicy(mx.ctx)))
    return server, server.sockets[0].getsockname()[1]


def test_silent_clients_count_against_the_limits(mx_factory: Any) -> None:
    mx = mx_factory(limits={"max_connections_per_ip": 2})
    server, port = start_smtps(mx)
    silent = [socket.create_connection((mx.host, port), 10) for _ in range(2)]
    try:
        wait_until(lambda: len(mx.ctx.connections) == 2, "the silent clients to be tracked")
        # A third client is refused at accept: closed before any handshake.
        with pytest.raises((ssl.SSLError, OSError, smtplib.SMTPServerDisconnected)):
            smtplib.SMTP_SSL(mx.host, port, context=client_tls_context(), timeout=10)
        # A failed handshake gives its slot back.
        silent[0].sendall(b"this is not a ClientHello\r\n")
        wait_until(lambda: len(mx.ctx.connections) == 1, "the failed handshake to be released")
        with smtplib.SMTP_SSL(mx.host, port, context=client_tls_context(), timeout=10) as smtp:
            assert smtp.ehlo("client.test")[0] == 250
            assert len(mx.ctx.connections) == 2
            smtp.sendmail("s@remote.test", ["alice@example.test"], b"Subject: x\r\n\r\nx\r\n")
        wait_until(lambda: len(mx.ctx.connections) == 1, "the TLS session to be released")
    finally:
        for sock in silent:
            sock.close()
        server.close()
    wait_until(lambda: len(mx.ctx.connections) == 0, "every connection to be released")
    assert len(mx.mailbox("alice@example.test")) == 1


def test_shutdown_reaches_a_client_stuck_before_its_handshake(mx: Any) -> None:
    server, port = start_smtps(mx)
    silent = socket.create_connection((mx.host, port), 10)
    try:
        wait_until(lambda: len(mx.ctx.connections) == 1, "the silent client to be tracked")
        mx.run(mx.ctx.connections.drain(0.2))
        silent.settimeout(10)
        with contextlib.suppress(ConnectionResetError):  # aborted: just as closed
            assert silent.recv(1) == b""
        assert len(mx.ctx.connections) == 0
    finally:
        silent.close()
        server.close()
