"""Normalising and validating the names the store keeps: domains, addresses, mailboxes, flags.

Shared by every back end so that SQLite and PostgreSQL accept and reject exactly the same
input (the contract suite checks it). Addresses and domains are stored lower-cased; that is
what makes look-ups case-insensitive without relying on a database collation (SQLite's
NOCASE folds ASCII only).
"""

from __future__ import annotations

import re
import unicodedata
from encodings import idna

from mailstead.store.base import FlagMode, InvalidName

INBOX = "INBOX"
MAX_ADDRESS_LENGTH = 254  # RFC 5321 §4.5.3.1.3 path limit minus the angle brackets
MAX_MAILBOX_NAME_LENGTH = 512
MAILBOX_DELIMITER = "/"

# A stored label is ASCII letters, digits and hyphens (IDN labels as A-labels, "xn--..."),
# 1..63 long, no leading/trailing hyphen.
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# The full stops IDNA treats as label separators (RFC 3490 §3.1), as the stdlib codec does.
_DOTS = re.compile("[.\u3002\uff0e\uff61]")
_LOCAL_PART_FORBIDDEN = re.compile(r"[\s@<>()\[\]\\,;:\"\x00-\x1f\x7f]")
_FLAG_FORBIDDEN = re.compile(r"[\s()\{\]%*\"\\\x00-\x1f\x7f]")

# IMAP system flags a client may store (RFC 9051 §2.3.2); \Recent is session state, never
# stored. Keys are lower-case for the case-insensitive match IMAP asks for.
SYSTEM_FLAGS = {
    "\\seen": "\\Seen",
    "\\answered": "\\Answered",
    "\\flagged": "\\Flagged",
    "\\deleted": "\\Deleted",
    "\\draft": "\\Draft",
}


def normalize_domain(name: str) -> str:
    """The one spelling a domain is stored and compared in: lower case, no trailing dot,
    IDN labels as A-labels. `bücher.test`, `BÜCHER.test` and `xn--bcher-kva.test` are the
    same domain (RFC 5890), so they must be the same string, or mail for a local domain in
    its other spelling is refused as relaying. Raise InvalidName."""
    given = name
    name = _DOTS.sub(".", name.strip()).rstrip(".").lower()
    if not name or "_" in name:
        raise InvalidName(f"invalid domain name {given!r}")
    try:
        name = ".".join(_a_label(label) for label in name.split("."))
    except UnicodeError:
        raise InvalidName(f"invalid domain name {given!r}") from None
    if len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        raise InvalidName(f"invalid domain name {given!r}")
    return name


def _a_label(label: str) -> str:
    """One label as its lower-case A-label; raise UnicodeError for one IDNA rejects.

    The canonical form is the A-label because it is plain ASCII (no Unicode normalisation
    question left in the database) and the stdlib can compute it: `encodings.idna`
    implements IDNA 2003 (nameprep), which is what we use rather than adding the `idna`
    package (IDNA 2008, not installed). The known difference: IDNA 2003 maps a few
    characters IDNA 2008 keeps distinct (ß -> ss, ς -> σ), so `straße.test` and
    `strasse.test` are one domain here."""
    if label.isascii():
        if label.startswith("xn--"):
            # Reject an A-label that is not the encoding of a valid U-label (ToUnicode
            # checks the round trip).
            idna.ToUnicode(label)
        return label
    return idna.ToASCII(label).decode("ascii").lower()


def domain_for_display(name: str) -> str:
    """A stored (A-label) domain as people read it: U-labels where they decode."""
    labels = []
    for label in name.split("."):
        try:
            labels.append(idna.ToUnicode(label) if label.startswith("xn--") else label)
        except UnicodeError:
            labels.append(label)
    return ".".join(labels)


def normalize_address(address: str) -> str:
    """`local@domain`, lower-cased; raise InvalidName."""
    address = address.strip()
    local, sep, domain = address.rpartition("@")
    if not sep or not local or len(address) > MAX_ADDRESS_LENGTH:
        raise InvalidName(f"invalid address {address!r}")
    if _LOCAL_PART_FORBIDDEN.search(local) or local.startswith(".") or local.endswith("."):
        raise InvalidName(f"invalid address {address!r}")
    normalized = f"{local.lower()}@{normalize_domain(domain)}"
    if len(normalized) > MAX_ADDRESS_LENGTH:  # an A-label is longer than its U-label
        raise InvalidName(f"invalid address {address!r}")
    return normalized


def normalize_alias_source(source: str) -> tuple[str, str]:
    """("user@dom" or "@dom", "dom"): a catch-all source is just "@" and the domain."""
    source = source.strip()
    if source.startswith("@"):
        domain = normalize_domain(source[1:])
        return f"@{domain}", domain
    address = normalize_address(source)
    return address, address.rpartition("@")[2]


def domain_of(address: str) -> str:
    return address.rpartition("@")[2]


def normalize_mailbox_name(name: str) -> str:
    """Validate an IMAP mailbox name (UTF-8, "/" delimited); "inbox" in any case is INBOX."""
    if name.upper() == INBOX:
        return INBOX
    if name.upper().startswith(INBOX + MAILBOX_DELIMITER):
        # RFC 9051 §5.1: INBOX is case-insensitive, also as the top of a hierarchy.
        name = INBOX + name[len(INBOX):]
    if not name or len(name) > MAX_MAILBOX_NAME_LENGTH:
        raise InvalidName(f"invalid mailbox name {name!r}")
    if name.startswith(MAILBOX_DELIMITER) or name.endswith(MAILBOX_DELIMITER):
        raise InvalidName(f"invalid mailbox name {name!r}")
    if MAILBOX_DELIMITER * 2 in name or any(ch in name for ch in "*%"):
        raise InvalidName(f"invalid mailbox name {name!r}")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in name):
        raise InvalidName(f"invalid mailbox name {name!r}")
    return name


def normalize_flag(flag: str) -> str:
    """System flags in their canonical spelling; keywords as given. Raise InvalidName."""
    if flag.startswith("\\"):
        canonical = SYSTEM_FLAGS.get(flag.lower())
        if canonical is None:
            raise InvalidName(f"{flag!r} is not a system flag that can be stored")
        return canonical
    if not flag or len(flag) > 255 or _FLAG_FORBIDDEN.search(flag) or not flag.isascii():
        raise InvalidName(f"invalid keyword {flag!r}")
    return flag


def normalize_flags(flags: frozenset[str] | set[str] | list[str] | tuple[str, ...]) -> frozenset[str]:
    """Canonical flags, keywords de-duplicated case-insensitively (first spelling wins)."""
    result: dict[str, str] = {}
    for flag in sorted(flags):
        canonical = normalize_flag(flag)
        result.setdefault(canonical.lower(), canonical)
    return frozenset(result.values())


def apply_flag_mode(current: frozenset[str], flags: frozenset[str], mode: FlagMode) -> frozenset[str]:
    """The flags a message has after a STORE of `flags` (normalised) in `mode`."""
    if mode is FlagMode.SET:
        return flags
    if mode is FlagMode.ADD:
        have = {f.lower() for f in current}
        return current | {f for f in flags if f.lower() not in have}
    drop = {f.lower() for f in flags}
    return frozenset(f for f in current if f.lower() not in drop)
