"""SASL mechanisms shared by SMTP AUTH (RFC 4954), POP3 AUTH (RFC 5034) and IMAP
AUTHENTICATE (RFC 9051): PLAIN (RFC 4616) and the LOGIN exchange (draft-murchison-sasl-login).

Sans-IO: these functions turn the client's base64 lines into credentials and say what
challenge to send next; the sessions move the bytes. Every malformed input raises
`SASLError` (a ValueError) with a message fit for a log line, never anything else.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

# A PLAIN response carries three strings of at most 255 octets each (RFC 4616 §2); allow
# generous room for long passwords but bound what we decode.
MAX_RESPONSE_LENGTH = 4096  # base64 characters
MECHANISMS = ("PLAIN", "LOGIN")

LOGIN_USERNAME_CHALLENGE = base64.b64encode(b"Username:").decode()
LOGIN_PASSWORD_CHALLENGE = base64.b64encode(b"Password:").decode()


class SASLError(ValueError):
    """The client's SASL data is malformed (bad base64, NULs, empty fields, ...)."""


class SASLCancelled(SASLError):
    """The client answered a challenge with "*" (RFC 4954 §4, RFC 5034 §4, RFC 9051 §6.2.2)."""


@dataclass(frozen=True, slots=True)
class Credentials:
    authcid: str  # the user whose password this is (the login name)
    password: str
    authzid: str = ""  # the identity to act as; "" means the same as authcid

    @property
    def username(self) -> str:
        return self.authcid

    def check_authzid(self) -> None:
        """We do not support acting as another user: an authzid, if given, must name the
        authenticating user itself (compared case-insensitively, as addresses are)."""
        if self.authzid and self.authzid.lower() != self.authcid.lower():
            raise SASLError("authorization identity differs from the authentication identity")


def is_cancel(line: str | bytes) -> bool:
    text = line.decode("ascii", "replace") if isinstance(line, bytes) else line
    return text.strip() == "*"


def decode_base64(data: str | bytes) -> bytes:
    """Strict base64 (RFC 4648, no stray characters); "=" alone is the empty response."""
    if isinstance(data, bytes):
        try:
            data = data.decode("ascii")
        except UnicodeDecodeError:
            raise SASLError("response is not base64") from None
    data = data.strip()
    if is_cancel(data):
        raise SASLCancelled("authentication cancelled by the client")
    if len(data) > MAX_RESPONSE_LENGTH:
        raise SASLError("response too long")
    if data == "=":
        return b""
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise SASLError("response is not valid base64") from None


def _text(raw: bytes, what: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SASLError(f"{what} is not UTF-8") from None
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise SASLError(f"{what} contains control characters")
    return text


def decode_plain(response: str | bytes) -> Credentials:
    """Decode a PLAIN response: base64 of `authzid NUL authcid NUL password`."""
    raw = decode_base64(response)
    if not raw:
        raise SASLError("empty PLAIN response")
    parts = raw.split(b"\0")
    if len(parts) != 3:
        raise SASLError("PLAIN response must have exactly three NUL-separated fields")
    authzid, authcid, password = parts
    if not authcid:
        raise SASLError("empty authentication identity")
    if not password:
        raise SASLError("empty password")
    return Credentials(
        authcid=_text(authcid, "authentication identity"),
        password=_password(password),
        authzid=_text(authzid, "authorization identity"),
    )


def _password(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SASLError("password is not UTF-8") from None


def encode_plain(authcid: str, password: str, authzid: str = "") -> str:
    """The client side of PLAIN (for the outbound relay, the client and tests)."""
    for value in (authcid, password, authzid):
        if "\0" in value:
            raise SASLError("PLAIN fields cannot contain NUL")
    return base64.b64encode(f"{authzid}\0{authcid}\0{password}".encode()).decode()


class LoginExchange:
    """The server side of LOGIN: challenge "Username:", then "Password:".

    `LoginExchange(initial_response)` (SMTP allows the username as an initial response),
    then loop: `challenge()` gives the base64 challenge to send, `feed(line)` takes the
    client's answer; when `done`, `credentials()` has the result.
    """

    def __init__(self, initial_response: str | bytes | None = None) -> None:
        self._username: str | None = None
        self._password: str | None = None
        if initial_response is not None:
            self.feed(initial_response)

    @property
    def done(self) -> bool:
        return self._password is not None

    def challenge(self) -> str:
        if self.done:
            raise SASLError("the LOGIN exchange is complete")
        return LOGIN_USERNAME_CHALLENGE if self._username is None else LOGIN_PASSWORD_CHALLENGE

    def feed(self, line: str | bytes) -> None:
        raw = decode_base64(line)
        if self._username is None:
            if not raw:
                raise SASLError("empty username")
            if b"\0" in raw:
                raise SASLError("username contains NUL")
            self._username = _text(raw, "username")
        elif self._password is None:
            if not raw:
                raise SASLError("empty password")
            if b"\0" in raw:
                raise SASLError("password contains NUL")
            self._password = _password(raw)
        else:
            raise SASLError("the LOGIN exchange is complete")

    def credentials(self) -> Credentials:
        if self._username is None or self._password is None:
            raise SASLError("the LOGIN exchange is not complete")
        return Credentials(self._username, self._password)
