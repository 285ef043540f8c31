"""SASL PLAIN (RFC 4616) and LOGIN exchanges for SMTP AUTH (RFC 4954).

An exchange is fed the client's base64 lines and says what to send next: a challenge, or
the (username, password) pair to verify. Kept here, small and synchronous, until
`mailstead.auth.sasl` offers the same; the session only needs `start`/`step`.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass


class SASLError(Exception):
    """The client's response cannot be decoded."""


@dataclass(frozen=True, slots=True)
class Challenge:
    text: str  # base64, sent as "334 text"


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str


def _decode(line: str) -> bytes:
    if line == "=":
        return b""
    try:
        return base64.b64decode(line.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise SASLError("cannot decode base64 response") from None


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SASLError("credentials are not UTF-8") from None


class Exchange:
    def start(self, initial: str | None) -> Challenge | Credentials:
        raise NotImplementedError

    def step(self, line: str) -> Challenge | Credentials:
        raise NotImplementedError


class PlainExchange(Exchange):
    def start(self, initial: str | None) -> Challenge | Credentials:
        return Challenge("") if initial is None else self.step(initial)

    def step(self, line: str) -> Challenge | Credentials:
        parts = _decode(line).split(b"\0")
        if len(parts) != 3:
            raise SASLError("PLAIN needs authzid NUL authcid NUL password")
        authzid, user, password = (_text(p) for p in parts)
        if not user or (authzid and authzid != user):
            raise SASLError("cannot authorize as another user")
        return Credentials(user, password)


class LoginExchange(Exchange):
    USERNAME = base64.b64encode(b"Username:").decode()
    PASSWORD = base64.b64encode(b"Password:").decode()

    def __init__(self) -> None:
        self.username: str | None = None

    def start(self, initial: str | None) -> Challenge | Credentials:
        return Challenge(self.USERNAME) if initial is None else self.step(initial)

    def step(self, line: str) -> Challenge | Credentials:
        value = _text(_decode(line))
        if self.username is None:
            self.username = value
            return Challenge(self.PASSWORD)
        return Credentials(self.username, value)


MECHANISMS: dict[str, type[Exchange]] = {"PLAIN": PlainExchange, "LOGIN": LoginExchange}
