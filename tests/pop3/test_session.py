"""The POP3 server over real sockets, with the stdlib poplib and raw sockets."""

from __future__ import annotations

import poplib
import time

import pytest

ALICE = "alice@example.test"
BOB = "bob@example.test"
PASSWORD = "secret-password"

TRICKY = {
    "dots": b"Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\nend\r\n.",
    "no-final-crlf": b"Subject: tail\r\n\r\nno final line end",
    "8bit": b"Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\ncaf\xc3\xa9 \xff\xfe\x80 binary\r\n",
    "empty-body": b"Subject: nothing\r\n\r\n",
}


def received(client: poplib.POP3, number: int) -> bytes:
    """RETR as bytes: poplib's lines, un-stuffed, joined with CRLF."""
    _, lines, _ = client.retr(number)
    return b"".join(line + b"\r\n" for line in lines)


def as_received(raw: bytes) -> bytes:
    return raw if raw.endswith(b"\r\n") else raw + b"\r\n"


def test_greeting_and_capabilities(pop3) -> None:
    client = pop3.pop()
    assert client.getwelcome().startswith(b"+OK mx.example.test")
    caps = client.capa()
    for cap in ("TOP", "UIDL", "USER", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "STLS"):
        assert cap in caps
    assert caps["SASL"] == ["PLAIN", "LOGIN"]
    assert caps["IMPLEMENTATION"] == ["Mailstead"]
    client.user(ALICE)
    client.pass_(PASSWORD)
    caps = client.capa()
    assert "STLS" not in caps and "USER" not in caps and "TOP" in caps
    client.quit()


def test_byte_exact_retr_and_sizes(pop3) -> None:
    for raw in TRICKY.values():
        pop3.deliver(ALICE, raw)
    large = b"Subject: large\r\n\r\n" + b"".join(
        (b"." if i % 7 == 0 else b"") + b"%07d " % i + b"x" * 90 + b"\r\n" for i in range(90_000)
    )
    pop3.deliver(ALICE, large)
    stored = pop3.inbox(ALICE)
    client = pop3.login(ALICE)
    count, total = client.stat()
    assert count == len(stored) and total == sum(map(len, stored))
    _, listing, _ = client.list()
    sizes = [int(line.split()[1]) for line in listing]
    assert sizes == [len(raw) for raw in stored]
    for number, raw in enumerate(stored, 1):
        assert client.list(number) == f"+OK {number} {len(raw)}".encode()
        assert received(client, number) == as_received(raw)
    client.quit()


def test_retr_on_the_wire_is_stuffed_exactly(pop3) -> None:
    pop3.deliver(ALICE, TRICKY["dots"])
    raw = pop3.raw()
    assert raw.line().startswith(b"+OK")
    assert raw.command(f"USER {ALICE}".encode()) == b"+OK Send your password"
    assert raw.command(f"PASS {PASSWORD}".encode()).startswith(b"+OK")
    assert raw.command(b"RETR 1") == b"+OK %d octets" % len(TRICKY["dots"])
    assert raw.block() == b"Subject: dots\r\n\r\n..\r\n...\r\n..leading\r\nend\r\n..\r\n"
    raw.close()


def test_bare_lf_lines_are_stuffed_too(pop3) -> None:
    # poplib splits on LF, so a "." after a bare LF must be stuffed or it would end the
    # message early; the raw bytes still round-trip for a client that undoes stuffing.
    message = b"Subject: lf\r\n\r\nline\n.\nstill body\r\n"
    pop3.deliver(ALICE, message)
    raw = pop3.raw()
    raw.line()
    raw.command(f"USER {ALICE}".encode())
    raw.command(f"PASS {PASSWORD}".encode())
    assert raw.command(b"RETR 1").startswith(b"+OK")
    assert raw.block() == b"Subject: lf\r\n\r\nline\n..\nstill body\r\n"
    raw.close()
    client = pop3.login(ALICE)
    _, lines, _ = client.retr(1)
    assert lines == [b"Subject: lf", b"", b"line", b".", b"still body"]
    client.quit()


