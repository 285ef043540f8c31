"""POP3 commands as values, and the parser of one command line (RFC 1939, 2449, 2595, 5034,
6856). No state here: `ServerConnection` decides what is allowed when."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

# RFC 1939 §3: arguments "may be up to 40 characters long". Message numbers in practice are
# far shorter; ten digits is enough for any mailbox and keeps int() cheap on garbage.
MAX_ARGUMENT = 40
MAX_NUMBER_DIGITS = 10


@dataclass(frozen=True, slots=True)
class User:
    name: str


@dataclass(frozen=True, slots=True)
class Pass:
    username: str  # from the USER command that preceded it
    password: str


@dataclass(frozen=True, slots=True)
class Auth:
    """AUTH with a mechanism, or bare AUTH (mechanism None: list mechanisms, a widely used
    pre-RFC 5034 form that clients such as Outlook still send)."""

    mechanism: str | None
    # RFC 5034 §4: None = no initial response, b"" = "=" (an empty initial response).
    initial_response: bytes | None = None


@dataclass(frozen=True, slots=True)
class SaslResponse:
    """A client line answering a `+ ` challenge; `data` None means "*" (cancel)."""

    data: bytes | None


@dataclass(frozen=True, slots=True)
class Capa:
    pass


@dataclass(frozen=True, slots=True)
class Stls:
    pass


@dataclass(frozen=True, slots=True)
class Utf8:
    pass


@dataclass(frozen=True, slots=True)
class Stat:
    pass


@dataclass(frozen=True, slots=True)
class List:
    msg: int | None = None


@dataclass(frozen=True, slots=True)
class Uidl:
    msg: int | None = None


@dataclass(frozen=True, slots=True)
class Retr:
    msg: int


@dataclass(frozen=True, slots=True)
class Top:
    msg: int
    lines: int


@dataclass(frozen=True, slots=True)
class Dele:
    msg: int


@dataclass(frozen=True, slots=True)
class Rset:
    pass


@dataclass(frozen=True, slots=True)
class Noop:
    pass


@dataclass(frozen=True, slots=True)
class Quit:
    pass


Command = (
    User | Pass | Auth | Capa | Stls | Utf8 | Stat | List | Uidl | Retr | Top | Dele | Rset | Noop
    | Quit
)


class CommandSyntaxError(ValueError):
    """The line is not a well-formed command; the message is fit for a `-ERR` reply."""


def _number(text: str, what: str = "message number") -> int:
    if not text.isascii() or not text.isdigit() or len(text) > MAX_NUMBER_DIGITS:
        raise CommandSyntaxError(f"Invalid {what}")
    return int(text)


def decode_base64(text: str) -> bytes:
    """Strict base64 (RFC 4648 alphabet, padding required), as RFC 5034 §4 asks."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise CommandSyntaxError("Invalid base64 data") from None


def parse_sasl_response(line: bytes) -> SaslResponse:
    text = line.strip(b" ").decode("ascii", "replace")
    if text == "*":
        return SaslResponse(None)
    return SaslResponse(decode_base64(text))


def parse_command(line: bytes) -> tuple[str, Command | None]:
    """Parse one line (without its line end) into (KEYWORD, command).

    The command is None when the keyword is not one we know (the caller answers "unknown
    command"). Raises CommandSyntaxError for a known keyword with bad arguments.
    """
    if b"\x00" in line:
        raise CommandSyntaxError("NUL in command")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandSyntaxError("Command is not valid UTF-8") from None
    keyword, _, rest = text.partition(" ")
    keyword = keyword.upper()
    if not keyword.isascii() or not keyword.isalnum() or len(keyword) > 4:
        return keyword[:8] if keyword.isprintable() else "?", None

    # RFC 1939 §7: PASS has exactly one argument, and "a server may treat spaces in the
    # argument as part of the password": everything after the first space is the password.
    if keyword == "PASS":
        if not rest:
            raise CommandSyntaxError("PASS needs a password")
        return keyword, Pass("", rest)

    args = rest.split()
    if any(len(a) > MAX_ARGUMENT for a in args) and keyword != "AUTH":
        raise CommandSyntaxError("Argument too long")

    def arity(low: int, high: int) -> None:
        if not low <= len(args) <= high:
            raise CommandSyntaxError(f"{keyword}: wrong number of arguments")

    match keyword:
        case "USER":
            arity(1, 1)
            return keyword, User(args[0])
        case "AUTH":
            arity(0, 2)
            if not args:
                return keyword, Auth(None)
            mechanism = args[0].upper()
            if len(mechanism) > 20 or not all(c.isalnum() or c in "-_" for c in mechanism):
                raise CommandSyntaxError("Invalid SASL mechanism name")
            initial = None
            if len(args) == 2:
                initial = b"" if args[1] == "=" else decode_base64(args[1])
            return keyword, Auth(mechanism, initial)
        case "CAPA" | "STLS" | "UTF8" | "STAT" | "RSET" | "NOOP" | "QUIT":
            arity(0, 0)
            return keyword, _SIMPLE[keyword]
        case "LIST" | "UIDL":
            arity(0, 1)
            msg = _number(args[0]) if args else None
            return keyword, (List(msg) if keyword == "LIST" else Uidl(msg))
        case "RETR" | "DELE":
            arity(1, 1)
            msg = _number(args[0])
            return keyword, (Retr(msg) if keyword == "RETR" else Dele(msg))
        case "TOP":
            arity(2, 2)
            return keyword, Top(_number(args[0]), _number(args[1], "line count"))
    return keyword, None


_SIMPLE: dict[str, Command] = {
    "CAPA": Capa(),
    "STLS": Stls(),
    "UTF8": Utf8(),
    "STAT": Stat(),
    "RSET": Rset(),
    "NOOP": Noop(),
    "QUIT": Quit(),
}
