"""Interop: mpop (a real POP3 client, from Debian) against our server, over STLS and pop3s."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.interop

ALICE = "alice@example.test"


def mpop_config(path: Path, host: str, port: int, starttls: bool, mbox: Path) -> Path:
    path.write_text(f"""
defaults
uidls_file {path.parent}/uidls
account test
host {host}
port {port}
user {ALICE}
password secret-password
tls on
tls_starttls {"on" if starttls else "off"}
tls_certcheck off
auth user
keep off
delivery mbox {mbox}
""")
    path.chmod(0o600)
    return path


@pytest.mark.parametrize("starttls", [True, False], ids=["stls", "pop3s"])
def test_mpop_downloads_and_deletes(pop3_factory, tmp_path: Path, starttls: bool) -> None:
    mpop = shutil.which("mpop")
    if mpop is None:
        pytest.skip("mpop is not installed (.ci/run installs it)")
    pop3 = pop3_factory(auth={"allow_plaintext_from": ["192.0.2.0/24"]})
    bodies = [b"first\r\n.dot line\r\n", b"second\r\n\xc3\xa9\r\n"]
    for body in bodies:
        pop3.deliver(ALICE, b"From: s@example.org\r\nSubject: m\r\n\r\n" + body)
    mbox = tmp_path / "mbox"
    mbox.touch()
    port = pop3.pop3_port if starttls else pop3.pop3s_port
    config = mpop_config(tmp_path / "mpoprc", pop3.host, port, starttls, mbox)
    result = subprocess.run([mpop, "-C", str(config), "test"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    text = mbox.read_bytes()
    assert b"\n.dot line\n" in text and "é".encode() in text and b"second" in text
    assert pop3.inbox(ALICE) == []
