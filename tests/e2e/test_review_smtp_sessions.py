"""Review: STARTTLS, AUTH and throttling, connection limits, timeouts, idle and slow clients on
port 25, over raw sockets and real TLS."""

from __future__ import annotations

import base64
import contextlib
import smtplib
import socket
import threading
import time

from mailstead.testing import MailsteadServer, ServerFactory, read_mailbox
from mailstead.testing import RawSMTPClient as Raw

USERS = {"alice@example.test": "secret-password", "bob@example.test": "secret-password"}
NO_PLAINTEXT = {"auth": {"allow_plaintext_from": []}}


def open_session(server: MailsteadServer, source: str | None = None) -> Raw:
    raw = Raw(server.host, server.smtp_port, source=source)
    assert raw.reply()[0] == 220
    assert raw.cmd("EHLO client.test")[0] == 250
    return raw


def plain(user: str, password: str, authzid: str = "") -> str:
    return base64.b64encode(f"{authzid}\0{user}\0{password}".encode()).decode()


def message(subject: str) -> bytes:
    return f"From: s@sender.test\r\nTo: alice@example.test\r\nSubject: {subject}\r\n\r\nhi\r\n".encode()


def assert_healthy(server: MailsteadServer, source: str | None = None) -> None:
    with smtplib.SMTP(server.host, server.smtp_port, timeout=10,
                      source_address=(source, 0) if source else None) as smtp:
        assert smtp.sendmail("s@sender.test", ["alice@example.test"], message("health")) == {}
    assert server.running
    assert "Traceback" not in server.log_text()


def other_source(server: MailsteadServer, n: int) -> str:
    """Another loopback client address, distinct from the server's and 127.0.0.1."""
    _, b, c, d = (int(x) for x in server.host.split("."))
    return f"127.{b}.{c}.{(d + n) % 250 + 1}"


# -- STARTTLS ----------------------------------------------------------------------------

def test_starttls_twice_and_state_reset(server_factory: ServerFactory) -> None:
    server = server_factory(users=USERS)
    with open_session(server) as raw:
        assert raw.cmd("MAIL FROM:<s@sender.test>")[0] == 250
        assert raw.cmd("STARTTLS")[0] == 220
        raw.starttls()
        # The transaction and the EHLO from before the handshake are forgotten.
        assert raw.cmd("MAIL FROM:<s@sender.test>")[0] == 503
        code, text = raw.cmd("EHLO client.test")
        assert code == 250 and "STARTTLS" not in text
        assert raw.cmd("STARTTLS")[0] in (503, 554)
        assert raw.cmd("MAIL FROM:<s@sender.test>")[0] == 250
        assert raw.cmd("RCPT TO:<alice@example.test>")[0] == 250
        assert raw.cmd("DATA")[0] == 354
        raw.send(message("over tls") + b".\r\n")
        assert raw.reply()[0] == 250
    stored = read_mailbox(server, "alice@example.test")
    assert len(stored) == 1
    assert b"(using TLS" in stored[0].split(b"\r\n\r\n")[0]
    assert b"with ESMTPS" in stored[0]
    assert_healthy(server)


def test_starttls_with_pipelined_plaintext_is_not_carried_over(server_factory: ServerFactory) -> None:
    server = server_factory(users=USERS)
    with open_session(server) as raw:
        # Injected after STARTTLS in the same packet: must never be answered over TLS.
        raw.send(b"STARTTLS\r\nEHLO injected.test\r\nMAIL FROM:<s@sender.test>\r\n"
                 b"RCPT TO:<bob@example.test>\r\nDATA\r\nSubject: injected\r\n\r\nx\r\n.\r\n")
        assert raw.reply()[0] == 220
        raw.buf = b""  # anything further in plaintext would itself be a bug
        raw.starttls()
        code, _ = raw.cmd("MAIL FROM:<s@sender.test>")
        assert code == 503, "the pipelined EHLO crossed the TLS upgrade"
        assert raw.cmd("EHLO client.test")[0] == 250
        assert raw.cmd("NOOP")[0] == 250
    assert read_mailbox(server, "bob@example.test") == []
    assert_healthy(server)


def test_starttls_with_a_broken_handshake(server_factory: ServerFactory) -> None:
    server = server_factory(users=USERS)
    with open_session(server) as raw:
        assert raw.cmd("STARTTLS")[0] == 220
        raw.send(b"this is not a TLS client hello\r\n" * 10)
        assert raw.closed()
    with open_session(server) as raw:
        assert raw.cmd("STARTTLS")[0] == 220
    # (closed without a handshake)
    assert_healthy(server)


# -- AUTH ------------------------------------------------------------------------------------

