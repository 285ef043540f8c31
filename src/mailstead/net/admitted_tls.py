"""Implicit TLS (smtps/submissions, pop3s, imaps) that counts a connection from its accept.

With `loop.create_server(ssl=...)` asyncio calls the session's `connection_made` only after
the TLS handshake, so clients that connect and never finish it would escape the connection
limits and the shutdown tracker. (A session cannot start the handshake itself with
`start_tls` either: uvloop starts reading before the session could call it, and the
ClientHello would be lost.) So the TLS layer is the protocol the loop sees, and it admits
the connection with the session before the handshake starts.

Moved here from `mailstead.pop3.server` so that every implicit-TLS listener shares it.
"""

from __future__ import annotations

import asyncio
import ssl
from asyncio import sslproto
from typing import Protocol


class Admittable(Protocol):
    """What a session offers `AdmittedTLS` (besides being an `asyncio.Protocol`)."""

    def admit(self, transport: asyncio.BaseTransport) -> bool:
        """At accept, before the handshake: take a connection slot and register with the
        shutdown tracker; False when the limits refuse the client (it is then closed
        without a word: no plaintext reply on a TLS port)."""
        ...

    def release_admission(self) -> None:
        """The connection ended. Give back what `admit` took, unless the session already
        did (it did when its `connection_made` ran); must be safe to call twice."""
        ...


class AdmittedTLS(sslproto.SSLProtocol):
    def __init__(self, loop: asyncio.AbstractEventLoop, session: asyncio.BaseProtocol,
                 tls_context: ssl.SSLContext, handshake_timeout: float) -> None:
        super().__init__(loop, session, tls_context, None, server_side=True,
                         ssl_handshake_timeout=handshake_timeout)
        self._session = session
        self._admitted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        session: Admittable = self._session  # type: ignore[assignment]
        if not session.admit(transport):
            transport.close()
            return
        self._admitted = True
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._admitted:
            return
        super().connection_lost(exc)
        # A handshake that failed never reached the session: give its slot back here.
        session: Admittable = self._session  # type: ignore[assignment]
        session.release_admission()
