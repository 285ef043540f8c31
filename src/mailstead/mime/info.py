"""MessageInfo: what is kept about a message, and every IMAP answer derived from it."""

from __future__ import annotations

import html
import json
import re
import zlib
from collections.abc import Iterable
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import NamedTuple

from . import _scan
from ._render import envelope, message_bodystructure
from ._scan import MESSAGE, MULTIPART, TEXT, Node
from .addresses import Address, parse_addresses
from .text import decode_bytes, decode_header_bytes, decode_transfer, decode_words

FORMAT_VERSION = 2  # 2: the body text is no longer serialised
MAX_SEARCH_TEXT = 1 << 20  # characters of body text indexed per message

_KIND_NAMES = {TEXT: "text", MULTIPART: "multipart", MESSAGE: "message", _scan.OTHER: "other"}


class PartInfo(NamedTuple):
    """One addressable part, for BODY[n...]/BINARY[n] and for the client's display.

    A NamedTuple rather than a frozen dataclass: analyse() builds one per part and the
    tuple is several times cheaper to create."""

    number: str  # IMAP part number ("1", "2.1", ...)
    header_start: int
    body_start: int
    end: int
    kind: str  # "text", "multipart", "message" or "other"
    content_type: str  # lower case "type/subtype"
    charset: str | None
    filename: str | None
    disposition: str | None
    transfer_encoding: str  # lower case; "7bit" when absent
    # for message/rfc822 parts: the enclosed message's header start, body start and end
    message: tuple[int, int, int] | None = None

    @property
    def is_attachment(self) -> bool:
        return self.disposition == "attachment" or (
            self.filename is not None and self.kind != "text"
        )

    def decoded(self, raw: bytes) -> bytes | None:
        """The body with its transfer encoding removed; None for an unknown encoding."""
        return decode_transfer(raw[self.body_start : self.end], self.transfer_encoding)

    def text(self, raw: bytes) -> str | None:
        """The body as text (charset applied), for text parts; None for other parts."""
        if self.kind != "text":
            return None
        data = self.decoded(raw)
        if data is None:
            data = raw[self.body_start : self.end]
        return decode_bytes(data, self.charset or "us-ascii")

    def _row(self) -> list[object]:
        return [
            self.number,
            self.header_start,
            self.body_start,
            self.end,
            self.kind,
            self.content_type,
            self.charset,
            self.filename,
            self.disposition,
            self.transfer_encoding,
            list(self.message) if self.message else None,
        ]

    @classmethod
    def _from_row(cls, row: list[object]) -> PartInfo:
        msg = row[10]
        return cls(
            *row[:10],  # type: ignore[arg-type]
            message=tuple(msg) if msg else None,  # type: ignore[arg-type]
        )


