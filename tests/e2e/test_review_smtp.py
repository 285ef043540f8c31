"""Review: port 25 checked the way an attacker and a demanding client would, over raw sockets.

Every test ends by checking that the server still serves an ordinary client and that its
log holds no traceback.
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import time

from mailstead.testing import MailsteadServer, ServerFactory, read_mailbox
from mailstead.testing import RawSMTPClient as Raw

USERS = {"alice@example.test": "secret-password", "bob@example.test": "secret-password"}


def open_session(server: MailsteadServer, ehlo: str = "client.test", **kw: object) -> Raw:
    raw = Raw(server.host, server.smtp_port, **kw)  # type: ignore[arg-type]
    code, _ = raw.reply()
    assert code == 220
    code, _ = raw.cmd(f"EHLO {ehlo}")
    assert code == 250
    return raw


def message(subject: str, body: str = "hello\r\n") -> bytes:
    return (f"From: s@sender.test\r\nTo: alice@example.test\r\nSubject: {subject}\r\n\r\n"
            + body).encode()


def assert_healthy(server: MailsteadServer, to: str = "alice@example.test") -> None:
    """An ordinary client still gets its mail through, and nothing crashed."""
    with smtplib.SMTP(server.host, server.smtp_port, timeout=10) as smtp:
        refused = smtp.sendmail("s@sender.test", [to], message("health check"))
        assert refused == {}
    assert server.running
    assert "Traceback" not in server.log_text()


def subjects(server: MailsteadServer, address: str) -> list[str]:
    out = []
    for raw in read_mailbox(server, address):
        head = raw.split(b"\r\n\r\n", 1)[0]
        for line in head.split(b"\r\n"):
            if line.startswith(b"Subject: "):
                out.append(line[9:].decode())
    return out


# -- relaying ------------------------------------------------------------------------------

REMOTE_RCPTS = [
    "<x@remote.test>",
    "<alice%remote.test@example.test>",
    "<remote.test!alice@example.test>",
    "<alice%remote.test@[127.0.0.1]>",
    "<@example.test:x@remote.test>",
    "<@remote.test:alice@example.test>",
    "<@example.test,@remote.test:x@remote.test>",
    "<alice@remote.test@example.test>",
    '<"alice@remote.test"@example.test>',
    '<"x@remote.test">',
    '<"alice%remote.test"@example.test>',
    "<x@remote.test.>",
    "<x@REMOTE.TEST>",
    "<alice@[127.0.0.1]>",
    "<x@[127.0.0.1]>",
    "<x@[IPv6:::1]>",
    "<alice@sub.example.test>",
    "<alice@example.test.remote.test>",
    "<x@xn--bcher-kva.test>",
    "<postmaster@remote.test>",
    "<x@remote.test> NOTIFY=NEVER",
    "x@remote.test",
    "<x@remote.test",
    "<alice@example.test\x00@remote.test>",
]


def test_no_open_relay_in_any_spelling(server_factory: ServerFactory) -> None:
    server = server_factory({"limits": {"max_errors": 1000}}, users=USERS)
    accepted = []
    with open_session(server) as raw:
        for sender in ("<s@sender.test>", "<alice@example.test>", "<>"):
            assert raw.cmd(f"MAIL FROM:{sender}")[0] == 250
            for rcpt in REMOTE_RCPTS:
                code, text = raw.cmd(b"RCPT TO:" + rcpt.encode())
                if code < 400:
                    accepted.append((sender, rcpt, code, text))
                else:
                    assert code >= 500, (rcpt, code, text)  # a definite no, not "try later"
            # With SMTPUTF8 a UTF-8 remote domain is still remote.
            assert raw.cmd("RSET")[0] == 250
            assert raw.cmd(f"MAIL FROM:{sender} SMTPUTF8")[0] == 250
            for rcpt in ("<x@bücher.test>", "<alice@exämple.test>", "<ü@remote.test>"):
                code, text = raw.cmd(f"RCPT TO:{rcpt}".encode())
                if code < 400:
                    accepted.append((sender, rcpt, code, text))
            # Without SMTPUTF8 a UTF-8 address is a syntax error, not a relay.
            assert raw.cmd("RSET")[0] == 250
            assert raw.cmd(f"MAIL FROM:{sender}")[0] == 250
            code, _ = raw.cmd("RCPT TO:<x@bücher.test>".encode())
            assert code >= 500
            assert raw.cmd("RSET")[0] == 250
    assert not accepted, f"relay accepted: {accepted}"
    assert read_mailbox(server, "alice@example.test") == []
    assert_healthy(server)


def test_relay_denied_reply_and_no_message_stored(server_factory: ServerFactory) -> None:
    server = server_factory(users=USERS)
    with open_session(server) as raw:
        assert raw.cmd("MAIL FROM:<s@sender.test>")[0] == 250
        code, text = raw.cmd("RCPT TO:<x@remote.test>")
        assert code == 554 and text.startswith("5.7.1"), text
        code, text = raw.cmd("RCPT TO:<nobody@example.test>")
        assert code == 550 and text.startswith("5.1.1"), text
        # DATA with no accepted recipient must not store anything.
        code, _ = raw.cmd("DATA")
        assert code in (503, 554)
        assert raw.cmd("RSET")[0] == 250
    assert read_mailbox(server, "alice@example.test") == []
    assert_healthy(server)


def test_case_and_quoting_of_local_recipients(server_factory: ServerFactory) -> None:
    server = server_factory(users=USERS)
    with open_session(server) as raw:
        assert raw.cmd("MAIL FROM:<s@sender.test>")[0] == 250
        assert raw.cmd("RCPT TO:<ALICE@EXAMPLE.TEST>")[0] == 250
        assert raw.cmd("RCPT TO:<Alice@Example.Test>")[0] == 250
        assert raw.cmd('RCPT TO:<"alice"@example.test>')[0] == 250
        assert raw.cmd("DATA")[0] == 354
        raw.send(message("case") + b".\r\n")
        assert raw.reply()[0] == 250
    # Three spellings of one account: stored once.
    assert subjects(server, "alice@example.test") == ["case"]
    assert read_mailbox(server, "bob@example.test") == []
    assert_healthy(server)


def test_postmaster_and_null_sender(server_factory: ServerFactory) -> None:
    server = server_factory(users=USERS)
    with open_session(server) as raw:
        assert raw.cmd("MAIL FROM:<>")[0] == 250
        assert raw.cmd("RCPT TO:<postmaster>")[0] == 250
        assert raw.cmd("RCPT TO:<PostMaster>")[0] == 250
        assert raw.cmd("RCPT TO:<postmaster@example.test>")[0] == 250
        assert raw.cmd("RCPT TO:<postmaster@EXAMPLE.test>")[0] == 250
        assert raw.cmd("DATA")[0] == 354
        raw.send(message("bounce") + b".\r\n")
        code, text = raw.reply()
        assert code == 250 and "queued as" in text
    stored = read_mailbox(server, "alice@example.test") + read_mailbox(server, "bob@example.test")
    assert len(stored) == 1
    assert stored[0].startswith(b"Return-Path: <>\r\n")
    assert_healthy(server)


def test_commands_out_of_sequence(server_factory: ServerFactory) -> None:
    server = server_factory(users=USERS)
    with Raw(server.host, server.smtp_port) as raw:
        assert raw.reply()[0] == 220
        assert raw.cmd("MAIL FROM:<s@sender.test>")[0] == 503  # before EHLO
        assert raw.cmd("EHLO client.test")[0] == 250
        assert raw.cmd("RCPT TO:<alice@example.test>")[0] == 503
        assert raw.cmd("DATA")[0] == 503
        assert raw.cmd("MAIL FROM:<s@sender.test>")[0] == 250
        assert raw.cmd("MAIL FROM:<s@sender.test>")[0] == 503
        assert raw.cmd("DATA")[0] in (503, 554)
        assert raw.cmd("RCPT TO:<alice@example.test>")[0] == 250
        # The failed commands did not spoil the transaction.
        assert raw.cmd("DATA")[0] == 354
        raw.send(message("after errors") + b".\r\n")
        assert raw.reply()[0] == 250
        assert raw.cmd("NOOP")[0] == 250
        assert raw.cmd("VRFY alice")[0] == 252
        assert raw.cmd("EXPN staff")[0] == 502
        assert raw.cmd("FOO bar")[0] == 500
        assert raw.cmd("")[0] == 500
        assert raw.cmd("QUIT")[0] == 221
    assert subjects(server, "alice@example.test") == ["after errors"]
    assert_healthy(server)


# -- sizes and limits ------------------------------------------------------------------------

def test_size_limit_declared_and_undeclared(server_factory: ServerFactory) -> None:
    server = server_factory({"limits": {"max_message_size": 10_000}}, users=USERS)
    with open_session(server) as raw:
        code, text = raw.cmd("MAIL FROM:<s@sender.test> SIZE=10001")
        assert code == 552 and text.startswith("5.3.4"), text
        code, _ = raw.cmd("MAIL FROM:<s@sender.test> SIZE=99999999999999999999999999")
        assert code in (501, 552, 555)
        assert raw.cmd("MAIL FROM:<s@sender.test> SIZE=5000")[0] == 250
        assert raw.cmd("RCPT TO:<alice@example.test>")[0] == 250
        assert raw.cmd("DATA")[0] == 354
        # The declared size was a lie: the content is cut off at the limit.
        raw.send(message("too big", "x" * 70 + "\r\n") * 200 + b".\r\n")
        code, text = raw.reply()
        assert code == 552 and text.startswith("5.3.4"), text
        # The connection is still usable.
        assert raw.cmd("RSET")[0] == 250
        assert raw.cmd("MAIL FROM:<s@sender.test>")[0] == 250
        assert raw.cmd("RCPT TO:<alice@example.test>")[0] == 250
        assert raw.cmd("DATA")[0] == 354
        raw.send(message("small") + b".\r\n")
        assert raw.reply()[0] == 250
        # The same with BDAT: oversize chunks are refused, the session goes on.
        assert raw.cmd("MAIL FROM:<s@sender.test>")[0] == 250
        assert raw.cmd("RCPT TO:<alice@example.test>")[0] == 250
        raw.send(b"BDAT 8000\r\n" + b"y" * 8000)
        assert raw.reply()[0] == 250
        raw.send(b"BDAT 8000 LAST\r\n" + b"y" * 8000)
        code, text = raw.reply()
        assert code == 552, text
        assert raw.cmd("RSET")[0] == 250
        assert raw.cmd("NOOP")[0] == 250
    assert subjects(server, "alice@example.test") == ["small"]
    assert_healthy(server)


def test_recipient_limit(server_factory: ServerFactory) -> None:
    server = server_factory({"limits": {"max_recipients": 3}}, users=USERS)
    with open_session(server) as raw:
        assert raw.cmd("MAIL FROM:<s@sender.test>")[0] == 250
        for rcpt in ("alice@example.test", "bob@example.test", "ALICE@example.test"):
            assert raw.cmd(f"RCPT TO:<{rcpt}>")[0] == 250
        code, text = raw.cmd("RCPT TO:<bob@example.test>")
        assert code == 452 and text.startswith("4.5.3"), text
        assert raw.cmd("DATA")[0] == 354
        raw.send(message("three") + b".\r\n")
        assert raw.reply()[0] == 250
    assert subjects(server, "alice@example.test") == ["three"]
    assert subjects(server, "bob@example.test") == ["three"]
    assert_healthy(server)


def test_overlong_lines_nul_and_8bit_garbage(server_factory: ServerFactory) -> None:
    server = server_factory({"limits": {"max_line_length": 512}}, users=USERS)
    with open_session(server) as raw:
        code, _ = raw.cmd(b"NOOP " + b"a" * 5000)
        assert code == 500
        # An overlong line arriving in many pieces, never ending for a while.
        for _ in range(20):
            raw.send(b"b" * 1000)
        raw.send(b"\r\n")
        assert raw.reply()[0] == 500
        assert raw.cmd("NOOP")[0] == 250  # exactly one error for it, then back in sync
        for garbage in (b"MAIL FROM:<a\x00b@sender.test>", b"\x00\x00\x00", b"\xff\xfe\xfd\x80",
                        b"EHLO \xc3\x28", b"MAIL FROM:<\xff@sender.test>",
                        b"RCPT TO:<alice@example.test>\x00", b"\x1b[31mHELO x"):
            code, _ = raw.cmd(garbage)
            assert 500 <= code < 600, garbage
        assert raw.cmd("RSET")[0] == 250
        assert raw.cmd("MAIL FROM:<s@sender.test>")[0] == 250
        assert raw.cmd("RCPT TO:<alice@example.test>")[0] == 250
        assert raw.cmd("DATA")[0] == 354
        # A long line inside DATA (under the size limit) is content, byte for byte.
        long_line = "z" * 3000
        raw.send(message("long line", long_line + "\r\n") + b".\r\n")
        code, _ = raw.reply()
        assert code in (250, 500, 552, 554)
        if code != 250:
            assert raw.cmd("RSET")[0] == 250
    stored = read_mailbox(server, "alice@example.test")
    for raw_message in stored:
        assert raw_message.endswith(long_line.encode() + b"\r\n")
    assert_healthy(server)


def test_errors_close_the_session_after_max_errors(server_factory: ServerFactory) -> None:
    server = server_factory({"limits": {"max_errors": 5}}, users=USERS)
    with open_session(server) as raw:
        for _ in range(4):
            assert raw.cmd("BOGUS")[0] == 500
        raw.send(b"BOGUS\r\n")
        codes = [raw.reply()[0]]
        with contextlib.suppress(ConnectionError):
            codes.append(raw.reply()[0])
        assert 421 in codes
        assert raw.closed()
    assert_healthy(server)


def test_pipelining_many_commands_in_one_write(server_factory: ServerFactory) -> None:
    server = server_factory(users=USERS)
    with Raw(server.host, server.smtp_port) as raw:
        assert raw.reply()[0] == 220
        script = [
            "EHLO client.test", "MAIL FROM:<s@sender.test>", "RCPT TO:<alice@example.test>",
            "RCPT TO:<nobody@example.test>", "RCPT TO:<x@remote.test>", "RCPT TO:<bob@example.test>",
            "DATA",
        ]
        # The message body goes in the same write, before the 354 (a client that does not
        # wait); then a second transaction and QUIT.
        blob = "".join(line + "\r\n" for line in script).encode()
        blob += message("pipelined 1") + b".\r\n"
        for n in range(2, 12):
            blob += (b"MAIL FROM:<s@sender.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
                     + message(f"pipelined {n}") + b".\r\n")
        blob += b"QUIT\r\n"
        raw.send(blob)
        codes = [raw.reply()[0] for _ in range(8 + 10 * 4 + 1)]
        assert codes[:9] == [250, 250, 250, 550, 554, 250, 354, 250, 250], codes
        assert codes[9:-1] == [250, 354, 250, 250] * 10 or codes[8:-1] == [250, 250, 354, 250] * 10
        assert codes[-1] == 221
        assert raw.closed()
    assert subjects(server, "alice@example.test") == ["pipelined 1"]
    assert sorted(subjects(server, "bob@example.test")) == sorted(
        f"pipelined {n}" for n in range(1, 12))
    assert_healthy(server)


# -- SMTP smuggling --------------------------------------------------------------------------

SMUGGLE_ENDS = [b"\n.\n", b"\r.\r", b"\r\n.\n", b"\n.\r\n", b"\r\n.\r", b"\r.\r\n", b"\r\n\x00.\r\n"]


def drain_replies(raw: Raw, timeout: float = 1.5) -> list[int]:
    """Every reply until the server closes (or stays silent for `timeout`)."""
    raw.sock.settimeout(timeout)
    replies = []
    try:
        while True:
            replies.append(raw.reply()[0])
    except (ConnectionError, TimeoutError):
        pass
    return replies


def test_smuggled_end_of_data_never_makes_a_second_message(server_factory: ServerFactory) -> None:
    server = server_factory(users=USERS)
    smuggled = (b"MAIL FROM:<admin@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
                b"From: admin@example.test\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n")
    for fake_end in SMUGGLE_ENDS:
        before = len(read_mailbox(server, "alice@example.test"))
        with open_session(server) as raw:
            assert raw.cmd("MAIL FROM:<s@sender.test>")[0] == 250
            assert raw.cmd("RCPT TO:<alice@example.test>")[0] == 250
            assert raw.cmd("DATA")[0] == 354
            raw.send(b"From: s@sender.test\r\nSubject: carrier\r\n\r\nhello" + fake_end
                     + smuggled + b"tail\r\n.\r\n")
            replies = drain_replies(raw)
        assert read_mailbox(server, "bob@example.test") == [], (fake_end, replies)
        stored = read_mailbox(server, "alice@example.test")[before:]
        # Either refused (550 5.6.11) or taken whole as one message that contains the rest.
        assert len(stored) <= 1, (fake_end, replies)
        if b"\x00" not in fake_end:
            assert not stored and 550 in replies, (fake_end, replies)
        if stored:
            assert b"smuggled" in stored[0]
    assert_healthy(server)


def test_bare_newlines_in_bdat_are_refused(server_factory: ServerFactory) -> None:
    server = server_factory(users=USERS)
    with open_session(server) as raw:
        assert raw.cmd("MAIL FROM:<s@sender.test>")[0] == 250
        assert raw.cmd("RCPT TO:<alice@example.test>")[0] == 250
        chunk = b"Subject: bdat bare\n\nhello\n.\n"
        raw.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
        code, _ = raw.reply()
        assert code >= 500
        assert raw.cmd("RSET")[0] == 250
    assert read_mailbox(server, "alice@example.test") == []
    assert_healthy(server)


# -- BDAT ------------------------------------------------------------------------------------

def test_bdat_sequences(server_factory: ServerFactory) -> None:
    server = server_factory(users=USERS)
    with open_session(server) as raw:
        # BDAT without MAIL: the chunk is read and discarded, then 503; the session goes on.
        raw.send(b"BDAT 5\r\nNOOP\r")
        assert raw.reply()[0] == 503
        assert raw.cmd("NOOP")[0] == 250
        # Chunks, then LAST 0 ends the message.
        assert raw.cmd("MAIL FROM:<s@sender.test>")[0] == 250
        assert raw.cmd("RCPT TO:<alice@example.test>")[0] == 250
        first = b"Subject: bdat\r\n\r\n"
        raw.send(b"BDAT %d\r\n" % len(first) + first)
        assert raw.reply()[0] == 250
        # RCPT and DATA after BDAT are refused; the transaction survives.
        assert raw.cmd("RCPT TO:<bob@example.test>")[0] == 503
        assert raw.cmd("DATA")[0] == 503
        second = b"line with .\r\n.\r\n..\r\nend"
        raw.send(b"BDAT %d\r\n" % len(second) + second)
        assert raw.reply()[0] == 250
        code, text = raw.cmd("BDAT 0 LAST")
        assert code == 250 and "queued as" in text, text
        # DATA first, then BDAT: BDAT while DATA... (DATA completes first, so a fresh MAIL).
        assert raw.cmd("MAIL FROM:<s@sender.test>")[0] == 250
        assert raw.cmd("BDAT 0 LAST")[0] >= 500  # no recipients
        assert raw.cmd("RSET")[0] == 250
    stored = read_mailbox(server, "alice@example.test")
    assert len(stored) == 1
    # BDAT content is taken as is: no dot-unstuffing.
    assert stored[0].endswith(b"\r\n\r\nline with .\r\n.\r\n..\r\nend")
    assert read_mailbox(server, "bob@example.test") == []
    assert_healthy(server)


def test_bdat_with_bad_size_closes_without_running_the_chunk(server_factory: ServerFactory) -> None:
    server = server_factory(users=USERS)
    for bad in (b"BDAT", b"BDAT x", b"BDAT -1", b"BDAT 1.5", b"BDAT 5 FIRST", b"BDAT 0x10"):
        with open_session(server) as raw:
            assert raw.cmd("MAIL FROM:<s@sender.test>")[0] == 250
            assert raw.cmd("RCPT TO:<alice@example.test>")[0] == 250
            # The "chunk" holds a whole transaction to bob that must never run.
            raw.send(bad + b"\r\nRSET\r\nMAIL FROM:<s@sender.test>\r\nRCPT TO:<bob@example.test>"
                     b"\r\nDATA\r\nSubject: from the chunk\r\n\r\nx\r\n.\r\n")
            replies = drain_replies(raw)
        assert replies and replies[0] >= 500, (bad, replies)
        assert 354 not in replies, (bad, replies)
    assert read_mailbox(server, "bob@example.test") == []
    assert_healthy(server)


def test_bdat_huge_size_is_refused_or_bounded(server_factory: ServerFactory) -> None:
    server = server_factory({"limits": {"max_message_size": 10_000, "data_timeout": 1}}, users=USERS)
    with open_session(server) as raw:
        assert raw.cmd("MAIL FROM:<s@sender.test>")[0] == 250
        assert raw.cmd("RCPT TO:<alice@example.test>")[0] == 250
        raw.send(b"BDAT 99999999999999999999 LAST\r\n" + b"x" * 20000)
        # Either refused at once, or read into the void until the data timeout.
        replies = drain_replies(raw, 5)
        assert replies and all(code >= 400 for code in replies), replies
    assert read_mailbox(server, "alice@example.test") == []
    assert_healthy(server)


def test_dot_stuffing_survives_every_split_of_the_stream(server_factory: ServerFactory) -> None:
    """The end marker and stuffed dots, cut at every byte across two TCP segments."""
    server = server_factory(users=USERS)
    content = b"Subject: split\r\n\r\na\r\n..b\r\n.\r\n"  # as sent: stuffed
    expected = b"Subject: split\r\n\r\na\r\n.b\r\n"
    with open_session(server) as raw:
        raw.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cuts = range(len(content) - 14, len(content))  # every byte of "a\r\n..b\r\n.\r\n"
        for cut in cuts:
            assert raw.cmd("MAIL FROM:<s@sender.test>")[0] == 250
            assert raw.cmd("RCPT TO:<alice@example.test>")[0] == 250
            assert raw.cmd("DATA")[0] == 354
            raw.send(content[:cut])
            time.sleep(0.02)
            raw.send(content[cut:])
            code, text = raw.reply()
            assert code == 250, (cut, text)
    stored = read_mailbox(server, "alice@example.test")
    assert len(stored) == len(cuts)
    for n, message in enumerate(stored, 1):
        assert message.endswith(b"\r\n" + expected), n
    assert_healthy(server)


def test_data_content_is_unstuffed_byte_exact(server_factory: ServerFactory) -> None:
    server = server_factory(users=USERS)
    body = (b"Subject: exact\r\n\r\n.\r\n..\r\n...\r\n.x\r\n x\r\n\t\r\n\r\n\xff\xfe 8bit\r\n"
            b"trailing spaces   \r\n" + b"\r\n" * 3)
    with smtplib.SMTP(server.host, server.smtp_port, timeout=10) as smtp:
        assert smtp.sendmail("s@sender.test", ["alice@example.test"], body) == {}
    [stored] = read_mailbox(server, "alice@example.test")
    assert stored.endswith(b"\r\n" + body)
    assert_healthy(server)
