"""The client side of SMTP (for the outbound relay and the mail client): command writer
and EHLO reply reading. Replies are parsed by `replies.ReplyParser`; message content is
written by `data.dot_stuff` (DATA) or sent as is after `bdat()` (CHUNKING)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mailstead.proto.smtp.data import dot_stuff
from mailstead.proto.smtp.errors import SMTPProtocolError
from mailstead.proto.smtp.paths import Address
from mailstead.proto.smtp.replies import Reply, ReplyParser


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


# -- the client state machine -----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ClientEvent:
    """A server reply, with what it answers: "greeting", "ehlo", "helo", "starttls",
    "auth", "mail", "rcpt", "data" (the 354 or refusal), "message" (the final reply),
    "bdat" (an intermediate chunk), "rset", "noop", "quit"."""

    kind: str
    reply: Reply
    recipient: str | None = None  # for "rcpt"
    extensions: Extensions | None = None  # for "ehlo"
    accepted: tuple[str, ...] = ()  # for "message": the recipients the server took


@dataclass
class _Transaction:
    sender: str
    recipients: list[str]
    message: bytes
    chunked: bool
    accepted: list[str] = field(default_factory=list)


class ClientConnection:
    """The client role of SMTP, sans-IO: it writes commands, pairs each reply with the
    command it answers, and pipelines a whole transaction when the server offers
    PIPELINING (RFC 2920) and CHUNKING (RFC 3030).

        conn = ClientConnection("me.example")
        # read the greeting, then:
        conn.ehlo(); write(conn.data_to_send())
        for event in conn.receive(read()): ...  # ClientEvent("ehlo", ..., extensions)
        conn.send_message("a@x", ["b@y"], message); write(conn.data_to_send())
        ...  # "mail", "rcpt" per recipient, then "message" with the final reply

    After a 220 to STARTTLS, wrap the socket in TLS, call `tls_started()` and EHLO again.
    """

    def __init__(self, local_hostname: str, max_line_length: int = 4096) -> None:
        self._queued: list[tuple[bytes, str, str | None]] = []
        self.local_hostname = local_hostname
        self.parser = ReplyParser(max_line_length)
        self.extensions: Extensions | None = None
        self._out: list[bytes] = []
        self._expected: list[tuple[str, str | None]] = [("greeting", None)]
        self._transaction: _Transaction | None = None

    @property
    def waiting(self) -> int:
        """Replies still expected."""
        return len(self._expected)

    def data_to_send(self) -> bytes:
        out = b"".join(self._out)
        self._out.clear()
        return out

    def _command(self, data: bytes, kind: str, recipient: str | None = None) -> None:
        self._out.append(data)
        self._expected.append((kind, recipient))

    def ehlo(self) -> None:
        self._command(ehlo(self.local_hostname), "ehlo")

    def helo(self) -> None:
        self._command(helo(self.local_hostname), "helo")

    def starttls(self) -> None:
        self._command(starttls(), "starttls")

    def tls_started(self) -> None:
        self.extensions = None  # RFC 3207 §4.2: what the server said before TLS is void

    def auth_plain(self, initial_response: str) -> None:
        """`initial_response` from `mailstead.auth.sasl.encode_plain(user, password)`."""
        self._command(auth("PLAIN", initial_response), "auth")

    def rset(self) -> None:
        self._command(rset(), "rset")

    def noop(self) -> None:
        self._command(noop(), "noop")

    def quit(self) -> None:
        self._command(quit(), "quit")

    def send_message(self, sender: str, recipients: list[str], message: bytes,
                     **params: str | int | None) -> None:
        """MAIL, every RCPT and DATA (or BDAT LAST with the message) in one write when
        the server pipelines; otherwise the commands go out one reply at a time."""
        if self._transaction is not None:
            raise RuntimeError("a transaction is already in progress")
        ext = self.extensions or Extensions()
        if "SIZE" in ext:
            params.setdefault("SIZE", len(message))
        chunked = "CHUNKING" in ext
        self._transaction = _Transaction(sender, list(recipients), message, chunked)
        self._queued = [(mail_from(sender, **params), "mail", None)]
        self._queued += [(rcpt_to(r), "rcpt", r) for r in recipients]
        if chunked:
            self._queued.append((bdat(message, last=True), "message", None))
        else:
            self._queued.append((data(), "data", None))
        if "PIPELINING" in ext:
            for item in self._queued:
                self._command(*item)
            self._queued = []
        else:
            self._command(*self._queued.pop(0))

    def receive(self, data: bytes) -> list[ClientEvent]:
        events = []
        for reply in self.parser.feed(data):
            if not self._expected:
                raise SMTPProtocolError(f"unexpected reply {reply}")
            kind, recipient = self._expected.pop(0)
            events.append(self._handle(kind, recipient, reply))
        return events

    def _handle(self, kind: str, recipient: str | None, reply: Reply) -> ClientEvent:
        extensions = None
        accepted: tuple[str, ...] = ()
        if kind == "ehlo" and reply.code == 250:
            extensions = self.extensions = parse_ehlo(reply)
        tx = self._transaction
        if tx is not None:
            positive = reply.code // 100 == 2
            if kind == "rcpt" and positive and recipient is not None:
                tx.accepted.append(recipient)
            elif kind == "mail" and not positive:
                self._end_transaction()
            elif kind == "data":
                if reply.code == 354:
                    # RFC 2920 §3.1: with no accepted recipient, end the message at once.
                    body = tx.message if tx.accepted else b""
                    self._command(dot_stuff(body) if body else b".\r\n", "message")
                else:
                    self._end_transaction()
            elif kind == "message":
                accepted = tuple(tx.accepted) if reply.code // 100 == 2 else ()
                self._end_transaction()
            self._send_next_queued()
        return ClientEvent(kind, reply, recipient, extensions, accepted)

    def _end_transaction(self) -> None:
        self._transaction = None
        self._queued = []

    def _send_next_queued(self) -> None:
        """Without PIPELINING: the next command once the previous one is answered."""
        tx = self._transaction
        if tx is None or not self._queued:
            return
        command, kind, recipient = self._queued.pop(0)
        if kind in ("data", "message") and not tx.accepted:
            self._end_transaction()
            self._command(rset(), "rset")  # every RCPT refused: nothing to send
            return
        self._command(command, kind, recipient)

    @property
    def accepted_recipients(self) -> list[str]:
        return list(self._transaction.accepted) if self._transaction else []