class MessageInfo:
    """The analysed message: structure offsets, precomputed IMAP renderings, search text.

    Renderings that depend only on the structure (ENVELOPE, BODY, BODYSTRUCTURE) are
    computed once at analyse time and kept as bytes, so a FETCH costs a dictionary
    lookup; sections are byte ranges of the stored message.
    """

    __slots__ = (
        "_body",
        "_body_text",
        "_bodystructure",
        "_envelope",
        "_parts",
        "_source",
        "body_start",
        "header_fields",
        "parts",
        "size",
    )

    def __init__(
        self,
        size: int,
        body_start: int,
        envelope_bytes: bytes,
        bodystructure_bytes: bytes,
        body_bytes: bytes,
        header_fields: list[tuple[bytes, bytes]],
        parts: list[PartInfo],
        body_text: str | None,
        source: tuple[bytes, Node] | None = None,
    ) -> None:
        self.size = size
        self.body_start = body_start
        self._envelope = envelope_bytes
        self._bodystructure = bodystructure_bytes
        self._body = body_bytes
        self.header_fields = header_fields
        self.parts = parts
        self._parts = {p.number: p for p in parts}
        self._body_text = body_text
        self._source = source

    # -- what the store keeps ---------------------------------------------------------

    # zlib's defaults (32 KiB window, memLevel 8) make each compress allocate ~256 KiB,
    # which malloc serves by mmap and the kernel by page faults: ~60 us per structure, ten
    # times the compression itself. A structure is a few hundred bytes to a few KiB, so a
    # 4 KiB window loses nothing. loads() reads any window size.
    _PACK_WBITS = 12
    _PACK_MEMLEVEL = 4

    def dumps(self) -> bytes:
        """Compact serialised form (zlib-compressed JSON); round-trips through loads()."""
        doc = [
            FORMAT_VERSION,
            self.size,
            self.body_start,
            self._envelope.decode("latin-1"),
            self._bodystructure.decode("latin-1"),
            self._body.decode("latin-1"),
            [[n.decode("latin-1"), v.decode("latin-1")] for n, v in self.header_fields],
            [p._row() for p in self.parts],
        ]
        # The decoded body text is left out: the store keeps it once per blob for its
        # search index, and carrying it in every copy's structure cost as much zlib time
        # as the whole rest of a 100 KiB delivery. After loads(), body_text(raw) decodes
        # it again from the message when asked.
        packer = zlib.compressobj(6, zlib.DEFLATED, self._PACK_WBITS, self._PACK_MEMLEVEL)
        return packer.compress(json.dumps(doc, separators=(",", ":")).encode("utf-8")) + packer.flush()

    @classmethod
    def loads(cls, data: bytes) -> MessageInfo:
        """The MessageInfo that dumps() wrote; ValueError if `data` is not one."""
        try:
            doc = json.loads(zlib.decompress(data))
        except (zlib.error, ValueError, TypeError) as e:
            raise ValueError(f"not a MessageInfo: {e}") from None
        if not isinstance(doc, list) or not doc or doc[0] != FORMAT_VERSION:
            raise ValueError("unknown MessageInfo format")
        return cls(
            size=doc[1],
            body_start=doc[2],
            envelope_bytes=doc[3].encode("latin-1"),
            bodystructure_bytes=doc[4].encode("latin-1"),
            body_bytes=doc[5].encode("latin-1"),
            header_fields=[(n.encode("latin-1"), v.encode("latin-1")) for n, v in doc[6]],
            parts=[PartInfo._from_row(r) for r in doc[7]],
            body_text=None,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MessageInfo):
            return NotImplemented
        return (
            self.size == other.size
            and self.body_start == other.body_start
            and self._envelope == other._envelope
            and self._bodystructure == other._bodystructure
            and self._body == other._body
            and self.header_fields == other.header_fields
            and self.parts == other.parts
        )

    __hash__ = None  # type: ignore[assignment]

    # -- IMAP renderings --------------------------------------------------------------

    def envelope(self) -> bytes:
        return self._envelope

    def body_structure(self) -> bytes:
        return self._bodystructure

    def body(self) -> bytes:
        return self._body

    def part(self, number: str) -> PartInfo | None:
        return self._parts.get(number)

    def section(self, raw: bytes, spec: str) -> bytes:
        """The bytes of BODY[spec]; an unknown part gives b"" (RFC 3501 6.4.5)."""
        from .sections import render_section

        return render_section(self, raw, spec)

    def header_fields_section(
        self, raw: bytes, names: list[str], part: str = "", exclude: bool = False
    ) -> bytes:
        """BODY[part.HEADER.FIELDS (names)] (or .NOT) with the names already parsed."""
        from .sections import header_fields_section

        if not part:
            return header_fields_section(raw, 0, self.body_start, names, exclude)
        p = self._parts.get(part)
        if p is None or p.message is None:
            return b""
        return header_fields_section(raw, p.message[0], p.message[1], names, exclude)

    def binary(self, raw: bytes, part: str) -> bytes | None:
        """BINARY[part] (RFC 3516): the decoded body; None for an unknown encoding."""
        if part in ("", "0"):
            return raw
        p = self._parts.get(part)
        if p is None:
            return b""
        if p.kind in ("multipart", "message"):
            return self._binary_container(raw, p)
        return p.decoded(raw)

    def _binary_container(self, raw: bytes, container: PartInfo) -> bytes | None:
        """A multipart or message with every nested leaf decoded, as Dovecot answers
        BINARY for it: each decoded part loses its Content-Transfer-Encoding fields and
        gets "Content-Transfer-Encoding: binary" at the end of its header."""
        from .sections import field_spans

        out: list[bytes] = []
        pos = container.body_start
        prefix = container.number + "."
        for q in self.parts:
            if not q.number.startswith(prefix) or q.kind in ("multipart", "message"):
                continue
            if q.transfer_encoding in ("7bit", "8bit", "binary"):
                continue
            decoded = q.decoded(raw)
            if decoded is None:
                return None
            if q.header_start < pos or q.body_start == q.end:
                continue  # shares its header with its message, or has nothing to decode
            out.append(raw[pos : q.header_start])
            spans = field_spans(raw, q.header_start, q.body_start)
            for name, start, end in spans:
                if name != b"content-transfer-encoding":
                    out.append(raw[start:end])
            out.append(b"Content-Transfer-Encoding: binary\r\n")
            out.append(raw[spans[-1][2] if spans else q.header_start : q.body_start])
            out.append(decoded)
            pos = q.end
        out.append(raw[pos : container.end])
        return b"".join(out)

    def binary_size(self, raw: bytes, part: str) -> int | None:
        data = self.binary(raw, part)
        return None if data is None else len(data)

    # -- for SORT, SEARCH and display -------------------------------------------------

    def header_values(self, name: str | bytes) -> list[bytes]:
        """Raw values of a top-level header field, in message order (folding kept as LF)."""
        key = (name.encode("latin-1") if isinstance(name, str) else name).lower()
        return [v for n, v in self.header_fields if n.lower() == key]

    def header_text(self, name: str | bytes) -> list[str]:
        """Values of a header field, unfolded and with RFC 2047 words decoded."""
        return [decode_words(_unfold(v)).strip() for v in self.header_values(name)]

    @property
    def subject(self) -> str:
        values = self.header_text("subject")
        return values[-1] if values else ""

    @property
    def message_id(self) -> str | None:
        values = self.header_values("message-id")
        return decode_header_bytes(_unfold(values[-1])).strip() if values else None

    @property
    def date(self) -> datetime | None:
        """The Date: header as an aware datetime; None when missing or unparseable."""
        values = self.header_values("date")
        if not values:
            return None
        try:
            d = parsedate_to_datetime(decode_header_bytes(_unfold(values[-1])))
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        return d if d.tzinfo is not None else None

    def addresses(self, name: str) -> list[Address]:
        """Parsed addresses of From/To/Cc/... (group markers included)."""
        values = self.header_values(name)
        return parse_addresses(values[-1]) if values else []

    @property
    def from_(self) -> list[Address]:
        return [a for a in self.addresses("from") if not a.is_group_marker]

    @property
    def to(self) -> list[Address]:
        return [a for a in self.addresses("to") if not a.is_group_marker]

    @property
    def cc(self) -> list[Address]:
        return [a for a in self.addresses("cc") if not a.is_group_marker]

    def text_parts(self) -> list[PartInfo]:
        return [p for p in self.parts if p.kind == "text"]

    def attachments(self) -> list[PartInfo]:
        return [p for p in self.parts if p.is_attachment]

    def body_text(self, raw: bytes | None = None) -> str:
        """Decoded text parts (and enclosed messages), for SEARCH BODY and display.

        A MessageInfo fresh from analyse() has the message at hand; one from loads() does
        not keep the text (see dumps()) and needs the message bytes `raw` again."""
        if self._body_text is None:
            if self._source is not None:
                self._body_text = _body_text(*self._source)
                self._source = None
            elif raw is not None:
                self._body_text = analyse(raw).body_text()
            else:
                raise ValueError("body_text() of a loaded MessageInfo needs the message bytes")
        return self._body_text

    def search_text(self, raw: bytes | None = None) -> str:
        """The header ("Name: value", RFC 2047 decoded) and body_text(), for SEARCH TEXT
        and the store's full-text index (`raw` as for body_text())."""
        return _header_text(self.header_fields) + "\n\n" + self.body_text(raw)


