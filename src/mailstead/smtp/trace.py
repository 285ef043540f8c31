"""Trace headers: the `Received:` line we add (RFC 5321 §4.4, RFC 3848, RFC 8314 §4.3)."""

from __future__ import annotations

import ipaddress
import re
import time
from email.utils import formatdate

_HELO_OK = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\Z|\[[A-Za-z0-9:.]+\]\Z")

_date_cache: tuple[int, str] = (0, "")


def _date() -> str:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, localtime=True))
    return _date_cache[1]


def address_literal(ip: str) -> str:
    try:
        parsed = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return "[unknown]"
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return f"[{parsed.ipv4_mapped}]"
        return f"[IPv6:{parsed.compressed}]"
    return f"[{parsed}]"


def with_protocol(esmtp: bool, tls: bool, authenticated: bool, smtputf8: bool) -> str:
    """RFC 3848 / RFC 6531 §4.3 protocol names: ESMTP, ESMTPS, ESMTPA, ESMTPSA, UTF8SMTPS..."""
    if not esmtp:
        return "SMTP"
    base = "UTF8SMTP" if smtputf8 else "ESMTP"
    return base + ("S" if tls else "") + ("A" if authenticated else "")


def received_header(
    *,
    helo: str | None,
    client_ip: str,
    client_name: str | None,
    hostname: str,
    protocol: str,
    queue_id: str,
    tls: str | None = None,
    recipient: str | None = None,
) -> bytes:
    """One `Received:` field, folded, CRLF-terminated. `client_name` is the verified reverse
    DNS name when known. The HELO name is the client's claim: written only when it has the
    syntax of a domain or an address literal, so it cannot break the header."""
    literal = address_literal(client_ip)
    helo_text = helo if helo and len(helo) <= 255 and _HELO_OK.match(helo) else "unknown"
    tcp_info = f"{client_name} {literal}" if client_name else literal
    lines = [f"Received: from {helo_text} ({tcp_info})"]
    if tls:
        lines.append(f"\t(using {tls})")
    lines.append(f"\tby {hostname} (Mailstead) with {protocol} id {queue_id}")
    if recipient is not None:
        lines.append(f"\tfor <{recipient}>; {_date()}")
    else:
        lines[-1] += ";"
        lines.append(f"\t{_date()}")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")
