"""SMTP AUTH (RFC 4954) exchanges over `mailstead.auth.sasl`: one object per AUTH command
that says what to send next, a `334` challenge or the credentials to verify."""

from __future__ import annotations

from dataclasses import dataclass

from mailstead.auth.sasl import Credentials, LoginExchange, SASLError, decode_plain

__all__ = ["MECHANISMS", "Challenge", "Credentials", "Exchange", "SASLError"]


@dataclass(frozen=True, slots=True)
class Challenge:
    text: str  # base64, sent as "334 text"


class Exchange:
    def start(self, initial: str | None) -> Challenge | Credentials:
        raise NotImplementedError

    def step(self, line: str) -> Challenge | Credentials:
        raise NotImplementedError


class PlainExchange(Exchange):
    def start(self, initial: str | None) -> Challenge | Credentials:
        return Challenge("") if initial is None else self.step(initial)

    def step(self, line: str) -> Challenge | Credentials:
        credentials = decode_plain(line)
        credentials.check_authzid()
        return credentials


class LoginSMTPExchange(Exchange):
    def __init__(self) -> None:
        self._login: LoginExchange | None = None

    def start(self, initial: str | None) -> Challenge | Credentials:
        self._login = LoginExchange(initial)
        return self._next()

    def step(self, line: str) -> Challenge | Credentials:
        assert self._login is not None
        self._login.feed(line)
        return self._next()

    def _next(self) -> Challenge | Credentials:
        assert self._login is not None
        if self._login.done:
            return self._login.credentials()
        return Challenge(self._login.challenge())


MECHANISMS: dict[str, type[Exchange]] = {"PLAIN": PlainExchange, "LOGIN": LoginSMTPExchange}
