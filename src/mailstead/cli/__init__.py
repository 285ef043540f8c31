"""The `mailstead` command: thin, it calls the packages below it.

Every command takes `--config PATH` (default `$MAILSTEAD_CONFIG`, then `./mailstead.toml`),
either before the command (`mailstead --config X user list`) or after it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from mailstead.config import Config, ConfigError, default_config_path, load_config

app = typer.Typer(
    help="Mailstead: a complete mail system (SMTP, POP3, IMAP, queue, store).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
domain_app = typer.Typer(help="Manage the domains this server receives mail for.", no_args_is_help=True)
user_app = typer.Typer(help="Manage mail accounts.", no_args_is_help=True)
alias_app = typer.Typer(help="Manage aliases (postmaster@, abuse@, catch-all @domain).", no_args_is_help=True)
app.add_typer(domain_app, name="domain")
app.add_typer(user_app, name="user")
app.add_typer(alias_app, name="alias")

out = Console()
err = Console(stderr=True)

_global_config: Path | None = None

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config file (default $MAILSTEAD_CONFIG, ./mailstead.toml)."),
]

T = TypeVar("T")


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def config_path(option: Path | None) -> Path:
    return option or _global_config or default_config_path()


def get_config(option: Path | None, *, check_files: bool = True) -> Config:
    try:
        return load_config(config_path(option), check_files=check_files)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None


def with_store(config: Config, action: Callable[..., Awaitable[T]]) -> T:
    """Run `action(store)` against the configured store; store errors become messages."""
    from mailstead.store import StoreError, open_store

    async def run() -> T:
        store = await open_store(config.store_url)
        try:
            return await action(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except StoreError as exc:
        raise fail(str(exc)) from None


def read_password(password_stdin: bool, confirm: bool = True) -> str:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=confirm)
    if not password:
        raise fail("the password is empty")
    return password


@app.callback()
def main_options(config: ConfigOption = None) -> None:
    global _global_config
    _global_config = config


# -- init ----------------------------------------------------------------------------------

@app.command()
def init(
    hostname: Annotated[str, typer.Option(help="This server's host name (as in its MX record).")],
    domain: Annotated[str, typer.Option(help="The first mail domain to receive mail for.")],
    data: Annotated[Path | None, typer.Option(help="Data folder (default: ./data next to the config).")] = None,
    listen: Annotated[str, typer.Option(help="Address to listen on.")] = "0.0.0.0",
    ports: Annotated[
        str, typer.Option(help="standard (25, 587, ...), unprivileged (2525, 2587, ...) or auto (standard as root).")
    ] = "auto",
    config: ConfigOption = None,
) -> None:
    """Write a commented config, a self-signed certificate and the database."""
    from mailstead.cli.init import InitError, initialise

    path = config_path(config)
    try:
        result = initialise(path, hostname=hostname, domain=domain, data_dir=data, listen=listen,
                            ports=ports)
    except InitError as exc:
        raise fail(str(exc)) from None
    out.print(f"[green]Wrote[/] {result.config_path}")
    out.print(f"[green]Data folder[/] {result.data_dir} (database, certificate)")
    out.print(f"Domain [bold]{domain}[/] is ready. Listening ports: {result.ports_text}")
    out.print("Next: [bold]mailstead user add you@" + domain + "[/], then [bold]mailstead serve[/]")


# -- serve ---------------------------------------------------------------------------------

@app.command()
def serve(config: ConfigOption = None) -> None:
    """Run every configured listener in the foreground (SIGTERM/SIGINT stop it gracefully)."""
    from mailstead.cli.serve import run_server

    cfg = get_config(config)
    try:
        run_server(cfg, config_path(config), out)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    except OSError as exc:
        raise fail(f"cannot start: {exc}", 1) from None


@app.command()
def check(config: ConfigOption = None) -> None:
    """Validate the config file and say what would run."""
    cfg = get_config(config)
    out.print(f"{cfg.path}: OK (hostname {cfg.hostname}, store {cfg.store_url})")


# -- domains -------------------------------------------------------------------------------

@domain_app.command("add")
def domain_add(name: str, config: ConfigOption = None) -> None:
    """Receive mail for NAME."""
    cfg = get_config(config, check_files=False)
    with_store(cfg, lambda s: s.add_domain(name.lower()))
    out.print(f"added domain {name.lower()}")


@domain_app.command("del")
def domain_del(name: str, config: ConfigOption = None) -> None:
    """Stop receiving mail for NAME (its accounts must be deleted first)."""
    cfg = get_config(config, check_files=False)
    with_store(cfg, lambda s: s.remove_domain(name.lower()))
    out.print(f"deleted domain {name.lower()}")


@domain_app.command("list")
def domain_list(config: ConfigOption = None) -> None:
    """List local domains."""
    from mailstead.store.names import domain_for_display

    cfg = get_config(config, check_files=False)
    for name in with_store(cfg, lambda s: s.list_domains()):
        shown = domain_for_display(name)
        out.print(name if shown == name else f"{name} ({shown})", highlight=False)


# -- users ---------------------------------------------------------------------------------

def new_password_hash(cfg: Config, password_stdin: bool) -> str:
    """Read a new password (stdin or prompt) and hash it with the configured argon2id cost."""
    from mailstead.auth.passwords import hash_password

    return hash_password(read_password(password_stdin), cfg.auth)


@user_app.command("add")
def user_add(
    address: str,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
    config: ConfigOption = None,
) -> None:
    """Create the account ADDRESS (its domain must be local)."""
    cfg = get_config(config, check_files=False)
    hashed = new_password_hash(cfg, password_stdin)
    with_store(cfg, lambda s: s.add_account(address.lower(), hashed))
    out.print(f"added user {address.lower()}")


@user_app.command("passwd")
def user_passwd(
    address: str,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
    config: ConfigOption = None,
) -> None:
    """Change the password of ADDRESS."""
    cfg = get_config(config, check_files=False)
    hashed = new_password_hash(cfg, password_stdin)
    with_store(cfg, lambda s: s.set_password(address.lower(), hashed))
    out.print(f"changed the password of {address.lower()}")


@user_app.command("del")
def user_del(
    address: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    config: ConfigOption = None,
) -> None:
    """Delete ADDRESS and all its mail."""
    cfg = get_config(config, check_files=False)
    if not yes and sys.stdin.isatty():
        typer.confirm(f"Delete {address} and all its mail?", abort=True)
    with_store(cfg, lambda s: s.remove_account(address.lower()))
    out.print(f"deleted user {address.lower()}")


@user_app.command("list")
def user_list(
    domain: Annotated[str | None, typer.Argument(help="Only this domain.")] = None,
    config: ConfigOption = None,
) -> None:
    """List accounts."""
    cfg = get_config(config, check_files=False)
    accounts = with_store(cfg, lambda s: s.list_accounts(domain.lower() if domain else None))
    if not out.is_terminal:
        for a in accounts:
            out.print(a.address, highlight=False)
        return
    table = Table("address", "created", "enabled")
    for a in accounts:
        table.add_row(a.address, a.created.strftime("%Y-%m-%d %H:%M"), "yes" if a.enabled else "no")
    out.print(table)


# -- aliases -------------------------------------------------------------------------------

@alias_app.command("add")
def alias_add(
    source: Annotated[str, typer.Argument(help="user@domain, or @domain for a catch-all.")],
    target: Annotated[str, typer.Argument(help="The account (or alias) that receives the mail.")],
    config: ConfigOption = None,
) -> None:
    """Deliver mail for SOURCE to TARGET."""
    cfg = get_config(config, check_files=False)
    with_store(cfg, lambda s: s.add_alias(source.lower(), target.lower()))
    out.print(f"added alias {source.lower()} -> {target.lower()}")


@alias_app.command("del")
def alias_del(
    source: str,
    target: Annotated[str | None, typer.Argument(help="Only this target (default: all).")] = None,
    config: ConfigOption = None,
) -> None:
    """Delete the alias SOURCE (or only SOURCE -> TARGET)."""
    cfg = get_config(config, check_files=False)
    with_store(cfg, lambda s: s.remove_alias(source.lower(), target.lower() if target else None))
    out.print(f"deleted alias {source.lower()}")


@alias_app.command("list")
def alias_list(
    domain: Annotated[str | None, typer.Argument(help="Only this domain.")] = None,
    config: ConfigOption = None,
) -> None:
    """List aliases."""
    cfg = get_config(config, check_files=False)
    for alias in with_store(cfg, lambda s: s.list_aliases(domain.lower() if domain else None)):
        out.print(f"{alias.source} -> {alias.target}", highlight=False)


# -- journey -------------------------------------------------------------------------------

@app.command()
def journey(queue_id: str, config: ConfigOption = None) -> None:
    """Show what happened to the message QUEUE_ID (received, delivered, fetched, ...)."""
    cfg = get_config(config, check_files=False)
    events = with_store(cfg, lambda s: s.journey(queue_id))
    if not events:
        raise fail(f"no message with queue id {queue_id}")
    for e in events:
        out.print(f"{e.at:%Y-%m-%d %H:%M:%S} {e.event:<10} {e.detail}", highlight=False)


def main() -> None:
    # A global --config given after the sub-command is handled by each command's own option.
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    app()
