"""The `mailstead` command as a user runs it: init, serve, and management while serving."""

from __future__ import annotations

import os
import poplib
import signal
import smtplib
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from mailstead.config import UNPRIVILEGED_PORTS
from mailstead.testing import (
    MailsteadServer,
    ServerFactory,
    fresh_loopback_address,
    read_mailbox,
)


def mailstead(*args: str, cwd: Path, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mailstead", *args], cwd=cwd, input=input,
                          capture_output=True, text=True, timeout=60)


def test_init_writes_a_working_setup_and_refuses_to_overwrite(tmp_path: Path) -> None:
    host = fresh_loopback_address(list(UNPRIVILEGED_PORTS.values()))
    result = mailstead("init", "--hostname", "mx.demo.test", "--domain", "demo.test",
                       "--listen", host, "--ports", "unprivileged", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    config_path = tmp_path / "mailstead.toml"
    config = tomllib.loads(config_path.read_text())
    assert config["hostname"] == "mx.demo.test"
    assert config["listen"]["smtp"] == [f"{host}:2525"]
    data = Path(config["data_dir"])
    assert data == (tmp_path / "data").resolve()
    assert (data / "mail.db").exists() and (data / "tls" / "cert.pem").exists()
    assert oct((data / "tls" / "key.pem").stat().st_mode & 0o777) == "0o600"
    assert "2525" in result.stdout  # the ports are said in the output

    again = mailstead("init", "--hostname", "x.test", "--domain", "x.test", cwd=tmp_path)
    assert again.returncode != 0
    assert "already exists" in again.stderr
    assert tomllib.loads(config_path.read_text())["hostname"] == "mx.demo.test"

    assert mailstead("domain", "list", cwd=tmp_path).stdout.split() == ["demo.test"]

    # The README's flow: add a user, serve, send, collect.
    added = mailstead("user", "add", "me@demo.test", "--password-stdin", cwd=tmp_path,
                      input="correct horse\n")
    assert added.returncode == 0, added.stderr
    proc = subprocess.Popen([sys.executable, "-m", "mailstead", "serve"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with smtplib.SMTP(host, 2525, timeout=5) as smtp:
                    smtp.sendmail("a@elsewhere.test", ["me@demo.test"],
                                  "Subject: hi\r\n\r\nfirst mail\r\n")
                break
            except OSError:
                assert time.monotonic() < deadline, "server did not come up"
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                time.sleep(0.2)
        pop = poplib.POP3(host, 1110, timeout=10)
        pop.user("me@demo.test")
        pop.pass_("correct horse")
        assert pop.stat()[0] == 1
        assert b"first mail" in b"\r\n".join(pop.retr(1)[1])
        pop.quit()
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=30)[0].decode()
    assert proc.returncode == 0, output
    assert "user add" in output  # the banner says how to add a user


def test_management_commands_work_while_the_server_runs(mailstead_server: MailsteadServer) -> None:
    s = mailstead_server
    s.cli("domain", "add", "second.test")
    assert sorted(s.cli("domain", "list").stdout.split()) == ["example.test", "second.test"]
    s.add_user("carol@second.test", "pw-carol")
    s.cli("alias", "add", "postmaster@second.test", "carol@second.test")
    s.cli("alias", "add", "@second.test", "carol@second.test")
    assert "postmaster@second.test -> carol@second.test" in s.cli("alias", "list").stdout

    with smtplib.SMTP(s.host, s.smtp_port, timeout=10) as smtp:
        smtp.sendmail("x@elsewhere.test", ["postmaster@second.test", "anything@second.test"],
                      "Subject: via alias\r\n\r\nbody\r\n")
    assert len(read_mailbox(s, "carol@second.test")) == 1  # one copy for two aliases

    s.cli("user", "passwd", "carol@second.test", "--password-stdin", input="new-pw\n")
    pop = poplib.POP3(s.host, s.pop3_port, timeout=10)
    pop.user("carol@second.test")
    with pytest.raises(poplib.error_proto):
        pop.pass_("pw-carol")
    pop.close()
    pop = poplib.POP3(s.host, s.pop3_port, timeout=10)
    pop.user("carol@second.test")
    pop.pass_("new-pw")
    pop.quit()

    s.cli("alias", "del", "@second.test")
    s.cli("alias", "del", "postmaster@second.test")
    s.cli("user", "del", "carol@second.test", "--yes")
    assert "carol@second.test" not in s.cli("user", "list").stdout
    s.cli("domain", "del", "second.test")
    assert s.cli("domain", "list").stdout.split() == ["example.test"]
    assert s.running


def test_errors_are_messages_not_tracebacks(mailstead_server: MailsteadServer) -> None:
    s = mailstead_server
    for args, text in [
        (("user", "add", "x@unknown.test", "--password-stdin"), "unknown.test"),
        (("domain", "add", "example.test"), "example.test"),
        (("user", "del", "ghost@example.test", "--yes"), "ghost@example.test"),
    ]:
        result = s.cli(*args, input="pw\n", check=False)
        assert result.returncode != 0, args
        assert text in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_password_is_never_taken_from_argv(mailstead_server: MailsteadServer) -> None:
    result = mailstead_server.cli("user", "add", "dave@example.test", "--password", "x",
                                  check=False)
    assert result.returncode != 0


def test_sigterm_stops_gracefully(mailstead_server: MailsteadServer) -> None:
    idle = smtplib.SMTP(mailstead_server.host, mailstead_server.smtp_port, timeout=10)
    idle.ehlo("idle.test")
    started = time.monotonic()
    assert mailstead_server.stop() == 0
    assert time.monotonic() - started < 10
    # The idle session was told (421) before it was closed, rather than cut.
    code, text = idle.noop()
    assert code == 421, text
    with pytest.raises((smtplib.SMTPServerDisconnected, OSError)):
        idle.noop()
    assert "stopped" in mailstead_server.log_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to check the standard ports")
def test_init_as_root_chooses_standard_ports(tmp_path: Path) -> None:
    result = mailstead("init", "--hostname", "mx.root.test", "--domain", "root.test",
                       cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    config = tomllib.loads((tmp_path / "mailstead.toml").read_text())
    assert config["listen"]["smtp"] == ["0.0.0.0:25"]
    assert config["listen"]["pop3s"] == ["0.0.0.0:995"]


def test_idn_domains_are_listed_readably(server_factory: ServerFactory) -> None:
    server = server_factory(start=False)
    server.cli("domain", "add", "bücher.test")
    listed = server.cli("domain", "list").stdout
    assert "xn--bcher-kva.test (bücher.test)" in listed
    server.cli("domain", "add", "xn--bcher-kva.test", check=False)  # the same domain
    assert server.cli("domain", "list").stdout.count("bcher") == 1
