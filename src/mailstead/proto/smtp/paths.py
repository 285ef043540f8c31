"""RFC 5321 §4.1.2 paths: `<>`, `<local@domain>`, `<@route,@route:local@domain>`.

Parsed strictly, except for what real clients commonly do and RFC 5321 tolerates
(source routes are parsed and *reported*, §4.1.1.3 says to accept and ignore them; we let the
policy refuse them because relays use them to launder relaying). UTF-8 in local parts and
domains is allowed only when the transaction declared SMTPUTF8 (RFC 6531 §3.3).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

# RFC 5321 §4.5.3.1 limits, in octets.
MAX_LOCAL_PART = 64
MAX_DOMAIN = 255
MAX_PATH = 256

_ATEXT = r"A-Za-z0-9!#$%&'*+\-/=?^_`{|}~"
_UTF8 = r"\u0080-\U0010ffff"
_DOT_STRING = re.compile(rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*\Z")
_DOT_STRING_UTF8 = re.compile(rf"[{_ATEXT}{_UTF8}]+(?:\.[{_ATEXT}{_UTF8}]+)*\Z")
# qtextSMTP (%d32-33 / %d35-91 / %d93-126) and quoted-pairSMTP (%d92 %d32-126).
_QUOTED = re.compile(r'"(?:[ !#-\[\]-~]|\\[ -~])*"\Z')
_QUOTED_UTF8 = re.compile(rf'"(?:[ !#-\[\]-~{_UTF8}]|\\[ -~])*"\Z')
_SUBDOMAIN = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_SUBDOMAIN_UTF8 = rf"[A-Za-z0-9{_UTF8}](?:[A-Za-z0-9{_UTF8}-]*[A-Za-z0-9{_UTF8}])?"
_DOMAIN = re.compile(rf"{_SUBDOMAIN}(?:\.{_SUBDOMAIN})*\Z")
_DOMAIN_UTF8 = re.compile(rf"{_SUBDOMAIN_UTF8}(?:\.{_SUBDOMAIN_UTF8})*\Z")
_GENERAL_LITERAL = re.compile(r"[A-Za-z0-9-]*[A-Za-z0-9]:[!-Z^-~]+\Z")


class PathError(ValueError):
    """The text is not a valid RFC 5321 path; the message says why (safe to show)."""


class NeedsSMTPUTF8(PathError):
    """A non-ASCII address in a transaction that did not declare SMTPUTF8."""


@dataclass(frozen=True, slots=True)
class Address:
    """A mailbox from a MAIL or RCPT path; `NULL_ADDRESS` is the null reverse-path `<>`."""

    local: str  # as written, quotes included for a quoted local part
    domain: str  # "" only for the null path and RCPT TO:<postmaster>
    source_route: tuple[str, ...] = ()  # the A-d-l domains, without "@"
    literal: bool = False  # the domain is an address literal, "[192.0.2.1]"

    @property
    def is_null(self) -> bool:
        return not self.local and not self.domain

    @property
    def is_bare_postmaster(self) -> bool:
        return not self.domain and self.local.lower() == "postmaster"

    @property
    def has_routing_hack(self) -> bool:
        """`user%other@local` or `other!user@local`: old relay syntaxes (RFC 5321 §3.6.3)
        that a naive system would forward to `other`."""
        return "%" in self.local or "!" in self.local

    @property
    def unquoted_local(self) -> str:
        if len(self.local) >= 2 and self.local[0] == '"':
            return re.sub(r"\\(.)", r"\1", self.local[1:-1])
        return self.local

    @property
    def is_ascii(self) -> bool:
        return self.local.isascii() and self.domain.isascii()

    def __str__(self) -> str:
        if self.is_null:
            return ""
        return f"{self.local}@{self.domain}" if self.domain else self.local

    def angle(self) -> str:
        """The path as written in a command or a header: `<local@domain>`, `<>`."""
        return f"<{self}>"


NULL_ADDRESS = Address("", "")


def check_domain(domain: str, utf8: bool = False) -> bool:
    """A valid Domain or address-literal (RFC 5321 §4.1.2 / §4.1.3)."""
    if not domain or len(domain.encode("utf-8")) > MAX_DOMAIN:
        return False
    if domain.startswith("["):
        return _check_literal(domain)
    return bool((_DOMAIN_UTF8 if utf8 else _DOMAIN).match(domain))


def _check_literal(text: str) -> bool:
    if not text.endswith("]") or len(text) < 3:
        return False
    inner = text[1:-1]
    if inner[:5].lower() == "ipv6:":
        try:
            ipaddress.IPv6Address(inner[5:])
        except ValueError:
            return False
        return True
    if ":" in inner:
        return bool(_GENERAL_LITERAL.match(inner))
    try:
        ipaddress.IPv4Address(inner)
    except ValueError:
        return False
    return True


def _split_mailbox(text: str) -> tuple[str, str]:
    """Split at the last "@" outside a quoted local part."""
    if text.startswith('"'):
        i = 1
        while i < len(text):
            c = text[i]
            if c == "\\":
                i += 2
                continue
            if c == '"':
                break
            i += 1
        else:
            raise PathError("unterminated quoted local part")
        rest = text[i + 1 :]
        if not rest.startswith("@"):
            return text, "" if not rest else _fail("junk after the quoted local part")
        return text[: i + 1], rest[1:]
    local, at, domain = text.rpartition("@")
    if not at:
        return text, ""
    return local, domain


def _fail(reason: str) -> str:
    raise PathError(reason)


def parse_mailbox(text: str, *, utf8: bool = False, allow_bare_postmaster: bool = False) -> Address:
    """`local@domain` (no angle brackets)."""
    if not utf8 and not text.isascii():
        raise NeedsSMTPUTF8("non-ASCII address without SMTPUTF8")
    local, domain = _split_mailbox(text)
    if not local:
        raise PathError("empty local part")
    if len(local.encode("utf-8")) > MAX_LOCAL_PART:
        raise PathError("local part longer than 64 octets")
    if local.startswith('"'):
        if not (_QUOTED_UTF8 if utf8 else _QUOTED).match(local):
            raise PathError("invalid quoted local part")
    elif not (_DOT_STRING_UTF8 if utf8 else _DOT_STRING).match(local):
        raise PathError("invalid local part")
    if not domain:
        if allow_bare_postmaster and local.lower() == "postmaster":
            return Address(local, "")
        raise PathError("missing domain")
    if not check_domain(domain, utf8):
        raise PathError("invalid domain")
    return Address(local, domain, literal=domain.startswith("["))


def parse_path(
    text: str, *, utf8: bool = False, allow_null: bool = False, allow_bare_postmaster: bool = False
) -> Address:
    """Parse `<...>` as given after `MAIL FROM:` / `RCPT TO:` (parameters already split off)."""
    if len(text.encode("utf-8")) > MAX_PATH + 2:
        raise PathError("path longer than 256 octets")
    if not (text.startswith("<") and text.endswith(">")) or len(text) < 2:
        raise PathError("the address must be enclosed in <>")
    inner = text[1:-1]
    if not inner:
        if allow_null:
            return NULL_ADDRESS
        raise PathError("null address not allowed here")
    route: tuple[str, ...] = ()
    if inner.startswith("@"):
        adl, colon, rest = inner.partition(":")
        if not colon:
            raise PathError("source route without ':'")
        hops = []
        for hop in adl.split(","):
            if not hop.startswith("@") or not check_domain(hop[1:], utf8):
                raise PathError("invalid source route")
            hops.append(hop[1:])
        route = tuple(hops)
        inner = rest
    address = parse_mailbox(inner, utf8=utf8, allow_bare_postmaster=allow_bare_postmaster and not route)
    if route:
        return Address(address.local, address.domain, route, address.literal)
    return address
