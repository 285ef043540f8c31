"""The client side of SMTP (for the outbound relay and the mail client): command writer
and EHLO reply reading. Replies are parsed by `replies.ReplyParser`; message content is
written by `data.dot_stuff` (DATA) or sent as is after `bdat()` (CHUNKING)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mailstead.proto.smtp.paths import Address
from mailstead.proto.smtp.replies import Reply


def _line(text: str) -> bytes:
    if "\r" in text or "\n" in text:
        raise ValueError("CR or LF inside an SMTP command")
    return text.encode("utf-8") + b"\r\n"


def ehlo(name: str) -> bytes:
    return _line(f"EHLO {name}")


def helo(name: str) -> bytes:
    return _line(f"HELO {name}")


def _params(params: dict[str, str | int | None]) -> str:
    return "".join(f" {k}" if v is None else f" {k}={v}" for k, v in params.items())


def mail_from(sender: Address | str, **params: str | int | None) -> bytes:
    """`mail_from(addr, SIZE=1234, BODY="8BITMIME", SMTPUTF8=None)`: None means a bare keyword."""
    path = sender.angle() if isinstance(sender, Address) else f"<{sender}>"
    return _line(f"MAIL FROM:{path}{_params(params)}")


def rcpt_to(recipient: Address | str, **params: str | int | None) -> bytes:
    path = recipient.angle() if isinstance(recipient, Address) else f"<{recipient}>"
    return _line(f"RCPT TO:{path}{_params(params)}")


def data() -> bytes:
    return b"DATA\r\n"


def bdat(chunk: bytes, last: bool = False) -> bytes:
    """The BDAT command followed by the chunk itself."""
    return f"BDAT {len(chunk)}{' LAST' if last else ''}\r\n".encode() + chunk


def rset() -> bytes:
    return b"RSET\r\n"


def noop() -> bytes:
    return b"NOOP\r\n"


def quit() -> bytes:
    return b"QUIT\r\n"


def starttls() -> bytes:
    return b"STARTTLS\r\n"


def auth(mechanism: str, initial_response: str | None = None) -> bytes:
    return _line(f"AUTH {mechanism}" + (f" {initial_response}" if initial_response is not None else ""))


@dataclass(frozen=True)
class Extensions:
    """What a server's EHLO reply offers: keyword -> parameter text ("" when none)."""

    greeting: str = ""
    keywords: dict[str, str] = field(default_factory=dict)

    def __contains__(self, keyword: str) -> bool:
        return keyword.upper() in self.keywords

    @property
    def max_size(self) -> int | None:
        value = self.keywords.get("SIZE", "")
        return int(value) if value.isdigit() and int(value) > 0 else None

    @property
    def auth_mechanisms(self) -> tuple[str, ...]:
        return tuple(self.keywords.get("AUTH", "").upper().split())


def parse_ehlo(reply: Reply) -> Extensions:
    lines = reply.lines
    keywords: dict[str, str] = {}
    for line in lines[1:]:
        keyword, _, value = line.strip().partition(" ")
        if keyword:
            keywords[keyword.upper()] = value.strip()
    return Extensions(lines[0] if lines else "", keywords)