def test_prefix_headers_are_part_of_the_message(pop3) -> None:
    prefix = b"Return-Path: <s@example.org>\r\nDelivered-To: alice@example.test\r\n"
    pop3.deliver(ALICE, b"Subject: hi\r\n\r\nbody\r\n", prefix=prefix)
    client = pop3.login(ALICE)
    assert received(client, 1) == prefix + b"Subject: hi\r\n\r\nbody\r\n"
    assert client.list(1) == b"+OK 1 %d" % len(prefix + b"Subject: hi\r\n\r\nbody\r\n")
    client.quit()


def test_top(pop3) -> None:
    pop3.deliver(ALICE, b"Subject: t\r\nFrom: a@b\r\n\r\nl1\r\n.l2\r\nl3\r\n")
    client = pop3.login(ALICE)
    _, lines, _ = client.top(1, 0)
    assert lines == [b"Subject: t", b"From: a@b", b""]
    _, lines, _ = client.top(1, 2)
    assert lines == [b"Subject: t", b"From: a@b", b"", b"l1", b".l2"]
    _, lines, _ = client.top(1, 100)
    assert lines[-1] == b"l3"
    with pytest.raises(poplib.error_proto, match="No such message"):
        client.top(2, 0)
    client.quit()


def test_dele_rset_quit(pop3) -> None:
    for i in range(3):
        pop3.deliver(ALICE, b"Subject: %d\r\n\r\nbody\r\n" % i)
    client = pop3.login(ALICE)
    client.dele(1)
    assert client.stat()[0] == 2
    with pytest.raises(poplib.error_proto, match="deleted"):
        client.retr(1)
    with pytest.raises(poplib.error_proto, match="deleted"):
        client.dele(1)
    client.rset()
    assert client.stat()[0] == 3
    client.dele(2)
    _, listing, _ = client.list()
    assert [line.split()[0] for line in listing] == [b"1", b"3"]
    assert len(pop3.inbox(ALICE)) == 3  # nothing removed before QUIT
    assert client.quit().startswith(b"+OK")
    remaining = pop3.inbox(ALICE)
    assert [m.split(b"\r\n")[0] for m in remaining] == [b"Subject: 0", b"Subject: 2"]


def test_dropped_connection_deletes_nothing(pop3) -> None:
    pop3.deliver(ALICE, b"Subject: keep\r\n\r\nbody\r\n")
    client = pop3.login(ALICE)
    client.dele(1)
    client.close()  # no QUIT
    time.sleep(0.2)
    assert len(pop3.inbox(ALICE)) == 1
    # And the lock went with the connection.
    client = pop3.login(ALICE)
    assert client.stat()[0] == 1
    client.quit()


def test_in_use(pop3) -> None:
    first = pop3.login(ALICE)
    second = pop3.pop()
    second.user(ALICE)
    with pytest.raises(poplib.error_proto) as refused:
        second.pass_(PASSWORD)
    assert refused.value.args[0] == b"-ERR [IN-USE] Mailbox is locked by another POP3 session"
    # Another user is not affected.
    bob = pop3.login(BOB)
    bob.quit()
    first.quit()
    # The refused session may try again once the mailbox is free (RFC 1939 §4).
    second.user(ALICE)
    second.pass_(PASSWORD)
    second.quit()


def test_uidl_stable_and_unique(pop3) -> None:
    for i in range(3):
        pop3.deliver(ALICE, b"Subject: %d\r\n\r\n" % i)
    client = pop3.login(ALICE)
    _, first, _ = client.uidl()
    ids = [line.split()[1] for line in first]
    assert len(set(ids)) == 3
    for uid in ids:
        assert 1 <= len(uid) <= 70 and all(0x21 <= b <= 0x7E for b in uid)
    assert client.uidl(2) == b"+OK 2 " + ids[1]
    client.dele(1)
    client.quit()
    pop3.deliver(ALICE, b"Subject: 3\r\n\r\n")
    client = pop3.login(ALICE)
    _, second, _ = client.uidl()
    later = [line.split()[1] for line in second]
    assert later[:2] == ids[1:]  # same messages, same ids, though their numbers changed
    assert later[2] not in ids  # a new message never reuses an id
    client.quit()


