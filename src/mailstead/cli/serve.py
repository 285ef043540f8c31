"""`mailstead serve`: logging set-up, a start-up banner, then the server in the foreground."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from rich.console import Console

from mailstead.config import Config
from mailstead.proto.smtp import data as smtp_data
from mailstead.server import MailServer, install_event_loop_policy


class _Formatter(logging.Formatter):
    """The time stamp formatted once per second, not per line: two lines per received
    message made `strftime` a visible share of the event loop under load."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
        self._second = -1
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:
            self._stamp = super().formatTime(record, datefmt)
            self._second = second
        return self._stamp


def setup_logging(level: str) -> None:
    # What our format never shows is not collected for every record either: the caller's
    # file and line (a stack walk per record), the process and thread ids.
    logging._srcfile = None  # type: ignore[attr-defined]  # the logging HOWTO's off switch
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def banner(server: MailServer, config_path: Path, console: Console) -> None:
    console.print(f"[bold]Mailstead[/] running as {server.config.hostname}")
    for service, addrs in server.bound.items():
        console.print(f"  {service:<12} " + ", ".join(f"{h}:{p}" for h, p in addrs), highlight=False)
    console.print(
        f"Add a user:  mailstead --config {config_path} user add you@<your domain>\n"
        "Send mail:   swaks --server <address>:<smtp port> --to you@<your domain>\n"
        "Collect it:  any POP3 client on the pop3 port (plaintext login from loopback, "
        "TLS elsewhere)\n"
        "Stop:        Ctrl-C or SIGTERM",
        highlight=False,
    )


def run_server(config: Config, config_path: Path, console: Console) -> None:
    setup_logging(config.log.level)
    install_event_loop_policy()

    if not smtp_data.SPEEDUPS:
        logging.getLogger("mailstead").warning(
            "mailstead._speedups is not built (no C compiler at install?): the SMTP DATA "
            "scans run in pure Python, about 200 us slower per 100 KiB message")
    server = MailServer(config)
    asyncio.run(server.run_until_signalled(lambda s: banner(s, config_path, console)))
