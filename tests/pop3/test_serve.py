"""POP3 against a real `mailstead serve` process: mail sent with smtplib, collected with
poplib (plain, STLS, pop3s), compared byte for byte with what the store holds."""

from __future__ import annotations

import poplib
import smtplib
import time

import pytest

from mailstead.testing import MailsteadServer, client_tls_context, read_mailbox

ALICE = "alice@example.test"
BOB = "bob@example.test"
PASSWORD = "secret-password"

MESSAGE = (
    b"From: sender@example.org\r\n"
    b"To: alice@example.test\r\n"
    b"Subject: dots and 8-bit\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b".\r\n"
    b"..two dots\r\n"
    b".one dot\r\n"
    b"caf\xc3\xa9\r\n"
)


def send(server: MailsteadServer, to: str, message: bytes = MESSAGE) -> None:
    with smtplib.SMTP(server.host, server.smtp_port, timeout=10) as smtp:
        smtp.sendmail("sender@example.org", [to], message)


def retr(client: poplib.POP3, number: int) -> bytes:
    _, lines, _ = client.retr(number)
    return b"".join(line + b"\r\n" for line in lines)


def login(server: MailsteadServer, user: str = ALICE) -> poplib.POP3:
    client = poplib.POP3(server.host, server.pop3_port, timeout=10)
    client.user(user)
    client.pass_(PASSWORD)
    return client


def test_smtp_to_pop3_byte_exact_then_delete(mailstead_server: MailsteadServer) -> None:
    send(mailstead_server, ALICE)
    send(mailstead_server, ALICE, MESSAGE.replace(b"dots and", b"second:"))
    stored = read_mailbox(mailstead_server, ALICE)
    assert len(stored) == 2
    client = login(mailstead_server)
    assert client.stat() == (2, sum(map(len, stored)))
    for number, raw in enumerate(stored, 1):
        assert client.list(number) == b"+OK %d %d" % (number, len(raw))
        got = retr(client, number)
        assert got == raw
        # Our own trace headers are prepended; the message itself arrives untouched.
        assert got.endswith(MESSAGE.split(b"\r\n", 2)[2].replace(b"dots and", b"second:")
                            if number == 2 else MESSAGE.split(b"\r\n", 2)[2])
    client.dele(1)
    client.quit()
    remaining = read_mailbox(mailstead_server, ALICE)
    assert remaining == stored[1:]
    assert read_mailbox(mailstead_server, BOB) == []


def test_uidl_survives_a_restart(mailstead_server: MailsteadServer) -> None:
    send(mailstead_server, ALICE)
    send(mailstead_server, ALICE)
    client = login(mailstead_server)
    _, before, _ = client.uidl()
    client.quit()
    mailstead_server.restart()
    client = login(mailstead_server)
    _, after, _ = client.uidl()
    client.quit()
    assert before == after and len({line.split()[1] for line in after}) == 2


def test_stls_and_pop3s(server_factory) -> None:
    server = server_factory(
        {"auth": {"allow_plaintext_from": ["192.0.2.0/24"]}},
        users={ALICE: PASSWORD},
    )
    send(server, ALICE)
    [raw] = read_mailbox(server, ALICE)

    plain = poplib.POP3(server.host, server.pop3_port, timeout=10)
    assert "USER" not in plain.capa()
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        plain.user(ALICE)
    plain.stls(client_tls_context())
    plain.user(ALICE)
    plain.pass_(PASSWORD)
    assert retr(plain, 1) == raw
    plain.quit()

    secure = poplib.POP3_SSL(server.host, server.pop3s_port, context=client_tls_context(),
                             timeout=10)
    secure.user(ALICE)
    secure.pass_(PASSWORD)
    assert retr(secure, 1) == raw
    secure.quit()


def test_sigterm_or_kill_mid_session_deletes_nothing(mailstead_server: MailsteadServer) -> None:
    send(mailstead_server, ALICE)
    client = login(mailstead_server)
    client.dele(1)
    mailstead_server.stop()
    assert client.file.readline() == b"-ERR Server shutting down\r\n"
    client.close()
    assert len(read_mailbox(mailstead_server, ALICE)) == 1

    mailstead_server.start()
    client = login(mailstead_server)
    client.dele(1)
    mailstead_server.kill()
    client.close()
    mailstead_server.start()
    assert len(read_mailbox(mailstead_server, ALICE)) == 1
    client = login(mailstead_server)
    assert client.stat()[0] == 1
    client.quit()


def test_in_use_across_listeners_and_garbage(mailstead_server: MailsteadServer) -> None:
    import socket

    first = login(mailstead_server)
    secure = poplib.POP3_SSL(mailstead_server.host, mailstead_server.pop3s_port,
                             context=client_tls_context(), timeout=10)
    secure.user(ALICE)
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        secure.pass_(PASSWORD)
    secure.close()
    first.quit()

    with socket.create_connection((mailstead_server.host, mailstead_server.pop3_port), 10) as s:
        s.recv(1024)
        s.sendall(b"\x00\xff\xfe" * 2000 + b"\r\n" + b"\x16\x03\x01" + b"Z" * 10_000 + b"\r\n")
        time.sleep(0.2)
        s.sendall(b"NOOP\r\n")
        data = b""
        while data.count(b"\r\n") < 3:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        assert data.split(b"\r\n")[:3] == [
            b"-ERR Line too long", b"-ERR Line too long", b"-ERR Command not valid in this state"
        ]
    client = login(mailstead_server, BOB)
    assert client.noop().startswith(b"+OK")
    client.quit()