def test_message_list_is_frozen_for_the_session(pop3) -> None:
    pop3.deliver(ALICE, b"Subject: old\r\n\r\n")
    client = pop3.login(ALICE)
    pop3.deliver(ALICE, b"Subject: new\r\n\r\n")
    assert client.stat()[0] == 1
    with pytest.raises(poplib.error_proto):
        client.retr(2)
    client.quit()
    client = pop3.login(ALICE)
    assert client.stat()[0] == 2
    client.quit()


def test_one_user_never_sees_another_users_mail(pop3) -> None:
    pop3.deliver(ALICE, b"Subject: for alice\r\n\r\n")
    pop3.deliver(BOB, b"Subject: for bob\r\n\r\n")
    pop3.deliver(BOB, b"Subject: for bob 2\r\n\r\n")
    alice = pop3.login(ALICE)
    assert alice.stat()[0] == 1
    assert received(alice, 1).startswith(b"Subject: for alice")
    with pytest.raises(poplib.error_proto):
        alice.retr(2)
    alice.dele(1)
    alice.quit()
    assert len(pop3.inbox(BOB)) == 2
    bob = pop3.login(BOB)
    assert [received(bob, n).split(b"\r\n")[0] for n in (1, 2)] == [
        b"Subject: for bob",
        b"Subject: for bob 2",
    ]
    bob.quit()


def test_auth_plain_and_login(pop3) -> None:
    import base64

    raw = pop3.raw()
    raw.line()
    plain = base64.b64encode(f"\0{ALICE}\0{PASSWORD}".encode())
    assert raw.command(b"AUTH PLAIN " + plain).startswith(b"+OK Logged in")
    assert raw.command(b"QUIT").startswith(b"+OK")
    raw.close()

    raw = pop3.raw()
    raw.line()
    assert raw.command(b"AUTH PLAIN") == b"+ "
    assert raw.command(plain).startswith(b"+OK Logged in")
    raw.close()

    raw = pop3.raw()
    raw.line()
    assert raw.command(b"AUTH LOGIN") == b"+ VXNlcm5hbWU6"
    assert raw.command(base64.b64encode(BOB.encode())) == b"+ UGFzc3dvcmQ6"
    assert raw.command(base64.b64encode(PASSWORD.encode())).startswith(b"+OK Logged in")
    raw.close()

    raw = pop3.raw()
    raw.line()
    assert raw.command(b"AUTH PLAIN") == b"+ "
    assert raw.command(b"*") == b"-ERR Authentication cancelled"
    assert raw.command(b"AUTH CRAM-MD5").startswith(b"-ERR Unsupported")
    # Acting as another user is refused.
    other = base64.b64encode(f"{BOB}\0{ALICE}\0{PASSWORD}".encode())
    assert raw.command(b"AUTH PLAIN " + other).startswith(b"-ERR [AUTH]")
    raw.send(b"AUTH\r\n")
    assert raw.line() == b"+OK Supported mechanisms follow"
    assert raw.block() == b"PLAIN\r\nLOGIN\r\n"
    raw.close()

    client = pop3.pop()
    client.user(ALICE)
    client.pass_(PASSWORD)
    client.quit()


def test_wrong_password_and_throttling(pop3) -> None:
    client = pop3.pop()
    client.user(ALICE)
    with pytest.raises(poplib.error_proto) as failed:
        client.pass_("wrong")
    assert failed.value.args[0] == b"-ERR [AUTH] Authentication failed"
    client.user(ALICE)
    with pytest.raises(poplib.error_proto):
        client.pass_("wrong")
    client.user(ALICE)
    with pytest.raises(poplib.error_proto):
        client.pass_("wrong")
    # Third failure in one session: the server hangs up.
    with pytest.raises((poplib.error_proto, OSError, EOFError)):
        client.noop()
        client.user(ALICE)
    client.close()
    # Two more failures from this address reach the throttle (max_failures = 5) ...
    for _ in range(2):
        c = pop3.pop()
        c.user(ALICE)
        with pytest.raises(poplib.error_proto):
            c.pass_("wrong")
        c.close()
    # ... and now even the right password is refused, slowly.
    c = pop3.pop()
    c.user(ALICE)
    started = time.monotonic()
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        c.pass_(PASSWORD)
    assert time.monotonic() - started >= 0.9  # the configured failure_delay (1 s)
    c.close()


