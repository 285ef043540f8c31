"""Start and stop everything: the store, the listeners of each service, signal handling."""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from mailstead.config import IMPLICIT_TLS_SERVICES, SERVICES, Config, ListenAddress
from mailstead.net.connections import ConnectionTracker
from mailstead.net.tls import server_context
from mailstead.store import Store, open_store

log = logging.getLogger("mailstead.server")

# service -> "module:function". The function is
#   async def start(ctx: ServerContext, address: ListenAddress, implicit_tls: bool)
#       -> asyncio.AbstractServer
# A service whose module does not exist yet is skipped with one log line.
SERVICE_STARTERS: dict[str, str] = {
    "smtp": "mailstead.smtp.server:start_mx",
    "submission": "mailstead.smtp.submission:start_submission",
    "submissions": "mailstead.smtp.submission:start_submission",
    "imap": "mailstead.imap.server:start_imap",
    "imaps": "mailstead.imap.server:start_imap",
    "pop3": "mailstead.pop3.server:start_pop3",
    "pop3s": "mailstead.pop3.server:start_pop3",
}

Starter = Callable[["ServerContext", ListenAddress, bool], Awaitable[asyncio.AbstractServer]]


@dataclass
class ServerContext:
    """What every protocol server needs; built once by `MailServer.start`."""

    config: Config
    store: Store
    authenticator: object  # mailstead.auth.authenticator.Authenticator
    tls_context: ssl.SSLContext | None
    connections: ConnectionTracker = field(default_factory=ConnectionTracker)
    # Per-service shared state (limiters, in-use mailbox locks, ...), keyed by the service.
    shared: dict[str, object] = field(default_factory=dict)


def _load_starter(service: str) -> Starter | None:
    module_name, _, func_name = SERVICE_STARTERS[service].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None
        raise
    return getattr(module, func_name, None)


class MailServer:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.ctx: ServerContext | None = None
        self._servers: list[asyncio.AbstractServer] = []
        self.bound: dict[str, list[tuple[str, int]]] = {}

    async def start(self) -> None:
        from mailstead.auth.authenticator import Authenticator

        config = self.config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        tls = None
        if config.tls.cert and config.tls.key:
            tls = server_context(config.tls.cert, config.tls.key)
        store = await open_store(config.store_url)
        self.ctx = ServerContext(
            config=config,
            store=store,
            authenticator=Authenticator(store, config.auth),
            tls_context=tls,
        )
        try:
            for service in SERVICES:
                addresses = config.listen.addresses(service)
                if not addresses:
                    continue
                starter = _load_starter(service)
                if starter is None:
                    log.info("service %s is not built yet: skipping %s", service,
                             ", ".join(map(str, addresses)))
                    continue
                implicit = service in IMPLICIT_TLS_SERVICES
                for address in addresses:
                    server = await starter(self.ctx, address, implicit)
                    self._servers.append(server)
                    for sock in server.sockets:
                        host, port = sock.getsockname()[:2]
                        self.bound.setdefault(service, []).append((host, port))
                    log.info("listening: %s on %s%s", service, address,
                             " (implicit TLS)" if implicit else "")
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        self._servers.clear()
        if self.ctx is not None:
            await self.ctx.connections.drain(self.config.limits.shutdown_grace)
            await self.ctx.store.close()
            self.ctx = None

    async def run_until_signalled(
        self, on_ready: Callable[[MailServer], None] | None = None
    ) -> None:
        await self.start()
        if on_ready is not None:
            on_ready(self)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("mailstead ready (hostname %s)", self.config.hostname)
        try:
            await stop.wait()
            log.info("shutting down")
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            await self.stop()
        log.info("stopped")


def install_event_loop_policy() -> None:
    """uvloop where available: it halves per-connection overhead on the servers."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def serve(config: Config) -> None:
    install_event_loop_policy()
    asyncio.run(MailServer(config).run_until_signalled())
