"""Parsing SMTP command lines (server role) into typed commands.

`parse_command(line)` takes one line without its CRLF and returns a command object, or
raises `CommandError` carrying the reply the server should send. It knows the syntax of
every command and ESMTP parameter we support; what is *allowed* in the current state or
with the extensions on offer is the state machine's business (`server.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mailstead.proto.smtp.paths import Address, NeedsSMTPUTF8, PathError, parse_path
from mailstead.proto.smtp.replies import Reply


class CommandError(Exception):
    def __init__(self, reply: Reply) -> None:
        super().__init__(str(reply))
        self.reply = reply


def _syntax(text: str, enhanced: str = "5.5.2", code: int = 501) -> CommandError:
    return CommandError(Reply(code, text, enhanced))


BODY_TYPES = frozenset({"7BIT", "8BITMIME", "BINARYMIME"})
NOTIFY_VALUES = frozenset({"SUCCESS", "FAILURE", "DELAY"})


@dataclass(frozen=True, slots=True)
class Ehlo:
    name: str


@dataclass(frozen=True, slots=True)
class Helo:
    name: str


@dataclass(frozen=True, slots=True)
class MailParams:
    size: int | None = None  # SIZE= (RFC 1870)
    body: str | None = None  # BODY= 7BIT / 8BITMIME (RFC 6152) / BINARYMIME (RFC 3030)
    smtputf8: bool = False  # RFC 6531
    ret: str | None = None  # RET=FULL|HDRS (RFC 3461)
    envid: str | None = None  # ENVID=xtext (RFC 3461), kept encoded
    auth: str | None = None  # AUTH=xtext or "<>" (RFC 4954 §5), kept encoded
    unknown: tuple[str, ...] = ()  # keywords we do not support

    @property
    def uses_dsn(self) -> bool:
        return self.ret is not None or self.envid is not None


@dataclass(frozen=True, slots=True)
class RcptParams:
    notify: tuple[str, ...] | None = None  # ("NEVER",) or a subset of SUCCESS/FAILURE/DELAY
    orcpt: str | None = None  # "rfc822;xtext", kept encoded
    unknown: tuple[str, ...] = ()

    @property
    def uses_dsn(self) -> bool:
        return self.notify is not None or self.orcpt is not None


@dataclass(frozen=True, slots=True)
class Mail:
    sender: Address
    params: MailParams = field(default_factory=MailParams)


@dataclass(frozen=True, slots=True)
class Rcpt:
    recipient: Address
    params: RcptParams = field(default_factory=RcptParams)


@dataclass(frozen=True, slots=True)
class Data:
    pass


@dataclass(frozen=True, slots=True)
class Bdat:
    size: int
    last: bool


@dataclass(frozen=True, slots=True)
class Rset:
    pass


@dataclass(frozen=True, slots=True)
class Noop:
    pass


@dataclass(frozen=True, slots=True)
class Quit:
    pass


@dataclass(frozen=True, slots=True)
class Vrfy:
    argument: str


@dataclass(frozen=True, slots=True)
class Expn:
    argument: str


@dataclass(frozen=True, slots=True)
class Help:
    argument: str


@dataclass(frozen=True, slots=True)
class StartTLS:
    pass


@dataclass(frozen=True, slots=True)
class Auth:
    mechanism: str  # upper case
    initial_response: str | None  # base64 text, "=" for an empty one (RFC 4954 §4)


Command = (
    Ehlo | Helo | Mail | Rcpt | Data | Bdat | Rset | Noop | Quit | Vrfy | Expn | Help | StartTLS | Auth
)


def _is_xtext(value: str) -> bool:
    """RFC 3461 §4: printable ASCII except "+" and "=", or "+" and two upper-case hex digits."""
    i, n = 0, len(value)
    while i < n:
        c = value[i]
        if c == "+":
            h = value[i + 1 : i + 3]
            if len(h) != 2 or any(ch not in "0123456789ABCDEF" for ch in h):
                return False
            i += 3
            continue
        if not ("!" <= c <= "~") or c == "=":
            return False
        i += 1
    return True


def decode_xtext(value: str) -> str:
    out = []
    i = 0
    while i < len(value):
        if value[i] == "+" and i + 2 < len(value) + 1:
            try:
                out.append(chr(int(value[i + 1 : i + 3], 16)))
                i += 3
                continue
            except ValueError:
                pass
        out.append(value[i])
        i += 1
    return "".join(out)


def _split_path(text: str) -> tuple[str, str]:
    """`<path> params` -> ("<path>", "params"), honouring quotes in the local part."""
    text = text.lstrip(" ")
    if not text.startswith("<"):
        raise _syntax("Syntax error: the address must be enclosed in <>")
    i, quoted, n = 1, False, len(text)
    while i < n:
        c = text[i]
        if quoted and c == "\\":
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif c == ">" and not quoted:
            rest = text[i + 1 :]
            if rest and not rest.startswith(" "):
                raise _syntax("Syntax error: junk after the address")
            return text[: i + 1], rest.strip(" ")
        i += 1
    raise _syntax("Syntax error: missing '>'")


def _params(text: str) -> list[tuple[str, str | None]]:
    out = []
    for item in text.split(" "):
        if not item:
            continue
        key, eq, value = item.partition("=")
        if not key or not all(c.isascii() and (c.isalnum() or c == "-") for c in key) or key[0] == "-":
            raise _syntax(f"Syntax error in parameter {item[:40]!r}", "5.5.4")
        if eq and not value:
            raise _syntax(f"Syntax error: empty value for {key.upper()}", "5.5.4")
        out.append((key.upper(), value if eq else None))
    return out


def _parse_mail(arg: str) -> Mail:
    if arg[:5].upper() != "FROM:":
        raise _syntax("Syntax: MAIL FROM:<address>")
    path, rest = _split_path(arg[5:])
    size = body = ret = envid = auth = None
    smtputf8 = False
    unknown = []
    seen: set[str] = set()
    for key, value in _params(rest):
        if key in seen:
            raise _syntax(f"Syntax error: {key} given twice", "5.5.4")
        seen.add(key)
        if key == "SIZE":
            if value is None or not value.isdigit() or not value.isascii() or len(value) > 20:
                raise _syntax("Syntax error in SIZE parameter", "5.5.4")
            size = int(value)
        elif key == "BODY":
            if value is None or value.upper() not in BODY_TYPES:
                raise _syntax("Syntax error in BODY parameter: 7BIT, 8BITMIME or BINARYMIME", "5.5.4")
            body = value.upper()
        elif key == "SMTPUTF8":
            if value is not None:
                raise _syntax("SMTPUTF8 takes no value", "5.5.4")
            smtputf8 = True
        elif key == "RET":
            if value is None or value.upper() not in ("FULL", "HDRS"):
                raise _syntax("Syntax error in RET parameter: FULL or HDRS", "5.5.4")
            ret = value.upper()
        elif key == "ENVID":
            if value is None or not _is_xtext(value) or len(value) > 100:
                raise _syntax("Syntax error in ENVID parameter", "5.5.4")
            envid = value
        elif key == "AUTH":
            if value is None or not (value == "<>" or _is_xtext(value)) or len(value) > 500:
                raise _syntax("Syntax error in AUTH parameter", "5.5.4")
            auth = value
        else:
            unknown.append(key)
    try:
        sender = parse_path(path, utf8=smtputf8, allow_null=True)
    except NeedsSMTPUTF8:
        raise CommandError(Reply(553, "Non-ASCII sender address requires SMTPUTF8", "5.6.7")) from None
    except PathError as exc:
        raise _syntax(f"Bad sender address syntax: {exc}", "5.1.7") from None
    params = MailParams(size, body, smtputf8, ret, envid, auth, tuple(unknown))
    return Mail(sender, params)


def parse_rcpt(arg: str, *, utf8: bool) -> Rcpt:
    """`TO:<...> params`; `utf8` is whether the transaction's MAIL declared SMTPUTF8."""
    if arg[:3].upper() != "TO:":
        raise _syntax("Syntax: RCPT TO:<address>")
    path, rest = _split_path(arg[3:])
    notify: tuple[str, ...] | None = None
    orcpt = None
    unknown = []
    seen: set[str] = set()
    for key, value in _params(rest):
        if key in seen:
            raise _syntax(f"Syntax error: {key} given twice", "5.5.4")
        seen.add(key)
        if key == "NOTIFY":
            items = tuple(v.upper() for v in (value or "").split(","))
            if items != ("NEVER",) and (not items or not set(items) <= NOTIFY_VALUES):
                raise _syntax("Syntax error in NOTIFY parameter", "5.5.4")
            notify = items
        elif key == "ORCPT":
            addr_type, semi, xtext = (value or "").partition(";")
            if not semi or not addr_type or not xtext or len(value or "") > 500:
                raise _syntax("Syntax error in ORCPT parameter", "5.5.4")
            if not (_is_xtext(xtext) or (utf8 and addr_type.upper() == "UTF-8")):
                raise _syntax("Syntax error in ORCPT parameter", "5.5.4")
            orcpt = value
        else:
            unknown.append(key)
    try:
        recipient = parse_path(path, utf8=utf8, allow_bare_postmaster=True)
    except NeedsSMTPUTF8:
        raise CommandError(Reply(553, "Non-ASCII recipient address requires SMTPUTF8", "5.6.7")) from None
    except PathError as exc:
        raise _syntax(f"Bad recipient address syntax: {exc}", "5.1.3") from None
    return Rcpt(recipient, RcptParams(notify, orcpt, tuple(unknown)))