def test_plaintext_refused_where_not_allowed(pop3_factory) -> None:
    pop3 = pop3_factory(auth={"allow_plaintext_from": ["192.0.2.0/24"]})
    client = pop3.pop()
    caps = client.capa()
    assert "USER" not in caps and "SASL" not in caps and "STLS" in caps
    with pytest.raises(poplib.error_proto) as refused:
        client.user(ALICE)
    assert refused.value.args[0].startswith(b"-ERR [AUTH] Plaintext authentication disallowed")
    assert b"STLS" in refused.value.args[0]
    with pytest.raises(poplib.error_proto, match="USER first"):
        client.pass_(PASSWORD)
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        client._shortcmd("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQtcGFzc3dvcmQ=")
    client.stls(client_tls_context())
    caps = client.capa()
    assert "USER" in caps and "STLS" not in caps
    client.user(ALICE)
    client.pass_(PASSWORD)
    client.quit()
    # Implicit TLS (pop3s) allows passwords too.
    secure = pop3.pops()
    secure.user(ALICE)
    secure.pass_(PASSWORD)
    secure.quit()


def client_tls_context():
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def test_stls_then_login_and_retr(pop3) -> None:
    pop3.deliver(ALICE, TRICKY["8bit"])
    client = pop3.pop()
    client.stls(client_tls_context())
    assert client.sock.version() in ("TLSv1.2", "TLSv1.3")
    with pytest.raises(poplib.error_proto, match="Already using TLS"):
        client._shortcmd("STLS")
    client.user(ALICE)
    client.pass_(PASSWORD)
    assert received(client, 1) == TRICKY["8bit"]
    client.quit()


def test_stls_refused_after_login(pop3) -> None:
    client = pop3.login(ALICE)
    with pytest.raises(poplib.error_proto, match="not valid in this state"):
        client._shortcmd("STLS")
    client.quit()


def test_stls_injection_is_discarded(pop3) -> None:
    raw = pop3.raw()
    raw.line()
    # One write: the USER must not survive into the TLS session (CVE-2011-0411 class).
    raw.send(b"STLS\r\nUSER " + ALICE.encode() + b"\r\n")
    assert raw.line() == b"+OK Begin TLS negotiation now"
    assert raw.buffer == b""
    raw.starttls()
    assert raw.command(f"PASS {PASSWORD}".encode()) == b"-ERR Give USER first"
    # The session is otherwise fine over TLS.
    assert raw.command(f"USER {ALICE}".encode()).startswith(b"+OK")
    assert raw.command(f"PASS {PASSWORD}".encode()).startswith(b"+OK Logged in")
    raw.close()


def test_pop3s_implicit_tls(pop3) -> None:
    pop3.deliver(ALICE, TRICKY["dots"])
    client = pop3.pops()
    caps = client.capa()
    assert "STLS" not in caps and "USER" in caps
    client.user(ALICE)
    client.pass_(PASSWORD)
    assert received(client, 1) == as_received(TRICKY["dots"])
    client.quit()


def test_pipelining(pop3) -> None:
    pop3.deliver(ALICE, b"Subject: a\r\n\r\n")
    pop3.deliver(ALICE, b"Subject: b\r\n\r\n")
    raw = pop3.raw()
    raw.line()
    raw.send(f"USER {ALICE}\r\nPASS {PASSWORD}\r\nSTAT\r\nLIST\r\nRETR 2\r\nDELE 1\r\n"
             "NOOP\r\nQUIT\r\n".encode())
    assert raw.line().startswith(b"+OK")
    assert raw.line().startswith(b"+OK Logged in, 2 messages")
    assert raw.line().startswith(b"+OK 2 ")
    assert raw.line().startswith(b"+OK 2 messages")
    assert raw.block().count(b"\r\n") == 2
    assert raw.line().startswith(b"+OK")
    assert raw.block() == b"Subject: b\r\n\r\n"
    assert raw.line() == b"+OK Message 1 deleted"
    assert raw.line() == b"+OK"
    assert raw.line().startswith(b"+OK Logging out, 1 deleted")
    assert raw.closed()
    assert len(pop3.inbox(ALICE)) == 1


