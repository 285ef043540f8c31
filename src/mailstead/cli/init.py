"""`mailstead init`: a commented config, a data folder, a self-signed certificate, the database."""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from mailstead.config import SERVICES, STANDARD_PORTS, UNPRIVILEGED_PORTS

CONFIG_TEMPLATE = """\
# Mailstead configuration. Every key is described in the README ("Configuration").
# Relative paths are relative to this file's folder.

# This server's fully qualified host name: the name in your MX record, in the greeting and
# in Received: headers.
hostname = "{hostname}"

# Database, certificates and other state live here.
data_dir = "{data_dir}"

[store]
# sqlite:///absolute/path (the embedded default); postgresql://... when you outgrow one machine.
url = "sqlite:///{db_path}"

[listen]
# Lists of "address:port"; an empty list disables the service.
# smtp: mail from other servers (MX). submission/submissions: your users' clients (587 STARTTLS,
# 465 implicit TLS). imap/imaps, pop3/pop3s: mail collection.
{listen_lines}

[tls]
# PEM files. `mailstead init` wrote a self-signed certificate; replace it with a real one
# (for example Let's Encrypt's fullchain.pem and privkey.pem) before going live.
cert = "{cert}"
key = "{key}"

[limits]
max_message_size = 52428800   # bytes (50 MiB), announced in EHLO SIZE
max_message_memory = 536870912  # bytes (512 MiB) of mail held in memory by all SMTP sessions
max_recipients = 1000         # per message
max_connections = 1000        # per service, in total
max_connections_per_ip = 50   # per service, per client address

[auth]
# Clients on these networks may send passwords without TLS (as Dovecot trusts localhost).
allow_plaintext_from = ["127.0.0.0/8", "::1"]
"""


class InitError(Exception):
    pass


@dataclass(frozen=True)
class InitResult:
    config_path: Path
    data_dir: Path
    ports_text: str


def choose_ports(mode: str) -> dict[str, int]:
    if mode == "standard":
        return dict(STANDARD_PORTS)
    if mode == "unprivileged":
        return dict(UNPRIVILEGED_PORTS)
    if mode == "auto":
        return dict(STANDARD_PORTS if os.geteuid() == 0 else UNPRIVILEGED_PORTS)
    raise InitError(f"--ports must be standard, unprivileged or auto, not {mode!r}")


def initialise(
    config_path: Path,
    *,
    hostname: str,
    domain: str,
    data_dir: Path | None,
    listen: str,
    ports: str,
) -> InitResult:
    from mailstead.net.tls import write_self_signed

    if config_path.exists():
        raise InitError(f"{config_path} already exists; not overwriting it")
    port_map = choose_ports(ports)
    config_path = config_path.resolve()
    data = (data_dir or config_path.parent / "data").resolve()
    data.mkdir(parents=True, exist_ok=True)
    os.chmod(data, 0o750)
    cert, key = data / "tls" / "cert.pem", data / "tls" / "key.pem"
    if not cert.exists():
        write_self_signed(hostname, cert, key)
    host = f"[{listen}]" if ":" in listen else listen
    listen_lines = "\n".join(
        f'{service:<11} = ["{host}:{port_map[service]}"]' for service in SERVICES
    )
    db_path = data / "mail.db"
    text = CONFIG_TEMPLATE.format(
        hostname=hostname,
        data_dir=data,
        db_path=db_path,
        listen_lines=listen_lines,
        cert=cert,
        key=key,
    )
    config_path.parent.mkdir(parents=True, exist_ok=True)
    with open(config_path, "x", encoding="utf-8") as f:
        f.write(text)

    async def create_db() -> None:
        from mailstead.store import AlreadyExists, open_store

        store = await open_store(f"sqlite://{db_path}")
        try:
            with contextlib.suppress(AlreadyExists):
                await store.add_domain(domain.lower())
        finally:
            await store.close()

    asyncio.run(create_db())
    ports_text = ", ".join(f"{s} {port_map[s]}" for s in SERVICES)
    return InitResult(config_path, data, ports_text)
