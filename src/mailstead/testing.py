"""Test support: run a real `mailstead serve` process on its own loopback address.

Used by the project's own test suite (tests/conftest.py) and usable by anyone who wants to
test against a real server.

Each server gets a fresh 127.x.y.z address (so fixed ports never collide between tests,
pytest-xdist workers or people running the suite side by side), a temp data dir, a config
written as TOML, the demo domain `example.test`, and users created through the real CLI.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_PORTS = {
    "smtp": 2525,
    "submission": 2587,
    "submissions": 2465,
    "imap": 1143,
    "imaps": 1993,
    "pop3": 1110,
    "pop3s": 1995,
}
DOMAIN = "example.test"
START_TIMEOUT = 30.0


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (str, Path)):
        text = str(value).replace("\\", "\\\\").replace('"', '\\"')
        return f'"{text}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def to_toml(data: dict[str, Any]) -> str:
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for k, v in data.items():
        if isinstance(v, dict):
            lines.append(f"\n[{k}]")
            lines.extend(f"{kk} = {_toml_value(vv)}" for kk, vv in v.items())
    return "\n".join(lines) + "\n"


def _address_is_free(host: str, ports: list[int]) -> bool:
    for port in ports:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


def fresh_loopback_address(ports: list[int]) -> str:
    """A random 127.x.y.z (x in 100-249) whose ports are free; Linux routes all of 127/8."""
    rng = random.Random(os.getpid() * 1_000_003 + time.monotonic_ns())
    for _ in range(200):
        host = f"127.{rng.randint(100, 249)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        if _address_is_free(host, ports):
            return host
    raise RuntimeError("no free loopback address found")


_CERT_CACHE: dict[str, tuple[Path, Path]] = {}


def self_signed_certificate(tmp_root: Path) -> tuple[Path, Path]:
    """One self-signed certificate per test process, reused by every server it starts."""
    key = str(tmp_root)
    if key not in _CERT_CACHE:
        from mailstead.net.tls import write_self_signed

        cert, pkey = tmp_root / "cert.pem", tmp_root / "key.pem"
        write_self_signed("mx.example.test", cert, pkey)
        _CERT_CACHE[key] = (cert, pkey)
    return _CERT_CACHE[key]


def client_tls_context() -> ssl.SSLContext:
    """For test clients: our servers use self-signed certificates."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@dataclass
class MailsteadServer:
    host: str
    root: Path
    config_path: Path
    data_dir: Path
    ports: dict[str, int]
    config: dict[str, Any]
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)
    _log_offset: int = 0

    def __post_init__(self) -> None:
        self.log_path = self.root / "server.log"

    # -- addresses -----------------------------------------------------------------------
    @property
    def smtp_port(self) -> int:
        return self.ports["smtp"]

    @property
    def submission_port(self) -> int:
        return self.ports["submission"]

    @property
    def submissions_port(self) -> int:
        return self.ports["submissions"]

    @property
    def pop3_port(self) -> int:
        return self.ports["pop3"]

    @property
    def pop3s_port(self) -> int:
        return self.ports["pop3s"]

    @property
    def imap_port(self) -> int:
        return self.ports["imap"]

    @property
    def imaps_port(self) -> int:
        return self.ports["imaps"]

    @property
    def db_path(self) -> Path:
        return self.data_dir / "mail.db"

    @property
    def store_url(self) -> str:
        return f"sqlite://{self.db_path}"

    # -- the CLI -------------------------------------------------------------------------
    def cli(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "mailstead", "--config", str(self.config_path), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"mailstead {' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
            )
        return result

    def add_user(self, address: str, password: str = "secret-password") -> None:
        self.cli("user", "add", address, "--password-stdin", input=password + "\n")

    # -- the process ---------------------------------------------------------------------
    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with open(self.log_path, "ab") as log:
            self._log_offset = log.tell()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mailstead", "--config", str(self.config_path), "serve"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            text = self.log_text(since_start=True)
            if "mailstead ready" in text:
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"mailstead serve exited with {self.proc.returncode}:\n{text}")
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"mailstead serve did not become ready:\n{self.log_text()}")

    def log_text(self, since_start: bool = False) -> str:
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return ""
        return data[self._log_offset if since_start else 0 :].decode("utf-8", "replace")

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM and wait: the graceful shutdown."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"server did not stop within {timeout}s:\n{self.log_text()}") from None

    def kill(self) -> None:
        """SIGKILL: the crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(merged.get(k), dict):
            merged[k] = deep_merge(merged[k], v)
        else:
            merged[k] = v
    return merged


ServerFactory = Callable[..., MailsteadServer]


def read_mailbox(server: MailsteadServer, address: str, mailbox: str = "INBOX") -> list[bytes]:
    """Every message in a user's mailbox, read through the store (a second process's view)."""
    import asyncio

    from mailstead.store import open_store

    async def read() -> list[bytes]:
        store = await open_store(server.store_url)
        try:
            account = await store.get_account(address)
            assert account is not None, f"no account {address}"
            box = await store.get_mailbox(account.id, mailbox)
            assert box is not None, f"no mailbox {mailbox} for {address}"
            found = []
            for summary in await store.list_messages(box.id):
                message = await store.get_message(box.id, summary.uid)
                assert message is not None
                found.append(message.raw)
            return found
        finally:
            await store.close()

    return asyncio.run(read())


class RawSMTPClient:
    """A line-level SMTP client on a plain socket: nothing is hidden or fixed up, for the
    malformed, pipelined and injected input that smtplib will not send."""

    def __init__(self, host: str, port: int, timeout: float = 5.0, source: str | None = None) -> None:
        self.sock: socket.socket = socket.create_connection(
            (host, port), timeout, source_address=(source, 0) if source else None
        )
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _line(self) -> bytes:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed by server; pending {self.buf!r}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def reply(self) -> tuple[int, str]:
        lines = []
        while True:
            line = self._line()
            lines.append(line[4:].decode("utf-8", "replace"))
            if line[3:4] != b"-":
                return int(line[:3]), "\n".join(lines)

    def cmd(self, line: str | bytes) -> tuple[int, str]:
        self.send((line.encode() if isinstance(line, str) else line) + b"\r\n")
        return self.reply()

    def starttls(self) -> None:
        assert not self.buf, f"plaintext left over before TLS: {self.buf!r}"
        self.sock = client_tls_context().wrap_socket(self.sock, server_hostname="mx.example.test")

    def closed(self, timeout: float = 5.0) -> bool:
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except TimeoutError:
            return False
        except (ConnectionResetError, OSError):
            return True

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawSMTPClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