def test_bad_input_gets_errors_and_the_session_carries_on(pop3) -> None:
    raw = pop3.raw()
    raw.line()
    for line in (b"FROB", b"", b"\xff\xfe\x00garbage", b"RETR", b"STAT", b"USER",
                 b"AUTH PLAIN !!!", b"\x16\x03\x01\x02\x00\x01\x00"):
        assert raw.command(line).startswith(b"-ERR"), line
    raw.send(b"A" * 100_000 + b"\r\n")
    assert raw.line() == b"-ERR Line too long"
    assert raw.command(f"USER {ALICE}".encode()).startswith(b"+OK")
    assert raw.command(f"PASS {PASSWORD}".encode()).startswith(b"+OK")
    assert raw.command(b"RETR 99") == b"-ERR No such message 99"
    assert raw.command(b"RETR 0") == b"-ERR No such message 0"
    assert raw.command(b"TOP 1 x") == b"-ERR Invalid line count"
    assert raw.command(b"NOOP") == b"+OK"
    raw.close()
    # The server still serves others.
    client = pop3.login(BOB)
    client.quit()


def test_too_many_errors_closes(pop3_factory) -> None:
    pop3 = pop3_factory(limits={"max_errors": 3})
    raw = pop3.raw()
    raw.line()
    for _ in range(2):
        assert raw.command(b"FROB") == b"-ERR Unknown command"
    assert raw.command(b"FROB") == b"-ERR Unknown command"
    assert raw.line() == b"-ERR Too many errors, closing connection"
    assert raw.closed()


def test_idle_timeout(pop3_factory) -> None:
    pop3 = pop3_factory(limits={"pop3_idle_timeout": 1})
    pop3.deliver(ALICE, b"Subject: x\r\n\r\n")
    client = pop3.login(ALICE)
    client.dele(1)
    raw = pop3.raw()
    assert raw.line().startswith(b"+OK")
    raw.sock.settimeout(10)
    assert raw.line() == b"-ERR Idle timeout, closing connection"
    assert raw.closed()
    # The logged-in session timed out too, and its DELE was not applied.
    with pytest.raises((poplib.error_proto, OSError, EOFError)):
        client.stat()
        client.stat()
    assert len(pop3.inbox(ALICE)) == 1


def test_connection_limit_per_ip(pop3_factory) -> None:
    pop3 = pop3_factory(limits={"max_connections_per_ip": 2})
    first, second = pop3.raw(), pop3.raw()
    assert first.line().startswith(b"+OK") and second.line().startswith(b"+OK")
    third = pop3.raw()
    assert third.line() == b"-ERR [SYS/TEMP] Too many connections, try again later"
    assert third.closed()
    first.close()
    time.sleep(0.2)
    fourth = pop3.raw()
    assert fourth.line().startswith(b"+OK")
    for r in (second, fourth):
        r.close()


def test_store_failure_is_sys_temp_and_the_session_carries_on(pop3) -> None:
    pop3.deliver(ALICE, b"Subject: x\r\n\r\nbody\r\n")
    client = pop3.login(ALICE)
    store = pop3.store
    original = store.read_raw_messages
    calls = []

    async def failing(mailbox_id: int, uids):
        calls.append(uids)
        if len(calls) == 1:
            raise RuntimeError("disk on fire")
        return await original(mailbox_id, uids)

    store.read_raw_messages = failing
    try:
        with pytest.raises(poplib.error_proto) as failed:
            client.retr(1)
        assert failed.value.args[0].startswith(b"-ERR [SYS/TEMP]")
        assert received(client, 1) == b"Subject: x\r\n\r\nbody\r\n"
    finally:
        store.read_raw_messages = original
    client.quit()


