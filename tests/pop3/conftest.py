"""An in-process POP3 server on a real socket, for tests that need to reach inside it
(inject a store failure, trigger a shutdown, freeze the mailbox mid-session).

The server runs on uvloop in its own thread (as `mailstead serve` does); the tests drive it
with the blocking stdlib `poplib` and raw sockets. It uses the real SQLite store, the real
config parser and the real `start_pop3`; addresses are 127.0.20.x with kernel-chosen ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import poplib
import socket
import ssl
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mailstead.auth.authenticator import Authenticator
from mailstead.auth.passwords import hash_password
from mailstead.config import Config, ListenAddress, parse_config
from mailstead.net.tls import server_context, write_self_signed
from mailstead.store import Delivery, MessageCopy, open_store
from mailstead.store.base import Account, Store

DOMAIN = "example.test"
PASSWORD = "secret-password"


def structure_of(raw: bytes) -> tuple[bytes, str]:
    """The MIME structure and search text the store keeps beside the message."""
    try:
        from mailstead.mime import analyse
    except ImportError:  # the MIME module is still being written
        return b"", ""
    info = analyse(raw)
    return info.dumps(), info.search_text()


def hash_for(password: str, config: Config) -> str:
    return hash_password(password, config.auth)


@dataclass
class Pop3Harness:
    config: Config
    loop: asyncio.AbstractEventLoop
    ctx: Any
    host: str
    pop3_port: int
    pop3s_port: int
    accounts: dict[str, Account] = field(default_factory=dict)
    _queue_ids: int = 0

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def store(self) -> Store:
        return self.ctx.store

    def add_user(self, address: str, password: str = PASSWORD) -> Account:
        account = self.run(self.store.add_account(address, hash_for(password, self.config)))
        self.accounts[address] = account
        return account

    def deliver(self, address: str, raw: bytes, prefix: bytes = b"") -> int:
        self._queue_ids += 1
        structure, search_text = structure_of(prefix + raw)
        copy = MessageCopy(self.accounts[address].id, prefix, structure, search_text,
                           recipient=address)
        [delivered] = self.run(self.store.deliver(Delivery(f"Q{self._queue_ids:06d}", raw, [copy])))
        return delivered.uid

    def inbox(self, address: str) -> list[bytes]:
        async def read() -> list[bytes]:
            mailbox = await self.store.get_mailbox(self.accounts[address].id, "INBOX")
            assert mailbox is not None
            out = []
            for summary in await self.store.list_messages(mailbox.id):
                stored = await self.store.get_message(mailbox.id, summary.uid)
                assert stored is not None
                out.append(stored.raw)
            return out

        return self.run(read())

    # -- clients -------------------------------------------------------------------------
    def pop(self, timeout: float = 10) -> poplib.POP3:
        return poplib.POP3(self.host, self.pop3_port, timeout=timeout)

    def pops(self, timeout: float = 10) -> poplib.POP3_SSL:
        return poplib.POP3_SSL(self.host, self.pop3s_port, context=client_tls(), timeout=timeout)

    def login(self, address: str, password: str = PASSWORD) -> poplib.POP3:
        client = self.pop()
        client.user(address)
        client.pass_(password)
        return client

    def raw(self, timeout: float = 10) -> RawClient:
        return RawClient(socket.create_connection((self.host, self.pop3_port), timeout=timeout))


def client_tls() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class RawClient:
    """A bare socket speaking POP3 by hand, for what poplib will not send."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"connection closed; unread: {self.buffer!r}")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def block(self) -> bytes:
        """A multi-line block after its status line, terminator removed, still stuffed."""
        if self.buffer.startswith(b".\r\n"):
            self.buffer = self.buffer[3:]
            return b""
        data = bytearray(self.buffer)
        scanned = 0
        while (end := data.find(b"\r\n.\r\n", max(0, scanned - 4))) < 0:
            scanned = len(data)
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError("connection closed inside a block")
            data += chunk
            if data.startswith(b".\r\n"):
                self.buffer = bytes(data[3:])
                return b""
        self.buffer = bytes(data[end + 5 :])
        return bytes(data[: end + 2])

    def command(self, line: bytes) -> bytes:
        self.send(line + b"\r\n")
        return self.line()

    def closed(self) -> bool:
        """True when the server has closed the connection (reads EOF)."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buffer += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False

    def starttls(self) -> None:
        self.sock = client_tls().wrap_socket(self.sock, server_hostname="mx.example.test")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


_HOST_COUNTER = [0]


def _host() -> str:
    # 127.0.20.0/24 is this module's range; spread workers over it (ports are kernel-chosen,
    # so sharing an address is harmless anyway).
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    return f"127.0.20.{(int(worker or 0) % 250) + 1}"


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("pop3-tls")
    cert, key = root / "cert.pem", root / "key.pem"
    write_self_signed("mx.example.test", cert, key)
    return cert, key


@pytest.fixture
def pop3_factory(
    tmp_path: Path, tls_files: tuple[Path, Path]
) -> Iterator[Callable[..., Pop3Harness]]:
    """make(limits={...}, auth={...}, users=("alice@example.test", ...)) -> Pop3Harness."""
    started: list[tuple[Pop3Harness, threading.Thread]] = []

    def make(
        limits: dict[str, Any] | None = None,
        auth: dict[str, Any] | None = None,
        users: tuple[str, ...] = ("alice@example.test", "bob@example.test"),
    ) -> Pop3Harness:
        from mailstead.pop3.server import start_pop3
        from mailstead.server import ServerContext

        data_dir = tmp_path / f"data{len(started)}"
        cert, key = tls_files
        config = parse_config(
            {
                "hostname": "mx.example.test",
                "data_dir": str(data_dir),
                "tls": {"cert": str(cert), "key": str(key)},
                "limits": limits or {},
                "auth": {"failure_delay": 1, **(auth or {})},
            },
            tmp_path / "mailstead.toml",
        )
        data_dir.mkdir()
        try:
            import uvloop

            loop = uvloop.new_event_loop()
        except ImportError:
            loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()

        async def start() -> tuple[Any, int, int]:
            store = await open_store(config.store_url)
            await store.add_domain(DOMAIN)
            ctx = ServerContext(
                config=config,
                store=store,
                authenticator=Authenticator(store, config.auth),
                tls_context=server_context(cert, key),
            )
            host = _host()
            plain = await start_pop3(ctx, ListenAddress(host, 0), False)
            implicit = await start_pop3(ctx, ListenAddress(host, 0), True)
            ctx.shared["test.servers"] = [plain, implicit]
            return ctx, plain.sockets[0].getsockname()[1], implicit.sockets[0].getsockname()[1]

        ctx, port, sport = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
        harness = Pop3Harness(config, loop, ctx, _host(), port, sport)
        started.append((harness, thread))
        for user in users:
            harness.add_user(user)
        return harness

    yield make

    for harness, thread in started:

        async def stop(h: Pop3Harness = harness) -> None:
            for server in h.ctx.shared["test.servers"]:
                server.close()
            await h.ctx.connections.drain(2)
            await h.ctx.store.close()
            h.ctx.authenticator.close()

        with contextlib.suppress(Exception):
            harness.run(stop())
        harness.loop.call_soon_threadsafe(harness.loop.stop)
        thread.join(10)
        if not thread.is_alive():
            harness.loop.close()


@pytest.fixture
def pop3(pop3_factory: Callable[..., Pop3Harness]) -> Pop3Harness:
    """A server with alice@ and bob@example.test, plaintext allowed from loopback."""
    return pop3_factory()
