"""What an IMAP server needs for SEARCH, checked against Dovecot's answers in search.json.

A small evaluator over MessageInfo's lookups (header_text, addresses, size) answers the
corpus queries that do not depend on Dovecot's own matching rules; the server's real
SEARCH is built on the same calls.
"""

from __future__ import annotations

import json
import re

import pytest
from mime_golden import CORPUS, info, message_ids

QUERIES = json.loads((CORPUS / "search.json").read_text())["queries"]
SUPPORTED = {
    "ALL",
    "SUBJECT",
    "FROM",
    "TO",
    "CC",
    "BCC",
    "HEADER",
    "NOT",
    "OR",
    "LARGER",
    "SMALLER",
}


def _needle(tok: object) -> str:
    if isinstance(tok, dict):
        return tok["literal"]
    assert isinstance(tok, str)
    return tok[1:-1] if tok.startswith('"') else tok


def _contains(values: list[str], needle: str) -> bool:
    n = needle.casefold()
    return any(n in v.casefold() for v in values)


def _eval_all(mid: str, args: list[object]) -> bool:
    """Keys in sequence are ANDed (RFC 9051 6.4.4)."""
    ok = True
    while args:
        one, args = _eval(mid, args)
        ok = ok and one
    return ok


def _eval(mid: str, args: list[object]) -> tuple[bool, list[object]]:
    mi = info(mid)
    key = str(args[0]).upper()
    rest = args[1:]
    if re.fullmatch(r"\d+(:\d+)?", key):  # a sequence set: ids are sequence numbers here
        lo, _, hi = key.partition(":")
        return int(lo) <= int(mid) <= int(hi or lo), rest
    if key == "ALL":
        return True, rest
    if key == "NOT":
        ok, rest = _eval(mid, rest)
        return not ok, rest
    if key == "OR":
        a, rest = _eval(mid, rest)
        b, rest = _eval(mid, rest)
        return a or b, rest
    if key in ("LARGER", "SMALLER"):
        n = int(str(rest[0]))
        return (mi.size > n if key == "LARGER" else mi.size < n), rest[1:]
    if key == "HEADER":
        name, needle = str(rest[0]), _needle(rest[1])
        values = mi.header_text(name)
        return (bool(values) if needle == "" else _contains(values, needle)), rest[2:]
    needle = _needle(rest[0])
    return _contains(mi.header_text(key.lower()), needle), rest[1:]


def _supported(q: dict[str, object]) -> bool:
    args = q["args"]
    assert isinstance(args, list)
    return (
        not q.get("dovecot_specific")
        and str(args[0]).upper() != "CHARSET"
        and all(
            not isinstance(a, str) or not a.isupper() or a in SUPPORTED or a[0].isdigit()
            for a in args
        )
    )


@pytest.mark.parametrize("query", [q for q in QUERIES if _supported(q)], ids=lambda q: q["name"])
def test_search_matches_dovecot(query: dict[str, object]) -> None:
    args = query["args"]
    assert isinstance(args, list)
    found = set()
    for mid in message_ids():
        if _eval_all(mid, list(args)):
            found.add(mid)
    assert found == set(query["ids"])


def test_base_subject() -> None:
    from mailstead.mime import base_subject

    assert base_subject("Re: [list] Fwd: Hello  world (fwd)") == "hello world"
    assert base_subject("[fwd: Re: Re: lunch]") == "lunch"
    assert base_subject("RE: Re[2]: x") == "x"
    assert base_subject("") == ""
