"""Load and validate the TOML configuration.

Every key is declared once, in the dataclasses below, with its type and default; an unknown
key or a value of the wrong shape stops start-up with a `ConfigError` that names the key and
the file (never a traceback). Relative paths are resolved against the config file's folder.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

SERVICES = ("smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s")
IMPLICIT_TLS_SERVICES = frozenset({"submissions", "imaps", "pop3s"})

STANDARD_PORTS = {
    "smtp": 25,
    "submission": 587,
    "submissions": 465,
    "imap": 143,
    "imaps": 993,
    "pop3": 110,
    "pop3s": 995,
}
# Used by `mailstead init` when not running as root (ports below 1024 need privileges).
UNPRIVILEGED_PORTS = {
    "smtp": 2525,
    "submission": 2587,
    "submissions": 2465,
    "imap": 1143,
    "imaps": 1993,
    "pop3": 1110,
    "pop3s": 1995,
}


class ConfigError(Exception):
    """A configuration problem a user can fix; the message names the file and the key."""


@dataclass(frozen=True)
class ListenAddress:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_listen_address(text: str) -> ListenAddress:
    """Parse "0.0.0.0:25", "[::1]:143" or "localhost:110"; raise ValueError when malformed."""
    text = text.strip()
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"{text!r} is not [IPv6]:port")
        ipaddress.IPv6Address(host)
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or not host:
            raise ValueError(f"{text!r} is not address:port")
        if ":" in host:
            raise ValueError(f"{text!r}: write IPv6 addresses as [addr]:port")
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            if host != "localhost":
                raise ValueError(f"{text!r}: {host!r} is not an IP address") from None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{text!r}: port must be 1-65535")
    return ListenAddress(host, int(port_text))


@dataclass(frozen=True)
class StoreConfig:
    url: str = ""


@dataclass(frozen=True)
class ListenConfig:
    smtp: tuple[ListenAddress, ...] = ()
    submission: tuple[ListenAddress, ...] = ()
    submissions: tuple[ListenAddress, ...] = ()
    imap: tuple[ListenAddress, ...] = ()
    imaps: tuple[ListenAddress, ...] = ()
    pop3: tuple[ListenAddress, ...] = ()
    pop3s: tuple[ListenAddress, ...] = ()

    def addresses(self, service: str) -> tuple[ListenAddress, ...]:
        return getattr(self, service)


@dataclass(frozen=True)
class TLSConfig:
    cert: Path | None = None
    key: Path | None = None


@dataclass(frozen=True)
class LimitsConfig:
    max_message_size: int = 52_428_800
    # Bytes of message content all SMTP sessions together may hold in memory (each message
    # until it is stored); a message that would pass it is refused with 452 4.3.1.
    max_message_memory: int = 536_870_912
    max_recipients: int = 1000
    # RFC 5321 §4.5.3.1 sets 512 octets for a command line and 1000 for a text line; we allow
    # a little more for commands with many ESMTP parameters.
    max_line_length: int = 4096
    max_connections: int = 1000
    max_connections_per_ip: int = 50
    # Seconds. RFC 5321 §4.5.3.2 asks for at least 5 minutes per command; POP3 (RFC 1939 §3)
    # for at least 10 minutes of inactivity before an autologout.
    command_timeout: float = 300.0
    data_timeout: float = 600.0
    # Seconds one whole message transfer (DATA, or a BDAT series) may take however busily
    # the client sends; one command line may take at most 3 * command_timeout in total.
    data_total_timeout: float = 3600.0
    pop3_idle_timeout: float = 600.0
    max_errors: int = 20
    shutdown_grace: float = 10.0


@dataclass(frozen=True)
class AuthConfig:
    allow_plaintext_from: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    # Failed attempts from one client address (or for one user) within `failure_window`
    # seconds before each further attempt is delayed and then refused.
    max_failures: int = 5
    failure_window: float = 300.0
    failure_delay: float = 2.0
    # Argon2id parameters (see mailstead.auth.passwords for why these are the defaults).
    argon2_memory_kib: int = 19_456
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1
    max_concurrent_verifications: int = 2
    # Seconds a successful verification is remembered (keyed by a hash of user+password).
    verify_cache_seconds: float = 300.0

    def plaintext_allowed_from(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self.allow_plaintext_from)


@dataclass(frozen=True)
class LogConfig:
    level: str = "info"


@dataclass(frozen=True)
class Config:
    hostname: str
    data_dir: Path
    store: StoreConfig
    listen: ListenConfig
    tls: TLSConfig
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    log: LogConfig = field(default_factory=LogConfig)
    path: Path | None = None

    @property
    def store_url(self) -> str:
        return self.store.url or f"sqlite:///{self.data_dir / 'mail.db'}"


def default_config_path() -> Path:
    return Path(os.environ.get("MAILSTEAD_CONFIG") or "mailstead.toml")


class _Reader:
    """Checks one TOML table against a dataclass, naming file and key in every error."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.base = path.parent

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key}: {problem}")

    def table(self, data: dict[str, Any], name: str) -> dict[str, Any]:
        value = data.get(name, {})
        if not isinstance(value, dict):
            raise self.fail(name, "must be a table ([" + name + "])")
        return value

    def check_keys(self, table: dict[str, Any], allowed: set[str], prefix: str) -> None:
        for key in table:
            if key not in allowed:
                raise self.fail(f"{prefix}{key}", "unknown key")

    def path_value(self, value: Any, key: str) -> Path:
        if not isinstance(value, str) or not value:
            raise self.fail(key, "must be a non-empty string (a path)")
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.base / p).resolve()

    def number(self, value: Any, key: str, kind: type, minimum: float = 0) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, f"must be a number, not {value!r}")
        if kind is int and not isinstance(value, int):
            raise self.fail(key, f"must be a whole number, not {value!r}")
        if value < minimum:
            raise self.fail(key, f"must be at least {minimum}")
        return kind(value)


