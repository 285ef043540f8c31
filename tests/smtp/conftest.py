"""An in-process MX server (real sockets, real SQLite store, real TLS) on 127.0.10.0/24.

It runs in its own thread and event loop (uvloop) so that tests can use blocking clients
(smtplib, raw sockets) against it. Tests that need the whole program (`mailstead serve`)
use the shared `mailstead_server` fixture instead.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from mailstead.auth.authenticator import Authenticator
from mailstead.auth.passwords import hash_password
from mailstead.config import ListenAddress, parse_config
from mailstead.net.tls import server_context, write_self_signed
from mailstead.server import ServerContext
from mailstead.store import Store, open_store

T = TypeVar("T")
DOMAIN = "example.test"
PASSWORD = "secret-password"


@dataclass
class MX:
    host: str
    port: int
    root: Path
    loop: asyncio.AbstractEventLoop
    ctx: ServerContext
    server: asyncio.AbstractServer
    thread: threading.Thread
    extra: dict[str, Any] = field(default_factory=dict)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    @property
    def store(self) -> Store:
        return self.ctx.store

    def mailbox(self, address: str) -> list[bytes]:
        async def read() -> list[bytes]:
            account = await self.store.get_account(address)
            assert account is not None
            box = await self.store.get_mailbox(account.id, "INBOX")
            assert box is not None
            out = []
            for summary in await self.store.list_messages(box.id):
                message = await self.store.get_message(box.id, summary.uid)
                assert message is not None
                out.append(message.raw)
            return out

        return self.run(read())

    def stop(self) -> None:
        async def shutdown() -> None:
            self.server.close()
            await self.ctx.connections.drain(2)
            await self.ctx.store.close()
            self.ctx.authenticator.close()  # type: ignore[attr-defined]

        try:
            self.run(shutdown())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


_CERTS: dict[str, tuple[Path, Path]] = {}


def _certificate(root: Path) -> tuple[Path, Path]:
    if "cert" not in _CERTS:
        cert, key = root / "cert.pem", root / "key.pem"
        write_self_signed("mx.example.test", cert, key)
        _CERTS["cert"] = (cert, key)
    return _CERTS["cert"]


def start_mx_in_thread(root: Path, limits: dict[str, Any] | None = None,
                       auth: dict[str, Any] | None = None, tls: bool = True) -> MX:
    from mailstead.smtp.server import start_mx

    cert, key = _certificate(root.parent)
    data: dict[str, Any] = {
        "hostname": "mx.example.test",
        "data_dir": str(root / "data"),
        "limits": limits or {},
        # Cheap argon2 parameters: the tests are not about hashing cost.
        "auth": {"argon2_memory_kib": 1024, "argon2_time_cost": 1, "failure_delay": 1, **(auth or {})},
    }
    if tls:
        data["tls"] = {"cert": str(cert), "key": str(key)}
    config = parse_config(data, root / "mailstead.toml")
    host = f"127.0.10.{random.randint(1, 254)}"
    loop: asyncio.AbstractEventLoop
    try:
        if os.environ.get("MAILSTEAD_TEST_LOOP") == "asyncio":
            raise ImportError("the stdlib loop was asked for")
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> tuple[ServerContext, asyncio.AbstractServer]:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        store = await open_store(config.store_url)
        await store.add_domain(DOMAIN)
        await store.add_domain("other.test")
        for user in ("alice", "bob", "carol"):
            await store.add_account(f"{user}@{DOMAIN}", hash_password(PASSWORD, config.auth))
        await store.add_alias(f"postmaster@{DOMAIN}", f"alice@{DOMAIN}")
        await store.add_alias(f"team@{DOMAIN}", f"alice@{DOMAIN}")
        await store.add_alias(f"team@{DOMAIN}", f"bob@{DOMAIN}")
        authenticator = Authenticator(store, config.auth)
        ctx = ServerContext(
            config=config,
            store=store,
            authenticator=authenticator,
            tls_context=server_context(cert, key) if tls else None,
        )
        server = await start_mx(ctx, ListenAddress(host, 0), False)
        return ctx, server

    future = asyncio.run_coroutine_threadsafe(start(), loop)
    ctx, server = future.result(30)
    port = server.sockets[0].getsockname()[1]
    return MX(host, port, root, loop, ctx, server, thread)


@pytest.fixture
def mx_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    started: list[MX] = []

    def make(**kwargs: Any) -> MX:
        mx = start_mx_in_thread(tmp_path_factory.mktemp("mx"), **kwargs)
        started.append(mx)
        return mx

    yield make
    for mx in started:
        mx.stop()


@pytest.fixture
def mx(mx_factory: Any) -> MX:
    return mx_factory()
