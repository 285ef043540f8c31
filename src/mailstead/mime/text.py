"""Decoding to text: charsets, RFC 2047 encoded-words, transfer encodings.

Everything here is total: unknown charsets fall back to UTF-8 (then Latin-1 for the
bytes that do not fit), broken base64 decodes as far as it goes. Search indexing and
display must never fail because a sender was sloppy.
"""

from __future__ import annotations

import binascii
import codecs
import re

_CHARSET_ALIASES = {
    "unknown-8bit": "latin-1",
    "x-unknown": "latin-1",
    "unknown": "latin-1",
    "default": "latin-1",
    "us-ascii": "latin-1",  # 8-bit bytes in "ASCII" mail are nearly always Latin-1
    "ascii": "latin-1",
    "ks_c_5601-1987": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "iso-8859-8-i": "iso-8859-8",
    "windows-874": "cp874",
    "x-mac-roman": "mac-roman",
}


def _codec(charset: str) -> str:
    cs = charset.strip().strip('"').lower()
    cs = _CHARSET_ALIASES.get(cs, cs)
    try:
        return codecs.lookup(cs).name
    except (LookupError, ValueError):
        return "utf-8"


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes in a declared charset to str, never failing."""
    if data.isascii():
        return data.decode("ascii")
    codec = _codec(charset or "utf-8")
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode(codec if codec != "utf-8" else "latin-1", "replace")


def decode_header_bytes(data: bytes) -> str:
    """Raw header bytes: UTF-8 (RFC 6532) if valid, else Latin-1."""
    if data.isascii():
        return data.decode("ascii")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


_WORD = re.compile(rb"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(rb"[ \t\r\n]*")
_Q_ESC = re.compile(rb"=([0-9A-Fa-f]{2})")


def _decode_q(data: bytes) -> bytes:
    return _Q_ESC.sub(lambda m: bytes([int(m.group(1), 16)]), data.replace(b"_", b" "))


def _decode_b(data: bytes) -> bytes:
    data = data.rstrip(b"=")
    data += b"=" * (-len(data) % 4)
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        return b""


def decode_words(value: bytes) -> str:
    """Decode RFC 2047 encoded-words in a header value (whitespace between words dropped)."""
    if b"=?" not in value:
        return decode_header_bytes(value)
    out: list[str] = []
    pos = 0
    last_word_end = -1
    pending: list[tuple[str, bytes]] = []  # adjacent words in one charset join before decode

    def flush() -> None:
        if pending:
            charset = pending[0][0]
            out.append(decode_bytes(b"".join(p[1] for p in pending), charset))
            pending.clear()

    for m in _WORD.finditer(value):
        gap = value[pos : m.start()]
        if last_word_end >= 0 and _BETWEEN_WORDS.fullmatch(gap):
            gap = b""
        else:
            flush()
        if gap:
            out.append(decode_header_bytes(gap))
        charset = m.group(1).decode("ascii", "replace").split("*", 1)[0]
        enc = m.group(2)
        payload = _decode_b(m.group(3)) if enc in b"bB" else _decode_q(m.group(3))
        if pending and pending[0][0].lower() != charset.lower():
            flush()
        pending.append((charset, payload))
        pos = m.end()
        last_word_end = pos
    flush()
    if pos < len(value):
        out.append(decode_header_bytes(value[pos:]))
    return "".join(out)


def unfold(value: bytes) -> bytes:
    return value.replace(b"\r\n", b"").replace(b"\n", b"")


_QP_SOFT = re.compile(rb"=[ \t]*\r?\n")
_QP_ESC = re.compile(rb"=([0-9A-Fa-f]{2})")
_QP_TRAILING_WS = re.compile(rb"[ \t]+(\r?\n)")


def decode_qp(data: bytes) -> bytes:
    """Quoted-printable (RFC 2045 6.7) to bytes, leaving broken escapes as they are."""
    data = _QP_TRAILING_WS.sub(rb"\1", data)
    data = _QP_SOFT.sub(b"", data)
    if data.endswith(b"=") and not data.endswith(b"=="):
        data = data[:-1]
    return _QP_ESC.sub(lambda m: bytes([int(m.group(1), 16)]), data)


_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/]+")


def decode_base64(data: bytes) -> tuple[bytes, bool]:
    """Base64 to bytes, skipping junk; returns (data, clean) where clean=False if broken."""
    body = _B64_JUNK.sub(b"", data.split(b"=", 1)[0])
    clean = True
    rem = len(body) % 4
    if rem == 1:
        body = body[:-1]
        clean = False
    elif rem:
        body += b"=" * (4 - rem)
        clean = False
    try:
        return binascii.a2b_base64(body), clean
    except binascii.Error:
        return b"", False


def decode_transfer(data: bytes, cte: str) -> bytes | None:
    """Decode a body in its Content-Transfer-Encoding; None if the encoding is unknown."""
    cte = cte.lower()
    if cte in ("", "7bit", "8bit", "binary"):
        return data
    if cte == "base64":
        return decode_base64(data)[0]
    if cte == "quoted-printable":
        return decode_qp(data)
    return None