def load_config(path: Path | str | None = None, *, check_files: bool = True) -> Config:
    """Read and validate the config file; raise ConfigError with a user-facing message."""
    path = Path(path) if path is not None else default_config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such config file (create one with `mailstead init`, "
            "or pass --config / set MAILSTEAD_CONFIG)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, path.resolve(), check_files=check_files)


def parse_config(data: dict[str, Any], path: Path, *, check_files: bool = True) -> Config:
    r = _Reader(path)
    tables = {"store", "listen", "tls", "limits", "auth", "log"}
    r.check_keys(data, {"hostname", "data_dir"} | tables, "")

    hostname = data.get("hostname")
    if not isinstance(hostname, str) or not hostname or " " in hostname:
        raise r.fail("hostname", "required: the server's fully qualified host name")
    if "data_dir" not in data:
        raise r.fail("data_dir", "required: the folder for the database and certificates")
    data_dir = r.path_value(data["data_dir"], "data_dir")

    store_t = r.table(data, "store")
    r.check_keys(store_t, {"url"}, "store.")
    url = store_t.get("url", "")
    if not isinstance(url, str):
        raise r.fail("store.url", "must be a string")
    if url and not (url.startswith("sqlite://") or url.startswith("postgresql://")):
        raise r.fail("store.url", "must start with sqlite:/// or postgresql://")

    listen_t = r.table(data, "listen")
    r.check_keys(listen_t, set(SERVICES), "listen.")
    listen_kwargs: dict[str, tuple[ListenAddress, ...]] = {}
    for service in SERVICES:
        value = listen_t.get(service, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise r.fail(f"listen.{service}", 'must be a list of "address:port" strings')
        addrs = []
        for item in value:
            if not isinstance(item, str):
                raise r.fail(f"listen.{service}", f"{item!r} is not an \"address:port\" string")
            try:
                addrs.append(parse_listen_address(item))
            except ValueError as exc:
                raise r.fail(f"listen.{service}", str(exc)) from None
        listen_kwargs[service] = tuple(addrs)
    listen = ListenConfig(**listen_kwargs)

    tls_t = r.table(data, "tls")
    r.check_keys(tls_t, {"cert", "key"}, "tls.")
    cert = r.path_value(tls_t["cert"], "tls.cert") if "cert" in tls_t else None
    key = r.path_value(tls_t["key"], "tls.key") if "key" in tls_t else None
    if (cert is None) != (key is None):
        raise r.fail("tls.cert" if cert is None else "tls.key", "tls.cert and tls.key go together")
    if check_files:
        for name, p in (("tls.cert", cert), ("tls.key", key)):
            if p is not None and not p.is_file():
                raise r.fail(name, f"{p} does not exist")
    tls = TLSConfig(cert, key)
    needs_tls = [s for s in IMPLICIT_TLS_SERVICES if listen.addresses(s)]
    if needs_tls and cert is None:
        raise r.fail("tls.cert", f"required by listen.{sorted(needs_tls)[0]} (implicit TLS)")

    limits_t = r.table(data, "limits")
    limit_fields = {f.name: f for f in fields(LimitsConfig)}
    r.check_keys(limits_t, set(limit_fields), "limits.")
    limits_kwargs = {}
    for key_name, value in limits_t.items():
        kind = int if limit_fields[key_name].type in ("int", int) else float
        limits_kwargs[key_name] = r.number(value, f"limits.{key_name}", kind, minimum=1)
    limits = LimitsConfig(**limits_kwargs)
    if limits.max_message_memory < limits.max_message_size:
        raise r.fail("limits.max_message_memory", "must be at least limits.max_message_size")

    auth_t = r.table(data, "auth")
    auth_fields = {f.name: f for f in fields(AuthConfig)}
    r.check_keys(auth_t, set(auth_fields), "auth.")
    auth_kwargs: dict[str, Any] = {}
    for key_name, value in auth_t.items():
        if key_name == "allow_plaintext_from":
            if not isinstance(value, list):
                raise r.fail("auth.allow_plaintext_from", "must be a list of networks")
            nets = []
            for item in value:
                try:
                    nets.append(ipaddress.ip_network(str(item), strict=False))
                except ValueError:
                    raise r.fail("auth.allow_plaintext_from", f"{item!r} is not a network") from None
            auth_kwargs[key_name] = tuple(nets)
        else:
            kind = int if auth_fields[key_name].type in ("int", int) else float
            auth_kwargs[key_name] = r.number(value, f"auth.{key_name}", kind, minimum=1)
    auth = AuthConfig(**auth_kwargs)

    log_t = r.table(data, "log")
    r.check_keys(log_t, {"level"}, "log.")
    level = log_t.get("level", "info")
    if level not in ("debug", "info", "warning", "error"):
        raise r.fail("log.level", "must be one of debug, info, warning, error")

    return Config(
        hostname=hostname.lower().rstrip("."),
        data_dir=data_dir,
        store=StoreConfig(url),
        listen=listen,
        tls=tls,
        limits=limits,
        auth=auth,
        log=LogConfig(level),
        path=path,
    )