def test_expunge_failure_reports_sys_temp_and_keeps_mail(pop3) -> None:
    pop3.deliver(ALICE, b"Subject: x\r\n\r\n")
    store = pop3.store
    original = store.expunge

    async def failing(mailbox_id: int, uids):
        raise RuntimeError("database locked")

    store.expunge = failing
    try:
        client = pop3.login(ALICE)
        client.dele(1)
        with pytest.raises(poplib.error_proto, match=r"\[SYS/TEMP\] Some deleted messages"):
            client.quit()
    finally:
        store.expunge = original
    assert len(pop3.inbox(ALICE)) == 1


def test_shutdown_says_so_and_deletes_nothing(pop3) -> None:
    pop3.deliver(ALICE, b"Subject: x\r\n\r\n")
    client = pop3.login(ALICE)
    client.dele(1)
    pop3.run(pop3.ctx.connections.drain(5))
    line = client.file.readline()
    assert line == b"-ERR Server shutting down\r\n"
    assert len(pop3.inbox(ALICE)) == 1


def test_slow_reader_gets_a_large_message_intact(pop3, monkeypatch) -> None:
    from mailstead.pop3.server import Pop3Session

    pauses: list[int] = []
    original_pause = Pop3Session.pause_writing

    def counting_pause(self) -> None:
        pauses.append(1)
        original_pause(self)

    monkeypatch.setattr(Pop3Session, "pause_writing", counting_pause)
    body = b"".join(b".%06d\r\n" % i for i in range(2_000_000))  # 16 MB, every line stuffed
    pop3.deliver(ALICE, b"Subject: big\r\n\r\n" + body)
    raw = pop3.raw(timeout=30)
    raw.line()
    raw.command(f"USER {ALICE}".encode())
    raw.command(f"PASS {PASSWORD}".encode())
    assert raw.command(b"RETR 1").startswith(b"+OK")
    time.sleep(0.5)  # let the server fill the socket and pause
    block = raw.block()
    assert pauses  # the server waited for the reader instead of buffering the message
    assert block.count(b"\r\n..") == 2_000_000
    assert block.replace(b"\r\n..", b"\r\n.") == b"Subject: big\r\n\r\n" + body
    assert raw.command(b"NOOP") == b"+OK"
    raw.close()


def test_half_closed_client_still_gets_its_answers(pop3) -> None:
    import socket as socketlib

    pop3.deliver(ALICE, b"Subject: x\r\n\r\n")
    raw = pop3.raw()
    raw.send(f"USER {ALICE}\r\nPASS {PASSWORD}\r\nDELE 1\r\nQUIT\r\n".encode())
    raw.sock.shutdown(socketlib.SHUT_WR)
    lines = [raw.line() for _ in range(5)]
    assert lines[3] == b"+OK Message 1 deleted"
    assert lines[4].startswith(b"+OK Logging out, 1 deleted")
    assert raw.closed()
    assert pop3.inbox(ALICE) == []


def test_stls_client_speaks_right_after_the_handshake(pop3) -> None:
    for _ in range(5):
        raw = pop3.raw()
        raw.line()
        assert raw.command(b"STLS").startswith(b"+OK")
        raw.starttls()
        raw.send(b"CAPA\r\n")
        assert raw.line().startswith(b"+OK")
        assert b"USER" in raw.block()
        raw.close()


def test_our_client_core_against_our_server(pop3) -> None:
    """The sans-IO client (for mailstead.client) over a real socket, pipelining everything."""
    from mailstead.proto.pop3 import NEED_DATA, ClientConnection, MultilineResponse, Response

    for raw_message in TRICKY.values():
        pop3.deliver(ALICE, raw_message)
    stored = pop3.inbox(ALICE)
    client = ClientConnection()
    raw = pop3.raw()
    wire = client.send("USER", ALICE) + client.send("PASS", PASSWORD) + client.send("UIDL")
    for number in range(1, len(stored) + 1):
        wire += client.send("RETR", number) + client.send("DELE", number)
    wire += client.send("QUIT")
    raw.send(wire)
    events: list[object] = []
    while client.outstanding:
        event = client.next_event()
        if event is NEED_DATA:
            client.receive_data(raw.sock.recv(65536))
            continue
        events.append(event)
    greeting, user, password, uidl, *rest = events
    assert isinstance(greeting, Response) and greeting.ok
    assert user.ok and password.ok
    assert isinstance(uidl, MultilineResponse) and len(uidl.lines) == len(stored)
    bodies = [e.body for e in rest if isinstance(e, MultilineResponse)]
    assert bodies == [as_received(m) for m in stored]
    assert rest[-1] == Response(True, f"Logging out, {len(stored)} deleted, 0 left")
    assert pop3.inbox(ALICE) == []