def _unfold(v: bytes) -> bytes:
    return v.replace(b"\r", b"").replace(b"\n", b"")


_TAG = re.compile(r"<[^>]*>")


def _body_text(raw: bytes, root: Node) -> str:
    """Decoded text of text/* parts and of enclosed messages (their headers included),
    which is what IMAP SEARCH BODY looks at; attachments, preambles and epilogues are
    left out."""
    out: list[str] = []
    total = 0

    def walk(node: Node, is_message: bool) -> None:
        nonlocal total
        if is_message:
            out.append(_header_text((f.name, f.value) for f in node.fields if f.colon))
        if node.kind == MULTIPART:
            for c in node.children:
                walk(c, False)
        elif node.kind == MESSAGE:
            walk(node.children[0], True)
        elif node.kind == TEXT and total < MAX_SEARCH_TEXT:
            cte = node.cte_token if node.cte_token is not None else b"7bit"
            data = decode_transfer(raw[node.bstart : node.end], cte.decode("latin-1"))
            if data is None:
                data = raw[node.bstart : node.end]
            charset = _param(node, b"charset")
            text = decode_bytes(data, charset.decode("latin-1") if charset else "us-ascii")
            if node.csub is not None and node.csub.lower() == b"html":
                text = html.unescape(_TAG.sub(" ", text))
            text = text[: MAX_SEARCH_TEXT - total]
            total += len(text)
            out.append(text)

    walk(root, False)
    return "\n".join(out)


