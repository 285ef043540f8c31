"""One pass over the message bytes: header fields and the MIME part tree, as offsets.

Why a scanner of our own rather than the stdlib ``email`` package: IMAP answers are
byte ranges of the stored message (BODY[1.2.MIME], BODY[2.TEXT], sizes and line counts
in BODYSTRUCTURE), and ``email`` keeps no offsets; it also rewrites what it parses and
costs 1-16 ms per 15 KB message, against a budget of 0.3 ms here. The scanner never
copies a body: it jumps between boundary lines with ``bytes.find`` and counts lines
with ``bytes.count``, so its cost is proportional to the number of header lines and
parts, not to the size of attachments.

Boundaries follow what deployed servers do with broken mail (Dovecot's message parser
is the reference for the corpus in tests/corpus/mime): a boundary line is "--" followed
by a boundary of any enclosing multipart as a prefix (the longest match wins, the
innermost first on a tie); a boundary of an outer multipart closes every part inside
it; the [CR]LF before a boundary line belongs to the boundary; a header that runs into
a boundary line ends there; a multipart whose final boundary never comes ends at the
end of its parent.
"""

from __future__ import annotations

import functools
import re

from ._lex import Cursor, parse_content_type, parse_mime_token, parse_params, skip_lwsp

BOUNDARY_MAX = 80  # longer boundaries are cut (as Dovecot does); RFC 2046 allows 70
MAX_DEPTH = 50  # nesting beyond this is parsed as opaque leaves
MAX_PARTS = 2000  # parts beyond this are not split further
MAX_FIELDS = 5000  # header fields per header block kept for lookups
MAX_HEADER_LINES = 200_000  # header lines in a whole message; past this, headers end

# part kinds
TEXT = 0
MULTIPART = 1
MESSAGE = 2
OTHER = 3


class Field:
    """One header field: its name, its value as Dovecot's parser joins it, its byte range."""

    __slots__ = ("colon", "end", "name", "start", "value")

    def __init__(self, name: bytes, value: bytes, start: int, end: int, colon: bool) -> None:
        self.colon = colon  # False for a line without ":" (kept for offsets, else ignored)
        self.name = name
        self.value = value  # after ":" and leading blanks; continuation lines joined by LF
        self.start = start
        self.end = end  # end of the field's last line, including its newline


class Node:
    """A part as the scanner sees it (also an enclosed message, also the whole message)."""

    __slots__ = (
        "bstart",
        "children",
        "cid",
        "csub",
        "cte",
        "cte_token",
        "ctype",
        "desc",
        "disp",
        "dparams",
        "end",
        "eoh",
        "fields",
        "hstart",
        "kind",
        "lang",
        "lines",
        "loc",
        "md5",
        "message_size",
        "params",
        "size",
    )

    def __init__(self, hstart: int) -> None:
        self.hstart = hstart
        self.bstart = hstart
        self.end = hstart
        self.eoh = -1  # offset of the empty line ending the header, -1 if none
        self.kind = TEXT
        self.children: list[Node] = []
        self.fields: list[Field] = []
        self.lines = 0  # body lines, counted for text and message parts only
        self.size = 0  # body octets as IMAP counts them (every line ending CRLF)
        self.message_size = 0  # on the root only: RFC822.SIZE
        self.ctype: bytes | None = None
        self.csub: bytes | None = None
        self.params: list[tuple[bytes, bytes]] = []
        self.cid: bytes | None = None
        self.desc: bytes | None = None
        self.cte: bytes | None = None  # as BODYSTRUCTURE shows it (None if absent/broken)
        self.cte_token: bytes | None = None  # what decoding uses: the first token, if any
        self.md5: bytes | None = None
        self.disp: bytes | None = None
        self.dparams: list[tuple[bytes, bytes]] | None = None
        self.lang: list[bytes] | None = None
        self.loc: bytes | None = None


class _Boundary:
    __slots__ = ("node", "value")

    def __init__(self, value: bytes, node: Node) -> None:
        self.value = value
        self.node = node


class _Hit:
    """A boundary line found: where its line starts, where its leading newline starts."""

    __slots__ = ("boundary", "final", "line", "nl")

    def __init__(self, boundary: _Boundary, line: int, nl: int, final: bool) -> None:
        self.boundary = boundary
        self.line = line
        self.nl = nl
        self.final = final


