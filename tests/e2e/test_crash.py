"""kill -9 under load loses nothing that got a 250, and leaves a consistent store."""

from __future__ import annotations

import asyncio
import smtplib
import threading
import time

import pytest

from mailstead.testing import MailsteadServer, ServerFactory, read_mailbox

pytestmark = pytest.mark.slow

SENDERS = 4


def sender_loop(server: MailsteadServer, worker: int, acked: list[str], stop: threading.Event) -> None:
    n = 0
    while not stop.is_set():
        try:
            with smtplib.SMTP(server.host, server.smtp_port, timeout=10) as smtp:
                while not stop.is_set():
                    n += 1
                    token = f"crash-{worker}-{n}"
                    body = (
                        f"From: load@sender.test\r\nTo: alice@example.test\r\n"
                        f"Subject: {token}\r\nMessage-ID: <{token}@sender.test>\r\n\r\n"
                        + f"token {token}\r\n" * 40
                    )
                    # sendmail raises on any refusal: returning means the DATA got its 250.
                    smtp.sendmail("load@sender.test", ["alice@example.test"], body)
                    acked.append(token)
        except (OSError, smtplib.SMTPException):
            if stop.is_set():
                return
            time.sleep(0.05)


def test_kill_9_under_load_loses_nothing_acknowledged(server_factory: ServerFactory) -> None:
    server = server_factory(users={"alice@example.test": "pw"})
    acked: list[str] = []
    stop = threading.Event()
    threads = [
        threading.Thread(target=sender_loop, args=(server, i, acked, stop), daemon=True)
        for i in range(SENDERS)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while len(acked) < 150 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()  # SIGKILL while the senders are mid-transaction
    stop.set()
    for t in threads:
        t.join(15)
    acknowledged = set(acked)
    assert len(acknowledged) >= 50, "the load never got going"

    stored = read_mailbox(server, "alice@example.test")
    found = {raw.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0].decode() for raw in stored}
    missing = acknowledged - found
    assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {sorted(missing)[:5]}"

    async def integrity() -> list[str]:
        from mailstead.store import open_store

        store = await open_store(server.store_url)
        try:
            return await store.check_integrity()
        finally:
            await store.close()

    assert asyncio.run(integrity()) == []
    import apsw

    db = apsw.Connection(str(server.db_path))
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    db.close()

    # The server comes back on the same data and serves the same mail.
    server.start()
    assert len(read_mailbox(server, "alice@example.test")) == len(stored)