def test_auth_needs_tls_from_untrusted_addresses(server_factory: ServerFactory) -> None:
    server = server_factory(NO_PLAINTEXT, users=USERS)
    with Raw(server.host, server.smtp_port) as raw:
        assert raw.reply()[0] == 220
        code, text = raw.cmd("EHLO client.test")
        assert code == 250 and "AUTH" not in text
        code, text = raw.cmd("AUTH PLAIN " + plain("alice@example.test", "secret-password"))
        assert code == 538, text
        code, _ = raw.cmd("AUTH LOGIN")
        assert code == 538
        assert raw.cmd("STARTTLS")[0] == 220
        raw.starttls()
        code, text = raw.cmd("EHLO client.test")
        assert "AUTH" in text
        assert raw.cmd("AUTH PLAIN !!!notbase64")[0] == 501
        assert raw.cmd("AUTH PLAIN " + base64.b64encode(b"no-nuls").decode())[0] == 501
        assert raw.cmd("AUTH CRAM-MD5")[0] == 504
        # Another user's authorization identity is refused.
        code, _ = raw.cmd("AUTH PLAIN " + plain("alice@example.test", "secret-password",
                                               authzid="bob@example.test"))
        assert code >= 500
        code, text = raw.cmd("AUTH PLAIN " + plain("alice@example.test", "secret-password"))
        assert code == 235, text
        assert raw.cmd("AUTH PLAIN " + plain("alice@example.test", "secret-password"))[0] == 503
        # AUTH LOGIN cancelled midway
    with Raw(server.host, server.smtp_port) as raw:
        assert raw.reply()[0] == 220
        raw.cmd("EHLO client.test")
        assert raw.cmd("STARTTLS")[0] == 220
        raw.starttls()
        raw.cmd("EHLO client.test")
        assert raw.cmd("AUTH LOGIN")[0] == 334
        assert raw.cmd("*")[0] == 501
        assert raw.cmd("NOOP")[0] == 250
    assert_healthy(server)


def test_auth_failures_are_throttled_per_address(server_factory: ServerFactory) -> None:
    server = server_factory(
        {"auth": {"max_failures": 3, "failure_delay": 1, "failure_window": 60}}, users=USERS
    )
    attacker = other_source(server, 7)
    with open_session(server, source=attacker) as raw:
        for n in range(3):
            code, text = raw.cmd("AUTH PLAIN " + plain(f"nobody{n}@example.test", "guess"))
            assert code == 535, text
    # From the attacker's address even the right password is now refused.
    with open_session(server, source=attacker) as raw:
        started = time.monotonic()
        code, text = raw.cmd("AUTH PLAIN " + plain("alice@example.test", "secret-password"))
        assert code in (454, 535), text
        assert time.monotonic() - started < 10  # delayed, not hung
    # Another address is not affected: the throttle is per client address.
    with open_session(server, source=other_source(server, 23)) as raw:
        code, text = raw.cmd("AUTH PLAIN " + plain("alice@example.test", "secret-password"))
        assert code == 235, text
    assert_healthy(server)


def test_auth_failures_for_one_user_are_throttled(server_factory: ServerFactory) -> None:
    server = server_factory(
        {"auth": {"max_failures": 3, "failure_delay": 1, "failure_window": 60}}, users=USERS
    )
    for n in range(3):
        with open_session(server, source=other_source(server, 40 + n)) as raw:
            assert raw.cmd("AUTH PLAIN " + plain("bob@example.test", "guess"))[0] == 535
    with open_session(server, source=other_source(server, 60)) as raw:
        code, _ = raw.cmd("AUTH PLAIN " + plain("bob@example.test", "secret-password"))
        assert code in (454, 535)
    assert_healthy(server)


# -- connection limits, timeouts, idle and slow clients -----------------------------------

def test_connection_limits_per_ip_and_total(server_factory: ServerFactory) -> None:
    server = server_factory({"limits": {"max_connections_per_ip": 2, "max_connections": 4}},
                            users=USERS)
    a = other_source(server, 3)
    held = [open_session(server, source=a), open_session(server, source=a)]
    with Raw(server.host, server.smtp_port, source=a) as raw:
        code, _ = raw.reply()
        assert code == 421
        assert raw.closed()
    b = other_source(server, 5)
    held += [open_session(server, source=b), open_session(server, source=b)]
    with Raw(server.host, server.smtp_port, source=other_source(server, 9)) as raw:
        assert raw.reply()[0] == 421
    # The held sessions still work.
    for raw in held:
        assert raw.cmd("NOOP")[0] == 250
    held.pop(0).close()
    held.pop().close()
    time.sleep(0.3)
    assert_healthy(server, source=a)
    for raw in held:
        raw.close()


