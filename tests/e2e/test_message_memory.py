"""`limits.max_message_memory`: the message bytes all SMTP sessions hold at once are bounded;
past it a message gets `452 4.3.1` (the client retries later), and every other session and
the server carry on."""

from __future__ import annotations

import smtplib
import time

from mailstead.testing import RawSMTPClient, ServerFactory, read_mailbox

USERS = {"alice@example.test": "secret-password"}
LIMITS = {"limits": {"max_message_size": 200_000, "max_message_memory": 300_000}}
LINE = b"x" * 98 + b"\r\n"  # 100 bytes


def message(subject: str, size: int) -> bytes:
    return f"Subject: {subject}\r\n\r\n".encode() + LINE * (size // len(LINE))


def test_a_message_past_the_memory_budget_gets_452_and_the_next_try_passes(server_factory: ServerFactory) -> None:
    server = server_factory(LIMITS, users=USERS)
    # One client sits in the middle of a 150 kB message: the server holds what it sent.
    holder = RawSMTPClient(server.host, server.smtp_port, timeout=10)
    assert holder.reply()[0] == 220
    assert holder.cmd("EHLO holder.test")[0] == 250
    assert holder.cmd("MAIL FROM:<h@sender.test>")[0] == 250
    assert holder.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert holder.cmd("DATA")[0] == 354
    holder.send(message("held", 150_000))
    time.sleep(0.5)  # read by the server (the test's bound, not a speed claim)
    # Another's 180 kB message does not fit beside it: 452, not a crash, not a 250.
    with smtplib.SMTP(server.host, server.smtp_port, timeout=10) as smtp:
        smtp.ehlo("second.test")
        try:
            smtp.sendmail("s@sender.test", ["alice@example.test"], message("second", 180_000))
            raise AssertionError("the second message was accepted past the budget")
        except smtplib.SMTPDataError as exc:
            assert exc.smtp_code == 452 and exc.smtp_error.startswith(b"4.3.1"), exc
        # The session goes on; a small message fits.
        assert smtp.sendmail("s@sender.test", ["alice@example.test"], message("small", 1000)) == {}
    # The holder's message was never refused: it completes.
    holder.send(b".\r\n")
    assert holder.reply()[0] == 250
    assert holder.cmd("QUIT")[0] == 221
    # With the memory back, the refused message goes through on its retry.
    with smtplib.SMTP(server.host, server.smtp_port, timeout=10) as smtp:
        smtp.ehlo("second.test")
        assert smtp.sendmail("s@sender.test", ["alice@example.test"], message("second", 180_000)) == {}
    subjects = sorted(m.split(b"\r\nSubject: ", 1)[1].split(b"\r\n", 1)[0]
                      for m in read_mailbox(server, "alice@example.test"))
    assert subjects == [b"held", b"second", b"small"]
    log = server.log_text()
    assert "refused" in log and "max_message_memory" in log and "Traceback" not in log


def test_memory_held_by_a_client_that_vanishes_is_given_back(server_factory: ServerFactory) -> None:
    server = server_factory(LIMITS, users=USERS)
    for _ in range(3):  # 3 x 150 kB abandoned: more than the budget if never released
        quitter = RawSMTPClient(server.host, server.smtp_port, timeout=10)
        quitter.reply()
        quitter.cmd("EHLO q.test")
        quitter.cmd("MAIL FROM:<q@sender.test>")
        quitter.cmd("RCPT TO:<alice@example.test>")
        quitter.cmd("DATA")
        quitter.send(message("abandoned", 150_000))
        time.sleep(0.3)
        quitter.sock.close()
    time.sleep(0.3)
    with smtplib.SMTP(server.host, server.smtp_port, timeout=10) as smtp:
        smtp.ehlo("after.test")
        assert smtp.sendmail("s@sender.test", ["alice@example.test"], message("after", 180_000)) == {}
    assert len(read_mailbox(server, "alice@example.test")) == 1
