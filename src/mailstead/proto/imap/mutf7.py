"""Modified UTF-7 mailbox names (RFC 3501 §5.1.3), the IMAP4rev1 way of writing non-ASCII.

Hand-written because the stdlib's "utf-7" codec differs from IMAP's variant in three ways
(``&`` not ``+``, ``,`` not ``/``, and every printable ASCII character must be direct).
"""

from __future__ import annotations

import base64
import binascii
import re

_SHIFTED_RE = re.compile(rb"&([^-]*)-")
_DIRECT_RE = re.compile(r"[\x20-\x25\x27-\x7e]+")
_PRINTABLE_RE = re.compile(r"[\x20-\x7e]")


def encode(name: str) -> bytes:
    """Encode a mailbox name to modified UTF-7 (``&`` becomes ``&-``)."""
    if name.isascii() and "&" not in name:
        try:
            return name.encode("ascii")
        except UnicodeEncodeError:  # pragma: no cover - isascii() guarantees success
            pass
    out: list[bytes] = []
    pos = 0
    for match in _DIRECT_RE.finditer(name):
        if match.start() > pos:
            out.append(_shift(name[pos : match.start()]))
        out.append(match.group().encode("ascii"))
        pos = match.end()
    if pos < len(name):
        out.append(_shift(name[pos:]))
    return b"".join(out)


def _shift(chunk: str) -> bytes:
    if chunk == "&" * len(chunk):
        return b"&-" * len(chunk)
    pieces: list[bytes] = []
    run = ""
    for char in chunk:
        if char == "&":
            if run:
                pieces.append(_b64(run))
                run = ""
            pieces.append(b"&-")
        else:
            run += char
    if run:
        pieces.append(_b64(run))
    return b"".join(pieces)


def _b64(run: str) -> bytes:
    encoded = base64.b64encode(run.encode("utf-16-be")).rstrip(b"=").replace(b"/", b",")
    return b"&" + encoded + b"-"


def decode(raw: bytes) -> str:
    """Decode modified UTF-7; raise ValueError for anything RFC 3501 does not allow."""
    if b"&" not in raw:
        if not raw.isascii():
            raise ValueError("8-bit mailbox name needs UTF8=ACCEPT")
        return raw.decode("ascii")
    out: list[str] = []
    pos = 0
    for match in _SHIFTED_RE.finditer(raw):
        direct = raw[pos : match.start()]
        if b"&" in direct:
            raise ValueError("unterminated & shift in mailbox name")
        out.append(_direct(direct))
        body = match.group(1)
        if not body:
            out.append("&")
        else:
            out.append(_unshift(body))
        pos = match.end()
    tail = raw[pos:]
    if b"&" in tail:
        raise ValueError("unterminated & shift in mailbox name")
    out.append(_direct(tail))
    return "".join(out)


def _direct(chunk: bytes) -> str:
    if not chunk.isascii():
        raise ValueError("8-bit mailbox name needs UTF8=ACCEPT")
    return chunk.decode("ascii")


def _unshift(body: bytes) -> str:
    if len(body) % 4 == 1:
        raise ValueError("bad modified base64 in mailbox name")
    padded = body.replace(b",", b"/") + b"=" * (-len(body) % 4)
    try:
        utf16 = base64.b64decode(padded, validate=True)
        text = utf16.decode("utf-16-be")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("bad modified base64 in mailbox name") from exc
    if _PRINTABLE_RE.search(text):
        # RFC 3501: printable US-ASCII must be written directly, never shifted.
        raise ValueError("shifted printable ASCII in mailbox name")
    return text
