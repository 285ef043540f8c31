"""The MX server over real sockets with smtplib."""

from __future__ import annotations

import smtplib
from typing import Any

import pytest

MESSAGE = b"From: Sender <sender@remote.test>\r\nTo: alice@example.test\r\nSubject: hello\r\n\r\nHello Alice.\r\n"


def client(mx: Any) -> smtplib.SMTP:
    smtp = smtplib.SMTP(mx.host, mx.port, local_hostname="client.remote.test", timeout=10)
    return smtp


def test_deliver_and_headers(mx: Any) -> None:
    with client(mx) as smtp:
        assert smtp.ehlo()[0] == 250
        for keyword in ("PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES",
                        "CHUNKING", "STARTTLS"):
            assert smtp.has_extn(keyword), keyword
        assert smtp.has_extn("AUTH")  # loopback may use plaintext AUTH (allow_plaintext_from)
        smtp.mail("sender@remote.test")
        smtp.rcpt("alice@example.test")
        code, text = smtp.data(MESSAGE)
        assert code == 250
        assert text.startswith(b"2.0.0 Ok: queued as ")
        queue_id = text.split()[-1].decode()
    (raw,) = mx.mailbox("alice@example.test")
    assert raw.startswith(b"Return-Path: <sender@remote.test>\r\nDelivered-To: alice@example.test\r\nReceived: from client.remote.test (")
    assert raw.endswith(MESSAGE)
    received_end = raw.index(MESSAGE)
    received = raw[raw.index(b"Received:"):received_end]
    assert f"id {queue_id}".encode() in received
    assert b"with ESMTP id" in received
    assert b"for <alice@example.test>;" in received
    assert b"by mx.example.test (Mailstead)" in received
    events = [e.event for e in mx.run(mx.store.journey(queue_id))]
    assert "received" in events and "delivered" in events


def test_unknown_user(mx: Any) -> None:
    with client(mx) as smtp:
        smtp.ehlo()
        smtp.mail("sender@remote.test")
        code, text = smtp.rcpt("nobody@example.test")
        assert code == 550 and text.startswith(b"5.1.1 ")


@pytest.mark.parametrize(
    "recipient",
    ["someone@elsewhere.test", "alice%elsewhere.test@example.test", "@relay.test:alice@example.test",
     "elsewhere.test!alice@example.test", "alice@[127.0.0.1]"],
)
def test_relay_denied(mx: Any, recipient: str) -> None:
    with client(mx) as smtp:
        smtp.ehlo()
        smtp.mail("sender@remote.test")
        code, text = smtp.docmd("RCPT", f"TO:<{recipient}>")  # smtplib would rewrite routes
        assert code == 554, text
        assert text.startswith(b"5.7.1 <") and text.endswith(b">: Relay access denied")


def test_aliases_postmaster_and_null_sender(mx: Any) -> None:
    with client(mx) as smtp:
        smtp.ehlo()
        smtp.mail("<>")
        assert smtp.rcpt("<postmaster>")[0] == 250
        assert smtp.rcpt("PostMaster@example.test")[0] == 250
        assert smtp.rcpt("team@example.test")[0] == 250
        assert smtp.data(MESSAGE)[0] == 250
    alice = mx.mailbox("alice@example.test")
    bob = mx.mailbox("bob@example.test")
    assert len(alice) == 1 and len(bob) == 1  # alice once, though reached three ways
    assert alice[0].startswith(b"Return-Path: <>\r\nDelivered-To: alice@example.test\r\n")
    assert bob[0].startswith(b"Return-Path: <>\r\nDelivered-To: bob@example.test\r\n")
    assert b"\tfor <" not in alice[0]  # several recipients: no "for" clause


def test_many_recipients_stored_once(mx: Any) -> None:
    with client(mx) as smtp:
        smtp.ehlo()
        smtp.sendmail("sender@remote.test",
                      ["alice@example.test", "bob@example.test", "carol@example.test"], MESSAGE)
    for user in ("alice", "bob", "carol"):
        (raw,) = mx.mailbox(f"{user}@example.test")
        assert raw.endswith(MESSAGE)
    stats = mx.run(mx.store.stats())
    assert stats.messages == 3 and stats.blobs == 1


def test_oversize_by_size_parameter_and_data(mx_factory: Any) -> None:
    mx = mx_factory(limits={"max_message_size": 2000})
    with client(mx) as smtp:
        smtp.ehlo()
        assert smtp.esmtp_features["size"] == "2000"
        code, text = smtp.mail("sender@remote.test", ["SIZE=5000"])
        assert (code, text[:5]) == (552, b"5.3.4")
        smtp.rset()
        # Lie about the size: the limit still holds during DATA.
        assert smtp.mail("sender@remote.test", ["SIZE=100"])[0] == 250
        smtp.rcpt("alice@example.test")
        code, text = smtp.data(MESSAGE + b"x" * 5000 + b"\r\n")
        assert (code, text[:5]) == (552, b"5.3.4")
        assert smtp.noop()[0] == 250
        smtp.sendmail("sender@remote.test", ["alice@example.test"], MESSAGE)
    assert len(mx.mailbox("alice@example.test")) == 1


def test_too_many_recipients(mx_factory: Any) -> None:
    mx = mx_factory(limits={"max_recipients": 2})
    with client(mx) as smtp:
        smtp.ehlo()
        smtp.mail("sender@remote.test")
        assert smtp.rcpt("alice@example.test")[0] == 250
        assert smtp.rcpt("bob@example.test")[0] == 250
        code, text = smtp.rcpt("carol@example.test")
        assert (code, text[:5]) == (452, b"4.5.3")


def test_helo_and_dot_stuffing_and_exact_bytes(mx: Any) -> None:
    body = (b"Subject: dots\r\n\r\n.leading dot\r\n..two\r\n.\r\nbinary \xc3\xa9\xff\x80 ok\r\n"
            + b"long " * 500 + b"\r\n")
    with client(mx) as smtp:
        assert smtp.helo()[0] == 250
        smtp.sendmail("sender@remote.test", ["bob@example.test"], body)
    (raw,) = mx.mailbox("bob@example.test")
    assert raw.endswith(body)
    assert b"with SMTP id" in raw
