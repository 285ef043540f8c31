"""Interop with swaks (Debian package), a client we did not write."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed"),
]


def swaks(mx: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["swaks", "--server", mx.host, "--port", str(mx.port), "--helo", "swaks.remote.test",
         "--from", "sender@remote.test", "--timeout", "20", *args],
        capture_output=True, text=True, timeout=60,
    )


def test_swaks_pipelining(mx: Any) -> None:
    result = swaks(mx, "--to", "alice@example.test,bob@example.test", "--pipeline",
                   "--header", "Subject: swaks", "--body", "Hello.\n.leading dot\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "queued as" in result.stdout
    for user in ("alice", "bob"):
        (raw,) = mx.mailbox(f"{user}@example.test")
        assert b"Subject: swaks" in raw and b"\r\n.leading dot\r\n" in raw


@pytest.mark.parametrize("tls", [False, True])
def test_swaks_auth(mx: Any, tls: bool) -> None:
    # Without TLS AUTH works because loopback is in auth.allow_plaintext_from.
    result = swaks(mx, "--to", "carol@example.test", *(["--tls"] if tls else []), "--auth", "LOGIN",
                   "--auth-user", "carol@example.test", "--auth-password", "secret-password")
    if "requires Net::SSLeay" in result.stderr:
        pytest.skip("swaks has no TLS here (Debian package libnet-ssleay-perl)")
    assert result.returncode == 0, result.stdout + result.stderr
    (raw,) = mx.mailbox("carol@example.test")
    assert (b"with ESMTPSA id" if tls else b"with ESMTPA id") in raw


def test_swaks_unknown_user(mx: Any) -> None:
    result = swaks(mx, "--to", "nobody@example.test")
    assert result.returncode != 0
    assert "550 5.1.1" in result.stdout
