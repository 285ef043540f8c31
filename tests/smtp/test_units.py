"""Small pieces of the SMTP server: queue ids, trace headers, local delivery."""

from __future__ import annotations

from datetime import UTC, datetime

from mailstead.delivery.local import LocalRecipient, build_delivery
from mailstead.mime import MessageInfo
from mailstead.smtp.queue_id import new_queue_id
from mailstead.smtp.trace import address_literal, received_header, with_protocol
from mailstead.store import Account


def test_queue_ids_are_unique_sorted_and_short() -> None:
    ids = [new_queue_id() for _ in range(5000)]
    assert len(set(ids)) == 5000
    assert ids == sorted(ids)
    assert all(len(i) == 16 and i.isalnum() and i.isupper() for i in ids)
    assert new_queue_id(now=1.0) < new_queue_id(now=4_000_000_000.0)


def test_with_protocol_names() -> None:
    assert with_protocol(False, False, False, False) == "SMTP"
    assert with_protocol(True, False, False, False) == "ESMTP"
    assert with_protocol(True, True, False, False) == "ESMTPS"
    assert with_protocol(True, True, True, False) == "ESMTPSA"
    assert with_protocol(True, False, True, False) == "ESMTPA"
    assert with_protocol(True, True, True, True) == "UTF8SMTPSA"


def test_address_literals() -> None:
    assert address_literal("192.0.2.1") == "[192.0.2.1]"
    assert address_literal("2001:db8::1") == "[IPv6:2001:db8::1]"
    assert address_literal("::ffff:192.0.2.1") == "[192.0.2.1]"
    assert address_literal("junk") == "[unknown]"


def test_received_header() -> None:
    header = received_header(helo="client.test", client_ip="192.0.2.1", client_name=None,
                             hostname="mx.example.test", protocol="ESMTPS", queue_id="QID",
                             tls="TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
                             recipient="alice@example.test")
    lines = header.decode().split("\r\n")
    assert lines[0] == "Received: from client.test ([192.0.2.1])"
    assert lines[1] == "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))"
    assert lines[2] == "\tby mx.example.test (Mailstead) with ESMTPS id QID"
    assert lines[3].startswith("\tfor <alice@example.test>; ")
    assert lines[4] == ""


def test_received_header_does_not_trust_helo() -> None:
    header = received_header(helo="evil)\r\nX-Injected: yes", client_ip="192.0.2.1", client_name=None,
                             hostname="mx", protocol="ESMTP", queue_id="Q")
    assert b"X-Injected" not in header and header.startswith(b"Received: from unknown ([192.0.2.1])")
    assert header.count(b"\r\n") == 3


def _account(i: int, address: str) -> Account:
    return Account(i, address, "x", datetime.now(UTC))


def test_build_delivery_one_copy_per_account() -> None:
    alice, bob = _account(1, "alice@example.test"), _account(2, "bob@example.test")
    blob = b"Received: x\r\nSubject: hi\r\n\r\nbody\r\n"
    delivery = build_delivery("QID", "s@remote.test", blob, [
        LocalRecipient("alice@example.test", [alice]),
        LocalRecipient("team@example.test", [alice, bob]),
    ])
    assert delivery.blob == blob and delivery.queue_id == "QID"
    assert [c.account_id for c in delivery.copies] == [1, 2]
    first, second = delivery.copies
    assert first.prefix == b"Return-Path: <s@remote.test>\r\nDelivered-To: alice@example.test\r\n"
    assert second.recipient == "team@example.test"
    info = MessageInfo.loads(second.structure)
    assert info.size == len(second.prefix) + len(blob)
