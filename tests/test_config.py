"""The config loader: defaults, validation, and errors that name the key and the file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mailstead.config import ConfigError, load_config, parse_listen_address

MINIMAL = """
hostname = "mx.example.org"
data_dir = "data"
[listen]
smtp = ["127.0.0.1:2525"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mailstead.toml"
    path.write_text(text)
    return path


def test_minimal_config_gets_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL))
    assert cfg.hostname == "mx.example.org"
    assert cfg.data_dir == (tmp_path / "data").resolve()
    assert cfg.store_url == f"sqlite:///{tmp_path.resolve() / 'data' / 'mail.db'}"
    assert [str(a) for a in cfg.listen.smtp] == ["127.0.0.1:2525"]
    assert cfg.listen.pop3 == ()
    assert cfg.limits.max_message_size == 52_428_800
    assert cfg.auth.plaintext_allowed_from("127.0.0.1")
    assert cfg.auth.plaintext_allowed_from("::1")
    assert cfg.auth.plaintext_allowed_from("::ffff:127.0.0.5")
    assert not cfg.auth.plaintext_allowed_from("192.0.2.1")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("colour = 'blue'\n" + MINIMAL, "colour"),
        (MINIMAL + "colour = 'blue'\n", "listen.colour"),
        (MINIMAL.replace('"127.0.0.1:2525"', '"127.0.0.1:99999"'), "listen.smtp"),
        (MINIMAL.replace('"127.0.0.1:2525"', '"not-an-address"'), "listen.smtp"),
        (MINIMAL + "[limits]\nmax_message_size = 'big'\n", "limits.max_message_size"),
        (MINIMAL + "[limits]\nmax_messages = 3\n", "limits.max_messages"),
        (MINIMAL + "[limits]\nmax_message_size = 2000\nmax_message_memory = 1000\n",
         "limits.max_message_memory"),
        (MINIMAL + "[tls]\ncert = 'missing.pem'\nkey = 'missing.key'\n", "tls.cert"),
        (MINIMAL + "[auth]\nallow_plaintext_from = ['nonsense']\n", "auth.allow_plaintext_from"),
        (MINIMAL + "[store]\nurl = 'mysql://x'\n", "store.url"),
        (MINIMAL.replace('hostname = "mx.example.org"', ""), "hostname"),
        (MINIMAL.replace("[listen]", "[listen]\npop3s = ['127.0.0.1:1995']"), "tls.cert"),
    ],
)
def test_errors_name_the_key_and_the_file(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path.resolve()) in str(info.value) or str(path) in str(info.value)
    assert f": {key}:" in str(info.value)


def test_not_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "hostname = \n"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "absent.toml")


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [("0.0.0.0:25", "0.0.0.0", 25), ("[::1]:143", "::1", 143), ("localhost:110", "localhost", 110)],
)
def test_listen_addresses(text: str, host: str, port: int) -> None:
    address = parse_listen_address(text)
    assert (address.host, address.port) == (host, port)


def test_serve_with_bad_config_says_so_without_a_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "[limits]\nmax_recipients = -4\n")
    result = subprocess.run(
        [sys.executable, "-m", "mailstead", "--config", str(path), "serve"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "limits.max_recipients" in result.stderr
    assert str(path.resolve()) in result.stderr.replace("\n", "")
    assert "Traceback" not in result.stderr