def _header_text(fields: Iterable[tuple[bytes, bytes]]) -> str:
    return "\n".join(decode_header_bytes(n) + ": " + decode_words(_unfold(v)) for n, v in fields)


def _param(node: Node, name: bytes) -> bytes | None:
    for k, v in node.params:
        if k.lower() == name:
            return v
    return None


def _filename(node: Node) -> str | None:
    from ._lex import decode_param

    for params, key in ((node.dparams or [], b"filename"), (node.params, b"name")):
        for k, v in params:
            kl = k.lower()
            if kl == key or kl == key + b"*":
                return decode_param(k, v)
    return None


def _part_info(number: str, node: Node) -> PartInfo:
    if node.kind == MESSAGE:
        ctype = "message/rfc822"
    elif node.ctype is None:
        ctype = "text/plain"
    else:
        ctype = (node.ctype + b"/" + (node.csub or b"")).decode("latin-1").lower()
    charset = _param(node, b"charset")
    msg = None
    if node.kind == MESSAGE and node.children:
        c = node.children[0]
        msg = (c.hstart, c.bstart, c.end)
    return PartInfo(
        number=number,
        header_start=node.hstart,
        body_start=node.bstart,
        end=node.end,
        kind=_KIND_NAMES[node.kind],
        content_type=ctype,
        charset=charset.decode("latin-1") if charset is not None else None,
        filename=_filename(node),
        disposition=node.disp.decode("latin-1").lower() if node.disp else None,
        transfer_encoding=(node.cte_token if node.cte_token is not None else b"7bit")
        .decode("latin-1")
        .lower(),
        message=msg,
    )


def _number_parts(root: Node) -> list[PartInfo]:
    """Every part with its IMAP number (RFC 3501 6.4.5), depth first."""
    out: list[PartInfo] = []

    def message(node: Node, prefix: str) -> None:
        if node.kind == MULTIPART:
            for i, c in enumerate(node.children, 1):
                part(c, f"{prefix}{i}")
        else:
            part(node, f"{prefix}1")

    def part(node: Node, number: str) -> None:
        out.append(_part_info(number, node))
        if node.kind == MULTIPART:
            for i, c in enumerate(node.children, 1):
                part(c, f"{number}.{i}")
        elif node.kind == MESSAGE and node.children:
            message(node.children[0], number + ".")

    message(root, "")
    return out


def analyse_strict(raw: bytes, crlf_only: bool = False) -> MessageInfo:
    """analyse() without the safety net: for tests that hunt for scanner bugs."""
    raw = bytes(raw)
    root = _scan.scan(raw, crlf_only)
    return MessageInfo(
        size=root.message_size,
        body_start=root.bstart,
        envelope_bytes=b"(" + envelope(root.fields) + b")",
        bodystructure_bytes=message_bodystructure(raw, root, True),
        body_bytes=message_bodystructure(raw, root, False),
        header_fields=[(f.name, f.value) for f in root.fields if f.colon],
        parts=_number_parts(root),
        body_text=None,
        source=(raw, root),
    )


def analyse(raw: bytes, crlf_only: bool = False) -> MessageInfo:
    """Analyse a message once. Never raises: delivery must not fail on a parser bug, so
    anything unexpected degrades to one opaque part (and the fuzz tests hunt for it).

    `crlf_only=True` is the caller's promise that `raw` has no bare LF (SMTP intake rejects
    them, RFC 5321 §2.3.8): the IMAP sizes then need no LF/CRLF counting over the message."""
    if isinstance(raw, str):  # tolerate a caller that decoded the message already
        raw = raw.encode("utf-8", "surrogateescape")
    try:
        return analyse_strict(raw, crlf_only)
    except Exception:
        try:
            return _fallback(bytes(raw))
        except Exception:
            return _fallback(b"")


def _fallback(raw: bytes) -> MessageInfo:
    """A message too deep to describe: one opaque application/octet-stream part."""
    size = len(raw)
    return MessageInfo(
        size=size,
        body_start=0,
        envelope_bytes=b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure_bytes=b'("application" "octet-stream" NIL NIL NIL "7bit" %d NIL NIL NIL NIL)'
        % size,
        body_bytes=b'("application" "octet-stream" NIL NIL NIL "7bit" %d)' % size,
        header_fields=[],
        parts=[
            PartInfo("1", 0, 0, size, "other", "application/octet-stream", None, None, None, "7bit")
        ],
        body_text="",
    )
