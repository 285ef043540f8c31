"""Review: POP3 against a real server, with poplib and raw sockets: wrong states, odd numbers,
byte-exact RETR, isolation between users, alias logins, authzid, plaintext rules."""

from __future__ import annotations

import base64
import contextlib
import poplib
import smtplib
import socket
import time

import pytest

from mailstead.testing import MailsteadServer, ServerFactory, client_tls_context, read_mailbox

PW = "secret-password"
USERS = {"alice@example.test": PW, "bob@example.test": PW}


class Pop:
    """A raw POP3 client: one line out, one status line (and a multi-line body) in."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout)
        self.buf = b""
        assert self.line().startswith(b"+OK")

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed; pending {self.buf!r}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def cmd(self, text: str | bytes) -> bytes:
        self.sock.sendall((text.encode() if isinstance(text, str) else text) + b"\r\n")
        return self.line()

    def multiline(self) -> bytes:
        """The body of a multi-line response, still dot-stuffed, up to (without) `.CRLF`."""
        while b"\r\n.\r\n" not in b"\r\n" + self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed inside a multi-line response")
            self.buf += chunk
        whole = b"\r\n" + self.buf
        end = whole.index(b"\r\n.\r\n")
        body, self.buf = whole[2 : end + 2], whole[end + 5 :]
        return body

    def login(self, user: str, password: str = PW) -> None:
        assert self.cmd(f"USER {user}").startswith(b"+OK")
        reply = self.cmd(f"PASS {password}")
        assert reply.startswith(b"+OK"), reply

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Pop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def unstuff(body: bytes) -> bytes:
    lines = body.split(b"\r\n")
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)


def send(server: MailsteadServer, to: list[str], data: bytes) -> None:
    with smtplib.SMTP(server.host, server.smtp_port, timeout=10) as smtp:
        assert smtp.sendmail("s@sender.test", to, data) == {}


def send_bdat(server: MailsteadServer, to: str, data: bytes) -> None:
    with smtplib.SMTP(server.host, server.smtp_port, timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.mail("s@sender.test")[0] == 250
        assert smtp.rcpt(to)[0] == 250
        smtp.send(b"BDAT %d LAST\r\n" % len(data) + data)
        code, _ = smtp.getreply()
        assert code == 250


def assert_healthy(server: MailsteadServer) -> None:
    with Pop(server.host, server.pop3_port) as pop:
        assert pop.cmd("CAPA").startswith(b"+OK")
        pop.multiline()
        assert pop.cmd("QUIT").startswith(b"+OK")
    assert server.running
    assert "Traceback" not in server.log_text()


def test_commands_in_the_wrong_state_and_odd_numbers(server_factory: ServerFactory) -> None:
    server = server_factory({"limits": {"max_errors": 1000}}, users=USERS)
    send(server, ["alice@example.test"], b"Subject: one\r\n\r\nbody\r\n")
    with Pop(server.host, server.pop3_port) as pop:
        for command in ("STAT", "LIST", "RETR 1", "DELE 1", "UIDL", "TOP 1 0", "RSET", "NOOP"):
            assert pop.cmd(command).startswith(b"-ERR"), command
        assert pop.cmd("PASS secret-password").startswith(b"-ERR")  # PASS without USER
        pop.login("alice@example.test")
        assert pop.cmd("USER alice@example.test").startswith(b"-ERR")
        assert pop.cmd("PASS x").startswith(b"-ERR")
        assert pop.cmd("AUTH PLAIN").startswith(b"-ERR")
        assert pop.cmd("STLS").startswith(b"-ERR")
        for command in ("RETR 0", "RETR -1", "RETR 2", "RETR 99999999999999999999",
                        "RETR 1 2", "RETR", "RETR x", "RETR \u0661", "TOP 1 -1", "TOP 1",
                        "TOP 0 1", "TOP 1 99999999999999999999999", "DELE 0", "LIST 0",
                        "LIST -1", "UIDL 99999999999999999999", "DELE 2", "LIST 1 1",
                        "RETR +1", "RETR 1.0", b"RETR \xff", b"RETR 1\x00", "A" * 3000):
            reply = pop.cmd(command)
            assert reply.startswith(b"-ERR"), (command, reply)
        # The session is in a good state after all of that.
        assert pop.cmd("STAT").startswith(b"+OK 1 ")
        assert pop.cmd("DELE 1").startswith(b"+OK")
        assert pop.cmd("DELE 1").startswith(b"-ERR")  # twice
        assert pop.cmd("RETR 1").startswith(b"-ERR")  # deleted
        assert pop.cmd("STAT") == b"+OK 0 0"
        assert pop.cmd("RSET").startswith(b"+OK")
        assert pop.cmd("STAT").startswith(b"+OK 1 ")
        # A TOP with a huge but well-formed line count returns the whole message.
        reply = pop.cmd("TOP 1 999999999")
        assert reply.startswith(b"+OK")
        assert unstuff(pop.multiline()) == read_mailbox(server, "alice@example.test")[0]
        assert pop.cmd("QUIT").startswith(b"+OK")
    assert len(read_mailbox(server, "alice@example.test")) == 1  # RSET undid the DELE
    assert_healthy(server)


def test_retr_is_byte_exact_with_dots_and_no_final_crlf(server_factory: ServerFactory) -> None:
    server = server_factory(users=USERS)
    body = (b"Subject: dots\r\n\r\n.\r\n..\r\n...\r\n. leading\r\nmid.dle\r\n.\r\n"
            b"\r\n.\r\n.last line without crlf")
    send_bdat(server, "alice@example.test", body)
    send(server, ["alice@example.test"], b"Subject: data dots\r\n\r\n.\r\n..\r\nend\r\n")
    stored = read_mailbox(server, "alice@example.test")
    assert stored[0].endswith(body)
    with Pop(server.host, server.pop3_port) as pop:
        pop.login("alice@example.test")
        for n, expected in enumerate(stored, 1):
            reply = pop.cmd(f"RETR {n}")
            assert reply == b"+OK %d octets" % len(expected), reply
            got = unstuff(pop.multiline())
            # A last line without CRLF gets one on the wire (the response must end in CRLF).
            want = expected if expected.endswith(b"\r\n") else expected + b"\r\n"
            assert got == want
            assert pop.cmd(f"LIST {n}") == b"+OK %d %d" % (n, len(expected))
        assert pop.cmd("TOP 1 2").startswith(b"+OK")
        head, _, _rest = stored[0].partition(b"\r\n\r\n")
        assert unstuff(pop.multiline()) == head + b"\r\n\r\n.\r\n..\r\n"
        assert pop.cmd("TOP 1 0").startswith(b"+OK")
        assert unstuff(pop.multiline()) == head + b"\r\n\r\n"
    # poplib agrees.
    client = poplib.POP3(server.host, server.pop3_port, timeout=10)
    client.user("alice@example.test")
    client.pass_(PW)
    _, lines, _octets = client.retr(2)
    assert b"\r\n".join(lines) + b"\r\n" == stored[1]
    client.quit()
    assert_healthy(server)


def test_users_never_see_each_others_mail(server_factory: ServerFactory) -> None:
    server = server_factory(users=USERS)
    send(server, ["alice@example.test"], b"Subject: for alice only\r\n\r\nsecret\r\n")
    send(server, ["bob@example.test"], b"Subject: for bob\r\n\r\nhi\r\n")
    with Pop(server.host, server.pop3_port) as pop:
        pop.login("bob@example.test")
        assert pop.cmd("STAT").startswith(b"+OK 1 ")
        assert pop.cmd("RETR 1").startswith(b"+OK")
        assert b"for bob" in pop.multiline()
        assert pop.cmd("RETR 2").startswith(b"-ERR")
        assert pop.cmd("DELE 2").startswith(b"-ERR")
        assert pop.cmd("QUIT").startswith(b"+OK")
    assert len(read_mailbox(server, "alice@example.test")) == 1
    # Both users at once: no IN-USE between different mailboxes.
    with Pop(server.host, server.pop3_port) as a, Pop(server.host, server.pop3_port) as b:
        a.login("alice@example.test")
        b.login("bob@example.test")
        # The same user twice is refused.
        with Pop(server.host, server.pop3_port) as again:
            assert again.cmd("USER alice@example.test").startswith(b"+OK")
            assert again.cmd(f"PASS {PW}").startswith(b"-ERR [IN-USE]")
    assert_healthy(server)


def test_alias_and_wrong_logins(server_factory: ServerFactory) -> None:
    server = server_factory(users=USERS)
    server.cli("alias", "add", "info@example.test", "alice@example.test")
    send(server, ["info@example.test"], b"Subject: via alias\r\n\r\nx\r\n")
    with Pop(server.host, server.pop3_port) as pop:
        # An alias is an address, not a login name (README: aliases deliver mail).
        assert pop.cmd("USER info@example.test").startswith(b"+OK")
        assert pop.cmd(f"PASS {PW}").startswith(b"-ERR [AUTH]")
        assert pop.cmd("USER postmaster").startswith(b"+OK")
        assert pop.cmd(f"PASS {PW}").startswith(b"-ERR")
    with Pop(server.host, server.pop3_port) as pop:
        assert pop.cmd("USER alice").startswith(b"+OK")  # no domain
        assert pop.cmd(f"PASS {PW}").startswith(b"-ERR")
    with Pop(server.host, server.pop3_port) as pop:
        pop.login("alice@example.test")
        assert pop.cmd("STAT").startswith(b"+OK 1 ")
    assert_healthy(server)


def test_auth_plain_with_another_users_authzid_is_refused(server_factory: ServerFactory) -> None:
    server = server_factory(users=USERS)
    send(server, ["bob@example.test"], b"Subject: bob's\r\n\r\nx\r\n")
    with Pop(server.host, server.pop3_port) as pop:
        token = base64.b64encode(f"bob@example.test\0alice@example.test\0{PW}".encode()).decode()
        reply = pop.cmd(f"AUTH PLAIN {token}")
        assert reply.startswith(b"-ERR"), reply
        assert pop.cmd("STAT").startswith(b"-ERR")
        # Same identity in both fields is fine.
        token = base64.b64encode(f"alice@example.test\0alice@example.test\0{PW}".encode()).decode()
        assert pop.cmd(f"AUTH PLAIN {token}").startswith(b"+OK")
        assert pop.cmd("STAT") == b"+OK 0 0"
    with Pop(server.host, server.pop3_port) as pop:
        assert pop.cmd("AUTH PLAIN !!!!").startswith(b"-ERR")
        assert pop.cmd("AUTH PLAIN").startswith(b"+")
        assert pop.cmd("*").startswith(b"-ERR")
        assert pop.cmd("AUTH PLAIN").startswith(b"+")
        assert pop.cmd("not base64 at all").startswith(b"-ERR")
        assert pop.cmd("NOOP").startswith(b"-ERR")  # still in AUTHORIZATION
    assert_healthy(server)


def test_plaintext_logins_refused_without_tls(server_factory: ServerFactory) -> None:
    server = server_factory({"auth": {"allow_plaintext_from": []}}, users=USERS)
    with Pop(server.host, server.pop3_port) as pop:
        assert pop.cmd("CAPA").startswith(b"+OK")
        caps = pop.multiline()
        assert b"USER" not in caps and b"SASL" not in caps and b"STLS" in caps
        assert pop.cmd("USER alice@example.test").startswith(b"-ERR")
        assert pop.cmd(f"PASS {PW}").startswith(b"-ERR")
        token = base64.b64encode(f"\0alice@example.test\0{PW}".encode()).decode()
        assert pop.cmd(f"AUTH PLAIN {token}").startswith(b"-ERR")
        assert pop.cmd("STAT").startswith(b"-ERR")
        # STLS with pipelined plaintext: the USER/PASS must not be taken over TLS.
        pop.sock.sendall(b"STLS\r\nUSER alice@example.test\r\nPASS secret-password\r\n")
        assert pop.line().startswith(b"+OK")
        assert pop.buf == b""
        pop.sock = client_tls_context().wrap_socket(pop.sock, server_hostname="mx.example.test")
        assert pop.cmd("STAT").startswith(b"-ERR")
        assert pop.cmd(f"PASS {PW}").startswith(b"-ERR")  # no USER carried over
        pop.login("alice@example.test")
        assert pop.cmd("STAT") == b"+OK 0 0"
    # Implicit TLS works too.
    client = poplib.POP3_SSL(server.host, server.pop3s_port, timeout=10,
                             context=client_tls_context())
    client.user("alice@example.test")
    client.pass_(PW)
    assert client.stat() == (0, 0)
    client.quit()
    assert_healthy(server)


def test_pop3_login_throttling(server_factory: ServerFactory) -> None:
    server = server_factory({"auth": {"max_failures": 3, "failure_delay": 1}}, users=USERS)
    for _ in range(2):
        with Pop(server.host, server.pop3_port) as pop:
            for _ in range(2):
                assert pop.cmd("USER bob@example.test").startswith(b"+OK")
                assert pop.cmd("PASS wrong").startswith(b"-ERR [AUTH]")
    with Pop(server.host, server.pop3_port) as pop:
        assert pop.cmd("USER bob@example.test").startswith(b"+OK")
        assert pop.cmd(f"PASS {PW}").startswith(b"-ERR")  # right password, but throttled
    assert_healthy(server)


def test_pop3_deletes_only_on_quit(server_factory: ServerFactory) -> None:
    server = server_factory(users=USERS)
    for n in range(3):
        send(server, ["alice@example.test"], b"Subject: m%d\r\n\r\nx\r\n" % n)
    with Pop(server.host, server.pop3_port) as pop:
        pop.login("alice@example.test")
        assert pop.cmd("UIDL").startswith(b"+OK")
        uidl = pop.multiline()
        assert pop.cmd("DELE 1").startswith(b"+OK")
        assert pop.cmd("DELE 3").startswith(b"+OK")
        # Dropped without QUIT: nothing deleted.
    assert len(read_mailbox(server, "alice@example.test")) == 3
    with Pop(server.host, server.pop3_port) as pop:
        pop.login("alice@example.test")
        assert pop.cmd("UIDL").startswith(b"+OK")
        assert pop.multiline() == uidl
        assert pop.cmd("DELE 2").startswith(b"+OK")
        assert pop.cmd("QUIT").startswith(b"+OK")
    with Pop(server.host, server.pop3_port) as pop:
        pop.login("alice@example.test")
        assert pop.cmd("UIDL").startswith(b"+OK")
        lines = uidl.split(b"\r\n")
        assert pop.multiline().split(b"\r\n") == [
            b"1 " + lines[0].split()[1], b"2 " + lines[2].split()[1], b""]
    assert_healthy(server)


def test_the_maildrop_is_frozen_and_idle_sessions_end_without_deleting(
    server_factory: ServerFactory,
) -> None:
    server = server_factory({"limits": {"pop3_idle_timeout": 1}}, users=USERS)
    send(server, ["alice@example.test"], b"Subject: first\r\n\r\nx\r\n")
    with Pop(server.host, server.pop3_port) as pop:
        pop.login("alice@example.test")
        stat = pop.cmd("STAT")
        send(server, ["alice@example.test"], b"Subject: second\r\n\r\nx\r\n")
        assert pop.cmd("STAT") == stat  # frozen at login
        assert pop.cmd("RETR 2").startswith(b"-ERR")
        assert pop.cmd("DELE 1").startswith(b"+OK")
        # Silence: the server ends the session, applying nothing.
        pop.sock.settimeout(10)
        assert pop.line().startswith(b"-ERR")
        assert pop.sock.recv(100) == b""
    assert len(read_mailbox(server, "alice@example.test")) == 2
    # The lock went with the session.
    with Pop(server.host, server.pop3_port) as pop:
        pop.login("alice@example.test")
        assert pop.cmd("STAT").startswith(b"+OK 2 ")
    assert_healthy(server)


def test_pop3_connection_limits(server_factory: ServerFactory) -> None:
    server = server_factory({"limits": {"max_connections_per_ip": 2}}, users=USERS)
    held = [Pop(server.host, server.pop3_port), Pop(server.host, server.pop3_port)]
    sock = socket.create_connection((server.host, server.pop3_port), 5)
    sock.settimeout(5)
    data = b""
    while chunk := sock.recv(1000):
        data += chunk
    assert data.startswith(b"-ERR")
    sock.close()
    for pop in held:
        assert pop.cmd("NOOP").startswith(b"-ERR")  # AUTHORIZATION state, but alive
        pop.close()
    assert_healthy(server)


def test_shutdown_applies_no_deletions(server_factory: ServerFactory) -> None:
    server = server_factory(users=USERS)
    send(server, ["alice@example.test"], b"Subject: keep\r\n\r\nx\r\n")
    pop = Pop(server.host, server.pop3_port)
    pop.login("alice@example.test")
    assert pop.cmd("DELE 1").startswith(b"+OK")
    assert server.stop() == 0
    pop.sock.settimeout(5)
    rest = pop.buf
    try:
        while chunk := pop.sock.recv(1000):
            rest += chunk
    except OSError:
        pass
    pop.close()
    assert rest == b"" or rest.startswith(b"-ERR")
    assert len(read_mailbox(server, "alice@example.test")) == 1
    assert "Traceback" not in server.log_text()


def test_pipelined_pop3_session(server_factory: ServerFactory) -> None:
    server = server_factory(users=USERS)
    for n in range(3):
        send(server, ["alice@example.test"], b"Subject: p%d\r\n\r\n.dot\r\n" % n)
    stored = read_mailbox(server, "alice@example.test")
    with Pop(server.host, server.pop3_port) as pop:
        pop.sock.sendall(b"USER alice@example.test\r\nPASS secret-password\r\nSTAT\r\n"
                         b"RETR 1\r\nRETR 2\r\nDELE 1\r\nRETR 1\r\nLIST\r\nRETR 3\r\nQUIT\r\n")
        assert pop.line().startswith(b"+OK")
        assert pop.line().startswith(b"+OK")
        assert pop.line().startswith(b"+OK 3 ")
        for n in (0, 1):
            assert pop.line().startswith(b"+OK")
            assert unstuff(pop.multiline()) == stored[n]
        assert pop.line().startswith(b"+OK")
        assert pop.line().startswith(b"-ERR")
        assert pop.line().startswith(b"+OK")
        assert pop.multiline().split(b"\r\n")[:2] == [b"2 %d" % len(stored[1]),
                                                    b"3 %d" % len(stored[2])]
        assert pop.line().startswith(b"+OK")
        assert unstuff(pop.multiline()) == stored[2]
        assert pop.line().startswith(b"+OK")
    assert read_mailbox(server, "alice@example.test") == stored[1:]
    assert_healthy(server)


def test_account_deleted_during_a_session(server_factory: ServerFactory) -> None:
    """`mailstead user del` while the user is logged in: the session ends cleanly, with
    no internal error and no traceback (the messages it meant to delete are gone anyway)."""
    server = server_factory(users=USERS)
    send(server, ["alice@example.test", "bob@example.test"], b"Subject: both\r\n\r\nx\r\n")
    send(server, ["alice@example.test"], b"Subject: alice\r\n\r\nx\r\n")
    with Pop(server.host, server.pop3_port) as pop:
        pop.login("alice@example.test")
        assert pop.cmd("DELE 1").startswith(b"+OK")
        server.cli("user", "del", "alice@example.test", "--yes")
        assert pop.cmd("RETR 2").startswith(b"-ERR")
        reply = pop.cmd("QUIT")
        assert reply.startswith(b"+OK"), reply
    assert len(read_mailbox(server, "bob@example.test")) == 1  # the shared blob survives
    assert_healthy(server)


def test_pop3s_connections_count_before_the_tls_handshake(server_factory: ServerFactory) -> None:
    """Clients that connect to the implicit-TLS port and never start the handshake still
    count toward the connection limits (else they are unbounded in number)."""
    server = server_factory({"limits": {"max_connections_per_ip": 2}}, users=USERS)
    silent = [socket.create_connection((server.host, server.pop3s_port), 5) for _ in range(2)]
    extra = socket.create_connection((server.host, server.pop3s_port), 5)
    extra.settimeout(3)
    try:
        data = extra.recv(100)  # closed at once: over the limit
    except ConnectionResetError:
        data = b""
    assert data == b""
    extra.close()
    for sock in silent:
        sock.close()
    time.sleep(0.3)
    client = poplib.POP3_SSL(server.host, server.pop3s_port, timeout=10,
                             context=client_tls_context())
    client.user("alice@example.test")
    client.pass_(PW)
    assert client.stat() == (0, 0)
    client.quit()
    assert_healthy(server)


def test_in_use_across_pop3_and_pop3s_and_uidl_across_restart(server_factory: ServerFactory) -> None:
    server = server_factory(users=USERS)
    send(server, ["alice@example.test"], b"Subject: u\r\n\r\nx\r\n")
    with Pop(server.host, server.pop3_port) as pop:
        pop.login("alice@example.test")
        secure = poplib.POP3_SSL(server.host, server.pop3s_port, timeout=10,
                                 context=client_tls_context())
        secure.user("alice@example.test")
        with pytest.raises(poplib.error_proto, match=r"IN-USE"):
            secure.pass_(PW)
        secure.close()
        assert pop.cmd("UIDL 1").startswith(b"+OK 1 ")
        uidl = pop.cmd("UIDL 1")
    server.restart()
    with Pop(server.host, server.pop3_port) as pop:
        pop.login("alice@example.test")
        assert pop.cmd("UIDL 1") == uidl
    assert_healthy(server)


def test_shutdown_closes_pop3s_clients_stuck_before_the_handshake(
    server_factory: ServerFactory,
) -> None:
    server = server_factory(users=USERS)
    silent = socket.create_connection((server.host, server.pop3s_port), 5)
    half = socket.create_connection((server.host, server.pop3s_port), 5)
    half.sendall(b"\x16\x03\x01\x00")  # the start of a ClientHello, never finished
    time.sleep(0.3)
    assert server.stop() == 0
    for sock in (silent, half):
        sock.settimeout(5)
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(100) == b""
        sock.close()
    assert "Traceback" not in server.log_text()
