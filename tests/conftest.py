"""Shared fixtures: a real `mailstead serve` process on its own loopback address.

The machinery lives in `mailstead.testing` so that test modules can import its helpers
(`read_mailbox`, `client_tls_context`, ...) under any pytest import mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mailstead.testing import (
    DEFAULT_PORTS,
    DOMAIN,
    MailsteadServer,
    ServerFactory,
    deep_merge,
    fresh_loopback_address,
    self_signed_certificate,
    to_toml,
)


@pytest.fixture
def server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    """make(config_overrides=None, users={addr: pw}, start=True) -> MailsteadServer.

    `config_overrides` is merged into the generated config dict, e.g.
    `{"limits": {"command_timeout": 2}, "auth": {"allow_plaintext_from": []}}`.
    """
    servers: list[MailsteadServer] = []
    cert_root = tmp_path_factory.getbasetemp() / "tls"
    cert_root.mkdir(exist_ok=True)

    def make(
        config_overrides: dict[str, Any] | None = None,
        users: dict[str, str] | None = None,
        start: bool = True,
    ) -> MailsteadServer:
        root = tmp_path_factory.mktemp("mailstead")
        ports = dict(DEFAULT_PORTS)
        host = fresh_loopback_address(list(ports.values()))
        cert, key = self_signed_certificate(cert_root)
        data_dir = root / "data"
        config: dict[str, Any] = {
            "hostname": "mx.example.test",
            "data_dir": str(data_dir),
            "store": {"url": f"sqlite://{data_dir / 'mail.db'}"},
            "listen": {service: [f"{host}:{port}"] for service, port in ports.items()},
            "tls": {"cert": str(cert), "key": str(key)},
            "limits": {"shutdown_grace": 5},
            "log": {"level": "debug"},
        }
        if config_overrides:
            config = deep_merge(config, config_overrides)
        config_path = root / "mailstead.toml"
        config_path.write_text(to_toml(config))
        server = MailsteadServer(host, root, config_path, data_dir, ports, config)
        servers.append(server)
        server.cli("domain", "add", DOMAIN)
        for address, password in (users or {}).items():
            server.add_user(address, password)
        if start:
            server.start()
        return server

    yield make
    for server in servers:
        try:
            server.stop()
        except AssertionError:
            server.kill()


@pytest.fixture
def mailstead_server(server_factory: ServerFactory) -> MailsteadServer:
    """A running server with users alice@ and bob@example.test (password "secret-password")."""
    return server_factory(
        users={"alice@example.test": "secret-password", "bob@example.test": "secret-password"}
    )