def _no_argument(verb: str, arg: str, command: Command) -> Command:
    if arg.strip(" "):
        raise _syntax(f"Syntax: {verb} takes no argument", "5.5.4")
    return command


def _hello_name(verb: str, arg: str) -> str:
    name = arg.strip(" ").split(" ", 1)[0]
    if not name:
        raise _syntax(f"Syntax: {verb} hostname", "5.5.4")
    if any(ord(c) < 33 or ord(c) == 127 for c in name):
        raise _syntax(f"Syntax error in {verb} hostname", "5.5.4")
    return name


def parse_command(line: bytes | str, *, rcpt_utf8: bool = False) -> Command:
    """One command line (no CRLF). `rcpt_utf8`: the current MAIL declared SMTPUTF8."""
    if isinstance(line, bytes):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise _syntax("Syntax error: invalid characters in command", code=500) from None
    else:
        text = line
    if "\x00" in text:
        raise _syntax("Syntax error: NUL in command", code=500)
    verb, _, arg = text.partition(" ")
    verb = verb.upper()
    if verb == "MAIL":
        return _parse_mail(arg)
    if verb == "RCPT":
        return parse_rcpt(arg, utf8=rcpt_utf8)
    if verb == "DATA":
        return _no_argument(verb, arg, Data())
    if verb == "BDAT":
        parts = arg.strip(" ").split()
        if not parts or len(parts) > 2 or not parts[0].isdigit() or not parts[0].isascii():
            raise _syntax("Syntax: BDAT size [LAST]", "5.5.4")
        if len(parts) == 2 and parts[1].upper() != "LAST":
            raise _syntax("Syntax: BDAT size [LAST]", "5.5.4")
        if len(parts[0]) > 18:
            raise CommandError(Reply(552, "Message size exceeds fixed limit", "5.3.4"))
        return Bdat(int(parts[0]), len(parts) == 2)
    if verb == "EHLO":
        return Ehlo(_hello_name(verb, arg))
    if verb == "HELO":
        return Helo(_hello_name(verb, arg))
    if verb == "RSET":
        return _no_argument(verb, arg, Rset())
    if verb == "NOOP":
        return Noop()  # RFC 5321 §4.1.1.9: a NOOP argument is to be ignored
    if verb == "QUIT":
        return _no_argument(verb, arg, Quit())
    if verb == "VRFY":
        return Vrfy(arg.strip(" "))
    if verb == "EXPN":
        return Expn(arg.strip(" "))
    if verb == "HELP":
        return Help(arg.strip(" "))
    if verb == "STARTTLS":
        return _no_argument(verb, arg, StartTLS())
    if verb == "AUTH":
        parts = arg.strip(" ").split(" ")
        if not parts[0] or len(parts) > 2:
            raise _syntax("Syntax: AUTH mechanism [initial-response]", "5.5.4")
        return Auth(parts[0].upper(), parts[1] if len(parts) == 2 else None)
    raise CommandError(Reply(500, "Error: command not recognized", "5.5.2"))