class Scanner:
    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.size = len(raw)
        self.stack: list[_Boundary] = []
        self.parts = 0
        self.header_lines = 0  # header lines read in the whole message, bounded

    # -- boundaries -------------------------------------------------------------------

    def _match(self, line: int, extra: _Boundary | None = None) -> _Hit | None:
        """The boundary whose delimiter starts the line at `line` (which starts "--")."""
        raw = self.raw
        start = line + 2
        nl = raw.find(b"\n", start, start + 4096)
        if nl >= 0:
            stop = nl - 1 if nl > start and raw[nl - 1] == 0x0D else nl
        else:
            stop = min(self.size, start + BOUNDARY_MAX + 4)
        room = stop - start
        best: _Boundary | None = None
        candidates = self.stack if extra is None else [*self.stack, extra]
        for b in reversed(candidates):
            n = len(b.value)
            if (
                n <= room
                and raw.startswith(b.value, start)
                and (best is None or n > len(best.value))
            ):
                best = b
                if n == room:
                    break
        if best is None:
            return None
        final = raw.startswith(b"--", start + len(best.value))
        return _Hit(best, line, line, final)

    def next_boundary(self, pos: int, first_line: bool) -> _Hit | None:
        """The next boundary line at or after pos (pos is a line start if first_line)."""
        if not self.stack:
            return None
        raw = self.raw
        if first_line and raw.startswith(b"--", pos):
            hit = self._match(pos)
            if hit is not None:
                return hit
        # One regex over the active boundaries finds candidate lines at C speed, so a
        # body full of "--" lines that are not boundaries costs no Python per line.
        search = self._pattern().search
        while True:
            m = search(raw, pos)
            if m is None:
                return None
            i = m.start()
            hit = self._match(i + 1)
            if hit is not None:
                hit.nl = i - 1 if i > 0 and raw[i - 1] == 0x0D else i
                return hit
            pos = i + 1

    def _pattern(self) -> re.Pattern[bytes]:
        return _boundary_pattern(tuple(b.value for b in self.stack))

    def skip_boundary_line(self, hit: _Hit) -> int:
        nl = self.raw.find(b"\n", hit.line)
        return self.size if nl < 0 else nl + 1

    # -- headers ----------------------------------------------------------------------

    def header(self, node: Node, pos: int) -> _Hit | None:
        """Scan the header block at pos into node.fields; returns a boundary that cut it."""
        raw = self.raw
        size = self.size
        fields = node.fields
        find = raw.find
        prev_nl = 0  # newline length of the previous line, given back if a boundary cuts in
        check = bool(self.stack)
        while pos < size:
            self.header_lines += 1
            if self.header_lines > MAX_HEADER_LINES:
                break  # absurd header: what is left is body (keeps the cost bounded)
            if check and raw.startswith(b"--", pos):
                hit = self._match(pos)
                if hit is not None:
                    # The newline before the boundary line leaves this header; the parts
                    # around it still end after that newline (hit.nl = pos).
                    node.bstart = pos - prev_nl
                    return hit
            c = raw[pos]
            if c == 0x0A:
                node.bstart = pos + 1
                node.eoh = pos
                return None
            if c == 0x0D and raw.startswith(b"\r\n", pos):
                node.bstart = pos + 2
                node.eoh = pos
                return None
            nl = find(b"\n", pos)
            if nl < 0:
                line_end = size
                next_pos = size
                prev_nl = 0
            else:
                line_end = nl - 1 if nl > pos and raw[nl - 1] == 0x0D else nl
                next_pos = nl + 1
                prev_nl = next_pos - line_end
            colon = raw.find(b":", pos, line_end)
            if c in (0x20, 0x09) and fields:
                # continuation of the previous field
                f = fields[-1]
                if len(f.value) < 65536:
                    f.value += b"\n" + raw[pos:line_end]
                f.end = next_pos
            elif len(fields) < MAX_FIELDS:
                if colon < 0:
                    name = raw[pos:line_end]
                    value = b""
                else:
                    name = raw[pos:colon].rstrip(b" \t")
                    v = colon + 1
                    while v < line_end and raw[v] in (0x20, 0x09):
                        v += 1
                    if v == line_end and line_end > colon + 1:
                        v = colon + 2  # all blanks: drop only the first
                    value = raw[v:line_end]
                fields.append(Field(name, value, pos, next_pos, colon >= 0))
            pos = next_pos
        node.bstart = pos
        return None

    # -- parts ------------------------------------------------------------------------

    def part(self, node: Node, is_mime: bool, digest_parent: bool, depth: int) -> _Hit | None:
        """Parse the part starting at node.hstart; returns the boundary that ended it."""
        self.parts += 1
        hit = self.header(node, node.hstart)
        mime = is_mime
        seen_type = False
        content_fields: list[Field] = []
        for f in node.fields:
            if not f.colon:
                continue  # a line without ":" is no field (Dovecot ignores it too)
            name = f.name
            if len(name) >= 8 and name[:8].lower() == b"content-":
                content_fields.append(f)
                if name.lower() == b"content-type":
                    mime = True
                    seen_type = True
            elif name.lower() == b"mime-version":
                mime = True
        boundary: bytes | None = None
        if mime:
            boundary = _apply_content_fields(node, content_fields)
        else:
            # Without MIME the Content-* fields do not describe the part, but a
            # Content-Transfer-Encoding still says how to decode it (BINARY, search).
            for f in content_fields:
                if f.name.lower() == b"content-transfer-encoding":
                    c = Cursor(f.value)
                    skip_lwsp(c)
                    node.cte_token = parse_mime_token(c)[1]
                    break
        if not mime or not seen_type:
            node.kind = MESSAGE if digest_parent else TEXT
        if node.kind == MESSAGE and digest_parent and not seen_type:
            node.ctype, node.csub = b"message", b"rfc822"
        too_deep = depth >= MAX_DEPTH or self.parts >= MAX_PARTS
        if too_deep and node.kind in (MULTIPART, MESSAGE):
            node.kind = OTHER
            boundary = None
        if hit is None and node.eoh >= 0 and self.stack and self.raw.startswith(b"--", node.bstart):
            # A boundary right after the empty line: that line's newline belongs to the
            # boundary, so the header ends before it and the body is empty (Dovecot).
            own = (
                _Boundary(boundary, node)
                if node.kind == MULTIPART and boundary is not None
                else None
            )
            hit = self._match(node.bstart, own)
            if hit is not None and hit.boundary is own:
                hit = None
            if hit is not None:
                node.bstart = node.eoh
        if hit is not None:
            node.end = node.bstart
            if node.kind == MESSAGE:
                child = Node(node.bstart)
                child.end = node.bstart
                node.children.append(child)
            return hit
        if node.kind == MULTIPART and boundary is not None:
            return self.multipart_body(node, boundary, depth)
        if node.kind == MESSAGE:
            child = Node(node.bstart)
            node.children.append(child)
            hit = self.part(child, False, False, depth + 1)
            node.end = child.end if hit is None else hit.nl
            node.lines = self.raw.count(b"\n", node.bstart, node.end)
            return hit
        hit = self.next_boundary(node.bstart, True)
        node.end = self.size if hit is None else hit.nl
        if node.kind == TEXT:
            node.lines = self.raw.count(b"\n", node.bstart, node.end)
        return hit

    def multipart_body(self, node: Node, boundary: bytes, depth: int) -> _Hit | None:
        own = _Boundary(boundary, node)
        self.stack.append(own)
        digest = node.csub is not None and node.csub.lower() == b"digest"
        pos = node.bstart
        hit = self.next_boundary(pos, True)
        while True:
            if hit is None:
                self._pop(own)
                node.end = self.size
                break
            if hit.boundary is not own:
                self._pop(own)
                node.end = hit.nl
                break
            pos = self.skip_boundary_line(hit)
            if not hit.final and not self.raw.endswith(b"\n", 0, pos):
                # A boundary line cut off by the end of the message opens no part.
                self._pop(own)
                node.end = self.size
                hit = None
                break
            if hit.final:
                self._pop(own)
                hit = self.next_boundary(pos, True)  # epilogue, up to an outer boundary
                node.end = self.size if hit is None else hit.nl
                break
            if self.parts >= MAX_PARTS:
                hit = self.next_boundary(pos, True)
                continue
            child = Node(pos)
            node.children.append(child)
            hit = self.part(child, True, digest, depth + 1)
        return hit

    def _pop(self, own: _Boundary) -> None:
        stack = self.stack
        while stack:
            if stack.pop() is own:
                return


