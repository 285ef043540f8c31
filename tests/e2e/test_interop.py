"""Real third-party peers: swaks sends, mpop and fetchmail collect (installed by .ci/run)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mailstead.testing import MailsteadServer, read_mailbox

pytestmark = pytest.mark.interop


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is not installed; .ci/run should have installed it")
        pytest.skip(f"{tool} is not installed (apt-get install {tool})")
    return path


def swaks(server: MailsteadServer, *extra: str, to: str = "alice@example.test") -> str:
    result = subprocess.run(
        [
            need("swaks"), "--server", server.host, "--port", str(server.smtp_port),
            "--ehlo", "client.sender.test", "--from", "someone@sender.test", "--to", to,
            "--header", "Subject: interop", "--body", "Hello from swaks.\n.leading dot\n",
            "--timeout", "20", *extra,
        ],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_swaks_plain_and_starttls(mailstead_server: MailsteadServer) -> None:
    out_plain = swaks(mailstead_server)
    assert "250 2.0.0 Ok: queued as" in out_plain
    out_tls = swaks(mailstead_server, "--tls")
    assert "TLS started" in out_tls
    assert "250 2.0.0 Ok: queued as" in out_tls
    stored = read_mailbox(mailstead_server, "alice@example.test")
    assert len(stored) == 2
    assert all(b"Hello from swaks." in raw for raw in stored)
    assert all(b"\r\n.leading dot\r\n" in raw for raw in stored)  # dot-unstuffed on receipt
    assert b"ESMTPS" in stored[1] and b"TLS" in stored[1]


def test_swaks_unknown_user_is_refused(mailstead_server: MailsteadServer) -> None:
    result = subprocess.run(
        [need("swaks"), "--server", mailstead_server.host, "--port",
         str(mailstead_server.smtp_port), "--from", "x@sender.test", "--to",
         "nobody@example.test", "--timeout", "20"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "550 5.1.1" in result.stdout


def write_private(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_mpop_downloads_and_deletes(mailstead_server: MailsteadServer, tmp_path: Path) -> None:
    mpop = need("mpop")
    swaks(mailstead_server)
    swaks(mailstead_server, "--tls")
    mbox = tmp_path / "mbox"
    mbox.touch()
    config = write_private(tmp_path / "mpoprc", f"""
defaults
uidls_file {tmp_path}/uidls
account test
host {mailstead_server.host}
port {mailstead_server.pop3_port}
user alice@example.test
password secret-password
tls on
tls_starttls on
tls_certcheck off
auth plain
keep off
delivery mbox {mbox}
""")
    result = subprocess.run([mpop, "-C", str(config), "test"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    text = mbox.read_bytes()
    assert text.count(b"Hello from swaks.") == 2
    assert read_mailbox(mailstead_server, "alice@example.test") == []


def test_fetchmail_downloads_and_deletes(mailstead_server: MailsteadServer, tmp_path: Path) -> None:
    fetchmail = need("fetchmail")
    swaks(mailstead_server, to="bob@example.test")
    out = tmp_path / "delivered"
    rc = write_private(tmp_path / "fetchmailrc", f"""
set no bouncemail
poll {mailstead_server.host} service {mailstead_server.pop3_port} protocol pop3
  auth password
  user "bob@example.test" password "secret-password"
  sslproto ''
  no keep
  mda "/bin/sh -c 'cat >> {out}'"
""")
    env = dict(os.environ, HOME=str(tmp_path), FETCHMAILHOME=str(tmp_path))
    result = subprocess.run([fetchmail, "-f", str(rc), "--nodetach", "--nosyslog", "-v"],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert b"Hello from swaks." in out.read_bytes()
    assert read_mailbox(mailstead_server, "bob@example.test") == []
