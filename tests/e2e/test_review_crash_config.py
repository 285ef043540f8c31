"""Review: kill -9 while BDAT senders deliver to several recipients (and an alias) loses
nothing acknowledged and stores each message once; the config's contract keys."""

from __future__ import annotations

import asyncio
import smtplib
import socket
import subprocess
import sys
import threading
import time

import apsw
import pytest

from mailstead.testing import MailsteadServer, ServerFactory, deep_merge, read_mailbox, to_toml

RECIPIENTS = ["alice@example.test", "bob@example.test", "team@example.test"]


def bdat_sender(server: MailsteadServer, worker: int, acked: list[str], stop: threading.Event) -> None:
    n = 0
    while not stop.is_set():
        try:
            with smtplib.SMTP(server.host, server.smtp_port, timeout=10) as smtp:
                smtp.ehlo()
                while not stop.is_set():
                    n += 1
                    token = f"bdat-{worker}-{n}"
                    head = (f"From: load@sender.test\r\nSubject: {token}\r\n"
                            f"Message-ID: <{token}@sender.test>\r\n\r\n").encode()
                    body = f"token {token}\r\n".encode() * 30
                    assert smtp.mail("load@sender.test")[0] == 250
                    for rcpt in RECIPIENTS:
                        assert smtp.rcpt(rcpt)[0] == 250
                    smtp.send(b"BDAT %d\r\n" % len(head) + head)
                    assert smtp.getreply()[0] == 250
                    smtp.send(b"BDAT %d LAST\r\n" % len(body) + body)
                    code, _ = smtp.getreply()
                    if code != 250:
                        raise smtplib.SMTPException(code)
                    acked.append(token)
        except (OSError, smtplib.SMTPException, AssertionError):
            if stop.is_set():
                return
            time.sleep(0.05)


def tokens(server: MailsteadServer, user: str) -> list[str]:
    return [raw.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0].decode()
            for raw in read_mailbox(server, user)]


@pytest.mark.slow
def test_kill_9_during_bdat_to_many_recipients(server_factory: ServerFactory) -> None:
    server = server_factory(users={"alice@example.test": "pw", "bob@example.test": "pw"})
    server.cli("alias", "add", "team@example.test", "alice@example.test")
    server.cli("alias", "add", "team@example.test", "bob@example.test")
    acked: list[str] = []
    stop = threading.Event()
    threads = [threading.Thread(target=bdat_sender, args=(server, i, acked, stop), daemon=True)
               for i in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while len(acked) < 80 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()
    stop.set()
    for t in threads:
        t.join(15)
    acknowledged = set(acked)
    assert len(acknowledged) >= 20, "the load never got going"
    for user in ("alice@example.test", "bob@example.test"):
        found = tokens(server, user)
        # Each message once per account, though team@ names both again.
        assert len(found) == len(set(found)), f"{user} got duplicates"
        missing = acknowledged - set(found)
        assert not missing, f"{user}: {len(missing)} acknowledged messages lost"
    # Alice and Bob saw exactly the same messages: a delivery is all-or-nothing.
    assert set(tokens(server, "alice@example.test")) == set(tokens(server, "bob@example.test"))

    db = apsw.Connection(str(server.db_path))
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    blobs = db.execute("SELECT count(*) FROM blobs").fetchall()[0][0]
    messages = db.execute("SELECT count(*) FROM messages").fetchall()[0][0]
    db.close()
    assert messages == 2 * blobs  # the bytes stored once for both copies

    async def integrity() -> list[str]:
        from mailstead.store import open_store

        store = await open_store(server.store_url)
        try:
            return await store.check_integrity()
        finally:
            await store.close()

    assert asyncio.run(integrity()) == []
    server.start()
    with smtplib.SMTP(server.host, server.smtp_port, timeout=10) as smtp:
        assert smtp.sendmail("s@sender.test", ["team@example.test"], b"Subject: after\r\n\r\nx\r\n") == {}
    assert tokens(server, "bob@example.test")[-1] == "after"


# -- config --------------------------------------------------------------------------------

def test_every_contract_key_is_accepted_and_unbuilt_services_are_skipped(
    server_factory: ServerFactory,
) -> None:
    server = server_factory(
        {"limits": {"max_message_size": 52428800},
         "auth": {"allow_plaintext_from": ["127.0.0.0/8", "::1"]}},
        users={"alice@example.test": "pw"},
    )
    config = server.config_path.read_text()
    for key in ("hostname", "data_dir", "[store]", "url", "[listen]", "smtp", "submission",
                "submissions", "imap", "imaps", "pop3", "pop3s", "[tls]", "cert", "key",
                "[limits]", "max_message_size", "[auth]", "allow_plaintext_from"):
        assert key in config
    log = server.log_text()
    for service in ("imap", "imaps", "submission", "submissions"):
        lines = [line for line in log.splitlines()
                 if f"service {service} " in line and "not built" in line]
        assert len(lines) == 1, (service, lines)
        with socket.socket() as s, pytest.raises(ConnectionRefusedError):
            s.connect((server.host, server.ports[service]))
    assert "Traceback" not in log
    with smtplib.SMTP(server.host, server.smtp_port, timeout=10) as smtp:
        assert smtp.sendmail("s@sender.test", ["alice@example.test"], b"Subject: x\r\n\r\nx\r\n") == {}


def test_an_empty_listen_list_disables_a_service(server_factory: ServerFactory) -> None:
    server = server_factory({"listen": {"pop3s": [], "imap": []}})
    with socket.socket() as s, pytest.raises(ConnectionRefusedError):
        s.connect((server.host, server.pop3s_port))
    with socket.create_connection((server.host, server.pop3_port), 5) as s:
        assert s.recv(100).startswith(b"+OK")


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"tls": {"cert": "/nonexistent/cert.pem"}}, "cert"),
        ({"listen": {"smtp": ["127.0.0.1:99999"]}}, "smtp"),
        ({"listen": {"smtp": ["not-an-ip:25"]}}, "smtp"),
        ({"limits": {"max_message_size": "big"}}, "max_message_size"),
        ({"limits": {"no_such_limit": 1}}, "no_such_limit"),
        ({"auth": {"allow_plaintext_from": ["300.0.0.0/8"]}}, "allow_plaintext_from"),
        ({"store": {"url": "mysql://x"}}, "url"),
    ],
)
def test_a_wrong_config_names_key_and_file(
    server_factory: ServerFactory, override: dict[str, object], key: str
) -> None:
    server = server_factory(start=False)

    server.config_path.write_text(to_toml(deep_merge(server.config, override)))
    result = subprocess.run(
        [sys.executable, "-m", "mailstead", "--config", str(server.config_path), "serve"],
        capture_output=True, text=True, timeout=30,
    )
    text = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in text
    assert key in text and str(server.config_path.name) in text, text