@functools.lru_cache(maxsize=1024)
def _boundary_pattern(values: tuple[bytes, ...]) -> re.Pattern[bytes]:
    alts = sorted(set(values), key=len, reverse=True)
    return re.compile(b"\n--(?:" + b"|".join(re.escape(a) for a in alts) + b")")


def _first(fields: list[Field], name: bytes) -> Field | None:
    for f in fields:
        if f.name.lower() == name:
            return f
    return None


def _apply_content_fields(node: Node, fields: list[Field]) -> bytes | None:
    """Fill the node's Content-* data (first of each field wins); returns the boundary."""
    boundary: bytes | None = None
    seen: set[bytes] = set()
    for f in fields:
        lname = f.name.lower()
        if lname == b"content-type":
            if b"type" in seen:
                continue
            seen.add(b"type")
            c = Cursor(f.value)
            skip_lwsp(c)
            ret, main, sub = parse_content_type(c)
            node.ctype, node.csub = main, sub
            low = (main + b"/" + sub if ret >= 0 else main).lower()
            if low == b"message/rfc822":
                node.kind = MESSAGE
            elif low.startswith(b"multipart/"):
                node.kind = MULTIPART
            elif low[:4] == b"text" and (len(low) == 4 or low[4:5] == b"/"):
                node.kind = TEXT
            else:
                node.kind = OTHER
            if ret >= 0:
                node.params = parse_params(c)
                if node.kind == MULTIPART:
                    for k, v in node.params:
                        if k.lower() == b"boundary":
                            boundary = v[:BOUNDARY_MAX]
                            break
        elif lname == b"content-transfer-encoding":
            if node.cte is not None:
                continue  # the first one that parses wins (a broken one does not count)
            c = Cursor(f.value)
            skip_lwsp(c)
            ret, tok = parse_mime_token(c)
            if node.cte_token is None:
                node.cte_token = tok
            if ret >= 0 and skip_lwsp(c) == 0 and tok:
                node.cte = node.cte_token = tok
        elif lname == b"content-disposition":
            if node.dparams:
                continue  # a later field replaces one that had no parameters (as Dovecot)
            c = Cursor(f.value)
            skip_lwsp(c)
            ret, tok = parse_mime_token(c)
            if ret < 0:
                continue
            node.disp = tok
            node.dparams = parse_params(c)
        elif lname == b"content-id":
            if node.cid is None:
                node.cid = f.value
        elif lname == b"content-description":
            if node.desc is None:
                node.desc = f.value
        elif lname == b"content-md5":
            if node.md5 is None:
                node.md5 = f.value
        elif lname == b"content-location":
            if node.loc is None:
                node.loc = f.value
        elif lname == b"content-language" and node.lang is None:
            node.lang = _languages(f.value)
    return boundary