def test_journey_records_fetched_and_deleted(pop3) -> None:
    pop3.deliver(ALICE, b"Subject: tracked\r\n\r\n")
    queue_id = f"Q{pop3._queue_ids:06d}"
    client = pop3.login(ALICE)
    received(client, 1)
    client.dele(1)
    client.quit()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        events = [e.event for e in pop3.run(pop3.store.journey(queue_id))]
        if "deleted" in events:
            break
        time.sleep(0.05)
    assert events == ["delivered", "fetched", "deleted"]
    details = [e.detail for e in pop3.run(pop3.store.journey(queue_id))]
    assert ALICE in details[1] and ALICE in details[2]


_WORDS = [b"USER", b"PASS", b"AUTH", b"PLAIN", b"LOGIN", b"STLS", b"CAPA", b"STAT", b"LIST",
          b"RETR", b"TOP", b"DELE", b"RSET", b"UIDL", b"NOOP", b"UTF8", b"APOP", b"=", b"*",
          b"1", b"0", b"-1", b"99999999999", b" ", b"\r", b"\n", b"\r\n", b"\x00", b"\xff",
          ALICE.encode()]


def test_random_input_over_a_socket(pop3) -> None:
    """Random command soup, one connection per example: the server survives it and keeps
    serving (no QUIT is ever sent, so nothing may be deleted)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    pop3.deliver(ALICE, b"Subject: fuzz\r\n\r\n.body\r\n")

    @settings(max_examples=40, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.one_of(st.sampled_from(_WORDS), st.binary(max_size=30)), max_size=30))
    def session(pieces: list[bytes]) -> None:
        raw = pop3.raw(timeout=5)
        try:
            assert raw.line().startswith(b"+OK")
            payload = b"".join(pieces).replace(b"QUIT", b"QUIX").replace(b"quit", b"quix")
            raw.send(payload + b"\r\nNOOP\r\n")
            raw.sock.settimeout(0.05)
            raw.closed()  # read whatever comes back
            assert all(line.startswith((b"+OK", b"-ERR", b"+ ")) for line in
                       raw.buffer.split(b"\r\n")[:1] if line)
        finally:
            raw.close()

    session()
    client = pop3.login(ALICE)
    assert client.stat()[0] == 1
    client.quit()


def test_every_kind_of_error_counts_toward_the_limit(pop3_factory) -> None:
    pop3 = pop3_factory(limits={"max_errors": 4})
    raw = pop3.raw()
    raw.line()
    assert raw.command(b"AUTH CRAM-MD5").startswith(b"-ERR Unsupported")
    assert raw.command(f"USER {ALICE}".encode()).startswith(b"+OK")
    assert raw.command(f"PASS {PASSWORD}".encode()).startswith(b"+OK")
    assert raw.command(b"RETR 7") == b"-ERR No such message 7"
    assert raw.command(b"DELE 0") == b"-ERR No such message 0"
    assert raw.command(b"LIST 9") == b"-ERR No such message 9"
    assert raw.line() == b"-ERR Too many errors, closing connection"
    assert raw.closed()


def test_message_expunged_elsewhere_during_the_session(pop3) -> None:
    first = pop3.deliver(ALICE, b"Subject: 1\r\n\r\n")
    pop3.deliver(ALICE, b"Subject: 2\r\n\r\n")
    client = pop3.login(ALICE)

    async def expunge_first() -> None:
        mailbox = await pop3.store.get_mailbox(pop3.accounts[ALICE].id, "INBOX")
        await pop3.store.expunge(mailbox.id, [first])

    pop3.run(expunge_first())  # as an IMAP client would
    assert client.stat()[0] == 2  # the session's list stays frozen
    with pytest.raises(poplib.error_proto, match="no longer available"):
        client.retr(1)
    client.dele(1)
    client.dele(2)
    assert client.quit().startswith(b"+OK Logging out, 2 deleted, 0 left")
    assert pop3.inbox(ALICE) == []


def test_batched_reads_are_byte_exact_around_deletions(pop3, monkeypatch) -> None:
    """RETR reads ahead in batches (a small budget here, so batches end on either limit);
    every message still arrives exactly, deleted ones are skipped, TOP and repeats work."""
    from mailstead.pop3 import server

    monkeypatch.setattr(server, "PREFETCH_MESSAGES", 3)
    monkeypatch.setattr(server, "PREFETCH_BYTES", 300)
    bodies = [b"Subject: %d\r\n\r\n.%s\r\n" % (i, b"x" * (i * 20)) for i in range(12)]
    bodies += list(TRICKY.values())
    for body in bodies:
        pop3.deliver(ALICE, body)
    reads: list[list[int]] = []
    original = pop3.store.read_raw_messages

    async def counting(mailbox_id: int, uids):
        reads.append(list(uids))
        return await original(mailbox_id, uids)

    monkeypatch.setattr(pop3.store, "read_raw_messages", counting)
    client = pop3.login(ALICE)
    client.dele(2)
    for number in range(1, len(bodies) + 1):
        if number == 2:
            continue
        assert received(client, number) == as_received(bodies[number - 1])
        client.dele(number)
    assert len(reads) < len(bodies) - 1  # some RETRs were served from a batch
    assert all(len(uids) <= 3 for uids in reads)
    assert 2 not in reads[0]  # a deleted message is not read ahead
    client.rset()
    _, top, _ = client.top(3, 0)
    assert top == [b"Subject: 2", b""]
    assert received(client, 1) == as_received(bodies[0])  # a second RETR reads it again
    for number in range(1, len(bodies) + 1):
        client.dele(number)
    assert client.quit().startswith(b"+OK Logging out")
    assert pop3.inbox(ALICE) == []


def test_store_without_batched_reads(pop3, monkeypatch) -> None:
    """A back end without read_raw_messages: RETR falls back to get_message."""

    async def missing(mailbox_id: int, uids):
        raise NotImplementedError

    monkeypatch.setattr(pop3.store, "read_raw_messages", missing)
    pop3.deliver(ALICE, TRICKY["dots"])
    pop3.deliver(ALICE, TRICKY["no-final-crlf"])
    client = pop3.login(ALICE)
    assert received(client, 2) == as_received(TRICKY["no-final-crlf"])
    assert received(client, 1) == TRICKY["dots"] + b"\r\n"
    client.quit()


def test_a_dripped_command_line_is_cut_off(pop3_factory) -> None:
    """One byte just inside the idle timeout, again and again: the line as a whole must
    arrive within the timeout, or the session ends (and its DELE is not applied)."""
    pop3 = pop3_factory(limits={"pop3_idle_timeout": 1})
    pop3.deliver(ALICE, b"Subject: x\r\n\r\n")
    raw = pop3.raw()
    assert raw.line().startswith(b"+OK")
    assert raw.command(f"USER {ALICE}".encode()).startswith(b"+OK")
    assert raw.command(f"PASS {PASSWORD}".encode()).startswith(b"+OK")
    assert raw.command(b"DELE 1").startswith(b"+OK")
    raw.sock.settimeout(0.3)
    closed = False
    for byte in b"NOOP NOOP NOOP NOOP NOOP":  # 25 bytes x 0.3 s: far beyond the timeout
        try:
            raw.send(bytes([byte]))
        except OSError:
            closed = True
        if closed or raw.closed():  # closed() also waits the 0.3 s
            closed = True
            break
    assert closed
    assert raw.buffer == b"-ERR Command line too slow, closing connection\r\n"
    assert len(pop3.inbox(ALICE)) == 1
