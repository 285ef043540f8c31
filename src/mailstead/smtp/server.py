"""The MX listener (port 25): `start_mx`, started by `mailstead.server.MailServer`."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from mailstead.net.admitted_tls import AdmittedTLS
from mailstead.net.limits import ConnectionLimiter
from mailstead.smtp.policy import MxPolicy, Policy
from mailstead.smtp.session import SMTPService

if TYPE_CHECKING:
    from mailstead.config import ListenAddress
    from mailstead.server import ServerContext


def shared_limiter(ctx: ServerContext, service: str) -> ConnectionLimiter:
    """One limiter per service, shared by all its listeners (`ctx.shared`)."""
    key = f"{service}.limiter"
    limiter = ctx.shared.get(key)
    if not isinstance(limiter, ConnectionLimiter):
        limits = ctx.config.limits
        limiter = ConnectionLimiter(limits.max_connections, limits.max_connections_per_ip)
        ctx.shared[key] = limiter
    return limiter


async def start_smtp_service(ctx: ServerContext, address: ListenAddress, implicit_tls: bool,
                             service: str, policy: Policy) -> asyncio.AbstractServer:
    """Any SMTP flavour (MX, submission) is this listener with another policy."""
    if implicit_tls and ctx.tls_context is None:
        raise RuntimeError(f"{service} on {address} needs a TLS certificate")
    smtp = SMTPService(ctx, service, policy, implicit_tls, shared_limiter(ctx, service))
    loop = asyncio.get_running_loop()
    tls_context = ctx.tls_context
    handshake_timeout = min(60.0, ctx.config.limits.command_timeout)

    def accept() -> asyncio.BaseProtocol:
        if not implicit_tls:
            return smtp()
        # Not create_server(ssl=...): that admits a connection only after its handshake,
        # so silent clients would escape the connection limits and the shutdown tracker.
        assert tls_context is not None
        return AdmittedTLS(loop, smtp(), tls_context, handshake_timeout)

    return await loop.create_server(
        accept if implicit_tls else smtp, address.host, address.port,
        reuse_address=True, backlog=1024,
    )


async def start_mx(ctx: ServerContext, address: ListenAddress, implicit_tls: bool) -> asyncio.AbstractServer:
    return await start_smtp_service(ctx, address, implicit_tls, "smtp", MxPolicy(ctx))