def test_command_timeout_and_silent_connections(server_factory: ServerFactory) -> None:
    server = server_factory({"limits": {"command_timeout": 1, "data_timeout": 1}}, users=USERS)
    silent = [socket.create_connection((server.host, server.smtp_port), 10) for _ in range(30)]
    with open_session(server) as raw:
        code, text = raw.reply()  # said nothing: the server says goodbye
        assert code == 421 and "4.4.2" in text
        assert raw.closed()
    with open_session(server) as raw:
        assert raw.cmd("MAIL FROM:<s@sender.test>")[0] == 250
        assert raw.cmd("RCPT TO:<alice@example.test>")[0] == 250
        assert raw.cmd("DATA")[0] == 354
        raw.send(b"Subject: stalled\r\n")
        assert raw.reply()[0] == 421
        assert raw.closed()
    # Every silent connection is closed by the server.
    for sock in silent:
        sock.settimeout(10)
        data = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(4096):
                data += chunk
        assert data.startswith(b"220 ") and b"421 " in data
        sock.close()
    assert read_mailbox(server, "alice@example.test") == []
    assert_healthy(server)


def test_slow_client_within_bounds_is_served_while_others_are_too(
    server_factory: ServerFactory,
) -> None:
    server = server_factory({"limits": {"command_timeout": 1, "data_timeout": 1}}, users=USERS)
    result: dict[str, object] = {}

    def drip() -> None:
        try:
            with Raw(server.host, server.smtp_port, timeout=10) as raw:
                assert raw.reply()[0] == 220
                script = (b"EHLO slow.test\r\nMAIL FROM:<s@sender.test>\r\n"
                          b"RCPT TO:<bob@example.test>\r\n")
                for byte in script:
                    raw.send(bytes([byte]))
                    time.sleep(0.05)
                codes = [raw.reply()[0] for _ in range(3)]
                raw.send(b"DATA\r\n")
                codes.append(raw.reply()[0])
                for byte in message("slow") + b".\r\n":
                    raw.send(bytes([byte]))
                    time.sleep(0.005)
                codes.append(raw.reply()[0])
                result["codes"] = codes
        except Exception as exc:  # reported below
            result["error"] = exc

    thread = threading.Thread(target=drip)
    thread.start()
    for _ in range(3):
        assert_healthy(server)
        time.sleep(0.3)
    thread.join(60)
    assert not thread.is_alive()
    assert result.get("codes") == [250, 250, 250, 354, 250], result
    assert len(read_mailbox(server, "bob@example.test")) == 1
    assert_healthy(server)


def test_client_that_never_reads_replies(server_factory: ServerFactory) -> None:
    server = server_factory(users=USERS)
    sock = socket.create_connection((server.host, server.smtp_port), 5)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    # Thousands of commands, never reading an answer: the server must not buffer forever.
    with contextlib.suppress(OSError):
        sock.settimeout(3)
        for _ in range(200):
            sock.sendall(b"EHLO x\r\nNOOP\r\nHELP\r\n" * 100)
    assert_healthy(server)
    sock.close()
    assert_healthy(server)


def test_sigterm_lets_a_message_in_flight_finish(server_factory: ServerFactory) -> None:
    server = server_factory(users=USERS)
    idle = open_session(server)
    busy = open_session(server)
    assert busy.cmd("MAIL FROM:<s@sender.test>")[0] == 250
    assert busy.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert busy.cmd("DATA")[0] == 354
    busy.send(b"Subject: in flight\r\n\r\n")
    assert server.proc is not None
    server.proc.terminate()
    # The idle session is told at once; the one in DATA may finish its message.
    code, _ = idle.reply()
    assert code == 421
    busy.send(b"body\r\n.\r\n")
    code, text = busy.reply()
    assert code == 250, text
    with contextlib.suppress(ConnectionError):
        busy.reply()  # 421 after the message, or just the close
    assert server.proc.wait(20) == 0
    idle.close()
    busy.close()
    assert [m.endswith(b"Subject: in flight\r\n\r\nbody\r\n") for m in
            read_mailbox(server, "alice@example.test")] == [True]
    assert "Traceback" not in server.log_text()


def test_idn_domains_match_in_either_form(server_factory: ServerFactory) -> None:
    """RFC 5890/6531: an A-label and its U-label name the same domain."""
    server = server_factory(users=USERS)
    server.cli("domain", "add", "bücher.test")
    server.add_user("jörg@bücher.test")
    with open_session(server) as raw:
        assert raw.cmd(b"MAIL FROM:<s@sender.test> SMTPUTF8")[0] == 250
        assert raw.cmd("RCPT TO:<jörg@bücher.test>".encode())[0] == 250
        assert raw.cmd("RCPT TO:<jörg@BÜCHER.test>".encode())[0] == 250
        code, text = raw.cmd("RCPT TO:<jörg@xn--bcher-kva.test>".encode())
        assert code == 250, f"A-label of a local domain refused: {code} {text}"
