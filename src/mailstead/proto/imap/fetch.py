"""FETCH attributes: names, section specs, partials and the ALL/FAST/FULL macros.

RFC 9051 §6.4.5 and RFC 3516 (BINARY). ``Section.spec()`` is the text ``mailstead.mime``'s
``section(raw, spec)`` takes; ``FetchAttribute.response_key()`` the name a FETCH response
item carries (``BODY.PEEK[...]<0.100>`` is answered as ``BODY[...]<0>``).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import lexer

# Attributes without a section, in their canonical spelling.
SIMPLE_ATTRIBUTES = frozenset(
    {
        "ENVELOPE",
        "FLAGS",
        "INTERNALDATE",
        "RFC822.SIZE",
        "UID",
        "BODYSTRUCTURE",
        "BODY",
        "RFC822",
        "RFC822.HEADER",
        "RFC822.TEXT",
        "MODSEQ",  # RFC 7162
        "EMAILID",  # RFC 8474
        "THREADID",  # RFC 8474
        "SAVEDATE",  # RFC 8514
    }
)
SECTION_TEXTS = ("HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME")


@dataclass(frozen=True, slots=True)
class Section:
    """``[1.2.HEADER.FIELDS (From To)]``: part numbers, then an optional text specifier."""

    part: tuple[int, ...] = ()
    text: str | None = None
    fields: tuple[str, ...] = ()

    @property
    def part_text(self) -> str:
        """The part number as ``mailstead.mime`` takes it for BINARY: ``"1.2"``, ``""``."""
        return ".".join(map(str, self.part))

    def spec(self) -> str:
        """The section as written inside the brackets (fields as the client wrote them)."""
        pieces = [".".join(map(str, self.part))] if self.part else []
        if self.text is not None:
            pieces.append(self.text)
        spec = ".".join(pieces)
        if self.text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
            spec += " (" + " ".join(_field_token(f) for f in self.fields) + ")"
        return spec


def _field_token(name: str) -> str:
    raw = name.encode("utf-8")
    if lexer.is_astring_atom(raw):
        return name
    return lexer.quote(raw).decode("utf-8")


@dataclass(frozen=True, slots=True)
class FetchAttribute:
    """One fetch attribute.

    ``name`` is one of ``SIMPLE_ATTRIBUTES`` or, with a ``section``, ``BODY``, ``BINARY`` or
    ``BINARY.SIZE``. ``peek`` is set for ``.PEEK``; ``partial`` is ``(offset, length)``.
    """

    name: str
    section: Section | None = None
    peek: bool = False
    partial: tuple[int, int] | None = None

    @property
    def sets_seen(self) -> bool:
        """Whether fetching this sets ``\\Seen`` (RFC 9051 §6.4.5) in a read-write mailbox."""
        if self.name in ("RFC822", "RFC822.TEXT"):
            return True
        return self.section is not None and not self.peek and self.name != "BINARY.SIZE"

    def __bytes__(self) -> bytes:
        """As a client writes it in a FETCH command."""
        if self.section is None:
            return self.name.encode("ascii")
        name = self.name + (".PEEK" if self.peek else "")
        out = f"{name}[{self.section.spec()}]"
        if self.partial is not None:
            out += f"<{self.partial[0]}.{self.partial[1]}>"
        return out.encode("utf-8")

    def response_key(self) -> bytes:
        """As the server names the item in its FETCH response."""
        if self.section is None:
            return self.name.encode("ascii")
        out = f"{self.name}[{self.section.spec()}]"
        if self.partial is not None:
            out += f"<{self.partial[0]}>"
        return out.encode("utf-8")


def _simple(name: str) -> FetchAttribute:
    return _SIMPLE[name]


_SIMPLE = {name: FetchAttribute(name) for name in SIMPLE_ATTRIBUTES}
UID = _SIMPLE["UID"]
FLAGS = _SIMPLE["FLAGS"]

MACROS: dict[str, tuple[FetchAttribute, ...]] = {
    "FAST": (_simple("FLAGS"), _simple("INTERNALDATE"), _simple("RFC822.SIZE")),
    "ALL": (
        _simple("FLAGS"),
        _simple("INTERNALDATE"),
        _simple("RFC822.SIZE"),
        _simple("ENVELOPE"),
    ),
    "FULL": (
        _simple("FLAGS"),
        _simple("INTERNALDATE"),
        _simple("RFC822.SIZE"),
        _simple("ENVELOPE"),
        _simple("BODY"),
    ),
}


def simple_attribute(name: str) -> FetchAttribute | None:
    """The shared instance for a section-less attribute (upper-case name), if it is one."""
    return _SIMPLE.get(name)
