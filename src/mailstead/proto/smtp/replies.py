"""SMTP replies: the writer (server role) and the parser (client role).

A reply is a three-digit code, an optional enhanced status code (RFC 3463, announced by
ENHANCEDSTATUSCODES, RFC 2034) and one or more lines of text. Multi-line replies repeat the
code on every line with "-" after it, except the last (RFC 5321 §4.2.1).
"""

from __future__ import annotations

from dataclasses import dataclass

from mailstead.proto.smtp.errors import SMTPProtocolError


@dataclass(frozen=True, slots=True)
class Reply:
    code: int
    text: str | tuple[str, ...] = ""
    enhanced: str | None = None  # "2.1.0"; written in front of every line

    @property
    def lines(self) -> tuple[str, ...]:
        return (self.text,) if isinstance(self.text, str) else self.text

    @property
    def is_positive(self) -> bool:
        return 200 <= self.code < 400

    @property
    def is_error(self) -> bool:
        return self.code >= 400

    @property
    def message(self) -> str:
        return "\n".join(self.lines)

    def to_bytes(self) -> bytes:
        return write_reply(self.code, self.lines, self.enhanced)

    def __str__(self) -> str:
        head = f"{self.code} {self.enhanced} " if self.enhanced else f"{self.code} "
        return head + " / ".join(self.lines)


def _clean(line: str) -> str:
    # A CR or LF inside reply text would let a caller (or an address echoed back) forge
    # extra reply lines; replace them rather than trust every caller.
    if "\r" in line or "\n" in line:
        line = line.replace("\r", " ").replace("\n", " ")
    return line


def write_reply(code: int, lines: tuple[str, ...] | list[str] | str, enhanced: str | None = None) -> bytes:
    """The wire form of a reply; `lines` may be one string or several."""
    if isinstance(lines, str):
        lines = (lines,)
    if not lines:
        lines = ("",)
    prefix = f"{code} {enhanced} " if enhanced else f"{code} "
    if len(lines) == 1:
        return (prefix + _clean(lines[0])).rstrip(" ").encode("utf-8", "replace") + b"\r\n"
    cont = f"{code}-{enhanced} " if enhanced else f"{code}-"
    out = [(cont + _clean(line)).rstrip(" ") for line in lines[:-1]]
    out.append((prefix + _clean(lines[-1])).rstrip(" "))
    return ("\r\n".join(out) + "\r\n").encode("utf-8", "replace")


def _split_enhanced(code: int, text: str) -> tuple[str | None, str]:
    """'2.1.0 Ok' -> ('2.1.0', 'Ok') when the text starts with an enhanced code of the
    reply's class (RFC 3463 §2: class 2, 4 or 5, subject and detail of 1-3 digits)."""
    head, _, rest = text.partition(" ")
    parts = head.split(".")
    if (
        len(parts) == 3
        and parts[0] == str(code // 100)
        and parts[0] in ("2", "4", "5")
        and all(p.isdigit() and p.isascii() and 1 <= len(p) <= 3 for p in parts[1:])
    ):
        return head, rest
    return None, text


class ReplyParser:
    """Turns the bytes a server sends into `Reply` objects (the client role).

    Feed it whatever arrives; `replies()` returns the complete replies found so far. A line
    longer than `max_line_length` or one that is not `ddd[ -]text` raises SMTPProtocolError:
    a client cannot resynchronise with a server that does that, so it should hang up.
    """

    def __init__(self, max_line_length: int = 4096, max_lines: int = 1000) -> None:
        self._buf = bytearray()
        self._lines: list[str] = []
        self._code: int | None = None
        self._ready: list[Reply] = []
        self.max_line_length = max_line_length
        self.max_lines = max_lines

    def feed(self, data: bytes) -> list[Reply]:
        self._buf += data
        while True:
            end = self._buf.find(b"\n")
            if end < 0:
                if len(self._buf) > self.max_line_length:
                    raise SMTPProtocolError("reply line too long")
                break
            raw = bytes(self._buf[:end])
            del self._buf[: end + 1]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            self._line(raw)
        ready, self._ready = self._ready, []
        return ready

    def _line(self, raw: bytes) -> None:
        if len(raw) > self.max_line_length:
            raise SMTPProtocolError("reply line too long")
        if len(raw) < 3 or not raw[:3].isdigit() or (len(raw) > 3 and raw[3:4] not in b" -"):
            raise SMTPProtocolError(f"malformed reply line {raw[:80]!r}")
        code = int(raw[:3])
        if self._code is not None and code != self._code:
            raise SMTPProtocolError(f"reply code changed inside a multi-line reply: {raw[:80]!r}")
        self._code = code
        self._lines.append(raw[4:].decode("utf-8", "replace"))
        if len(self._lines) > self.max_lines:
            raise SMTPProtocolError("too many lines in one reply")
        if raw[3:4] != b"-":
            self._ready.append(self._finish(code))

    def _finish(self, code: int) -> Reply:
        lines, self._lines, self._code = self._lines, [], None
        enhanced: str | None = None
        texts = []
        for i, line in enumerate(lines):
            found, rest = _split_enhanced(code, line)
            if i == 0:
                enhanced = found
            texts.append(rest if found is not None and found == enhanced else line)
        return Reply(code, texts[0] if len(texts) == 1 else tuple(texts), enhanced)


def parse_replies(data: bytes) -> list[Reply]:
    """All complete replies in `data` (convenient in tests)."""
    return ReplyParser(max_line_length=1 << 20).feed(data)
