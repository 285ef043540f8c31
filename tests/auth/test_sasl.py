from __future__ import annotations

import base64

import pytest

from mailstead.auth.sasl import (
    LOGIN_PASSWORD_CHALLENGE,
    LOGIN_USERNAME_CHALLENGE,
    Credentials,
    LoginExchange,
    SASLCancelled,
    SASLError,
    decode_plain,
    encode_plain,
    is_cancel,
)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_plain_round_trip() -> None:
    creds = decode_plain(encode_plain("alice@example.test", "s3cret"))
    assert creds == Credentials("alice@example.test", "s3cret", "")
    assert creds.username == "alice@example.test"
    creds.check_authzid()


def test_plain_rfc4616_example() -> None:
    # RFC 4616 §4: "\0tim\0tanstaaftanstaaf"
    assert decode_plain("AHRpbQB0YW5zdGFhZnRhbnN0YWFm") == Credentials("tim", "tanstaaftanstaaf")


def test_plain_authzid() -> None:
    creds = decode_plain(b64(b"Ursel\0Kurt\0xipj3plmq"))
    assert creds.authzid == "Ursel" and creds.authcid == "Kurt"
    with pytest.raises(SASLError):
        creds.check_authzid()
    decode_plain(b64(b"ALICE@example.test\0alice@example.test\0pw")).check_authzid()


def test_plain_accepts_bytes_and_utf8() -> None:
    creds = decode_plain(b64("\0jörg\0pässwörd".encode()).encode())
    assert creds == Credentials("jörg", "pässwörd")


@pytest.mark.parametrize(
    "response",
    [
        "",
        "=",
        "not base64!",
        "AHRpbQ",  # bad padding
        b64(b"\0tim"),  # two fields
        b64(b"\0tim\0pw\0extra"),  # four fields
        b64(b"\0\0pw"),  # empty authcid
        b64(b"\0tim\0"),  # empty password
        b64(b"\0t\xffim\0pw"),  # not UTF-8
        b64(b"\0tim\0p\xffw"),
        b64(b"\0ti\nm\0pw"),  # control character in the identity
        "A" * 5000,
        "AHRp bQB0YW5z",  # embedded space
    ],
)
def test_plain_rejects_malformed(response: str) -> None:
    with pytest.raises(SASLError):
        decode_plain(response)


def test_cancel() -> None:
    assert is_cancel("*") and is_cancel(b"*\r\n") and not is_cancel("**")
    with pytest.raises(SASLCancelled):
        decode_plain("*")


def test_encode_plain_refuses_nul() -> None:
    with pytest.raises(SASLError):
        encode_plain("a\0b", "pw")


def test_login_exchange() -> None:
    exchange = LoginExchange()
    assert exchange.challenge() == LOGIN_USERNAME_CHALLENGE == "VXNlcm5hbWU6"
    exchange.feed(b64(b"alice@example.test"))
    assert exchange.challenge() == LOGIN_PASSWORD_CHALLENGE == "UGFzc3dvcmQ6"
    assert not exchange.done
    with pytest.raises(SASLError):
        exchange.credentials()
    exchange.feed(b64(b"s3cret"))
    assert exchange.done
    assert exchange.credentials() == Credentials("alice@example.test", "s3cret")
    with pytest.raises(SASLError):
        exchange.feed(b64(b"more"))
    with pytest.raises(SASLError):
        exchange.challenge()


def test_login_initial_response() -> None:
    exchange = LoginExchange(b64(b"alice"))
    assert exchange.challenge() == LOGIN_PASSWORD_CHALLENGE


@pytest.mark.parametrize("bad", ["=", "%%%", b64(b"a\0b"), b64(b"\xff"), "*"])
def test_login_rejects_malformed(bad: str) -> None:
    with pytest.raises(SASLError):
        LoginExchange().feed(bad)
    exchange = LoginExchange(b64(b"alice"))
    with pytest.raises(SASLError):
        exchange.feed(bad if bad != b64(b"\xff") else "=")