def _languages(value: bytes) -> list[bytes] | None:
    from ._lex import parse_atom

    c = Cursor(value)
    skip_lwsp(c)
    out: list[bytes] = []
    while True:
        ret, atom = parse_atom(c)
        if ret < 0:
            break
        out.append(atom)
        if c.pos >= c.end or c.data[c.pos] != 0x2C:
            break
        c.pos += 1
        skip_lwsp(c)
    return out or None


def scan(raw: bytes, crlf_only: bool = False) -> Node:
    """The whole message as a tree of nodes (never raises on any bytes). `crlf_only`: the
    caller guarantees no bare LF (SMTP intake checked it), which saves two full counts."""
    s = Scanner(raw)
    root = Node(0)
    s.part(root, False, False, 0)
    root.end = len(raw)
    # IMAP sizes count CRLF line ends; only a message with bare LFs needs counting.
    bare_lf = not crlf_only and raw.count(b"\n") != raw.count(b"\r\n")
    root.size = len(raw)  # the message size, replaced by the body size below
    if bare_lf:
        root.size += raw.count(b"\n") - raw.count(b"\r\n")
    message_size = root.size
    stack = [root]
    while stack:
        node = stack.pop()
        node.size = node.end - node.bstart
        if bare_lf:
            lf = raw.count(b"\n", node.bstart, node.end)
            node.size += lf - raw.count(b"\r\n", node.bstart, node.end)
        stack.extend(node.children)
    root.message_size = message_size
    return root
