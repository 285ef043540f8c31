"""Microseconds per IMAP command parsed (and per FETCH response written) by the sans-IO core.

Run: .venv/bin/python bench/bench_imap_parse.py [--repeat N]
Each figure is the median (and the best) over ``repeat`` batches of the mean time per
operation in a batch, in process CPU time (``time.process_time``: the machine is shared, and
wall time there measures the neighbours). Parsing goes through the whole ``Connection`` path:
framing, lexing, grammar, state check.
"""

from __future__ import annotations

import argparse
import statistics
import time

from mailstead.proto.imap import NEED_DATA, Connection, parser, response, sequence
from mailstead.proto.imap import commands as c

THUNDERBIRD_FETCH = (
    b"5 UID FETCH 1:* (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject "
    b"Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type "
    b"Reply-To)])\r\n"
)
STORE = b"6 UID STORE 1:5 +FLAGS (\\Seen)\r\n"
SEARCH = (
    b'7 UID SEARCH UNDELETED SINCE 1-Jan-2024 FROM "alice@example.org" '
    b"OR SUBJECT report TO bob NOT KEYWORD $Junk LARGER 1024\r\n"
)
MESSAGE = (b"Subject: benchmark\r\nFrom: a@example.org\r\n\r\n" + b"x" * 70 + b"\r\n") * 30
APPEND = b"8 APPEND Sent (\\Seen) {%d+}\r\n" % len(MESSAGE) + MESSAGE + b"\r\n"


def selected_connection() -> Connection:
    conn = Connection()
    for line in (b"1 LOGIN user secret\r\n", b"2 SELECT INBOX\r\n"):
        conn.receive_data(line)
        conn.complete(conn.next_event())
    return conn


def clear_caches() -> None:
    parser._FETCH_CACHE.clear()
    parser._SEARCH_CACHE.clear()
    parser._ATTRIBUTE_CACHE.clear()
    sequence._PARSED.clear()


def bench_parse(data: bytes, loops: int, repeat: int, *, cold: bool = False) -> tuple[float, float]:
    """``cold``: the parser's caches are emptied before every command (first sight)."""
    conn = selected_connection()
    conn.receive_data(data)
    command = conn.next_event()
    assert isinstance(command, c.Command), command
    samples = []
    for _ in range(repeat):
        start = time.process_time()
        if cold:
            for _ in range(loops):
                clear_caches()
                conn.receive_data(data)
                conn.next_event()
        else:
            for _ in range(loops):
                conn.receive_data(data)
                conn.next_event()
        samples.append((time.process_time() - start) / loops * 1e6)
        assert conn.next_event() is NEED_DATA
    return statistics.median(samples), min(samples)


def bench_fetch_response(loops: int, repeat: int) -> tuple[float, float]:
    envelope = (
        b'("Tue, 1 Jun 2024 10:00:00 +0000" "Quarterly report" (("Alice" NIL "alice" '
        b'"example.org")) (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" '
        b'"example.org")) ((NIL NIL "bob" "example.org")) NIL NIL NIL "<id@example.org>")'
    )
    header = memoryview(MESSAGE[:200])
    samples = []
    for _ in range(repeat):
        start = time.process_time()
        for uid in range(loops):
            (
                response.FetchResponse(uid + 1)
                .add_number(b"UID", uid + 1000)
                .add_flags(("\\Seen", "$Forwarded"))
                .add_number(b"RFC822.SIZE", 4321)
                .add(b"ENVELOPE", envelope)
                .add_literal(b"BODY[HEADER.FIELDS (From To Subject)]", header)
                .chunks()
            )
        samples.append((time.process_time() - start) / loops * 1e6)
    return statistics.median(samples), min(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--loops", type=int, default=3000)
    args = parser.parse_args()
    rows = [
        (
            "parse Thunderbird UID FETCH (14 header fields)",
            bench_parse(THUNDERBIRD_FETCH, args.loops, args.repeat),
        ),
        (
            "  same, first sight (caches emptied each time)",
            bench_parse(THUNDERBIRD_FETCH, args.loops, args.repeat, cold=True),
        ),
        ("parse UID STORE 1:5 +FLAGS (\\Seen)", bench_parse(STORE, args.loops, args.repeat)),
        (
            "  same, first sight (caches emptied each time)",
            bench_parse(STORE, args.loops, args.repeat, cold=True),
        ),
        ("parse UID SEARCH (8 keys, OR/NOT)", bench_parse(SEARCH, args.loops, args.repeat)),
        (
            "  same, first sight (caches emptied each time)",
            bench_parse(SEARCH, args.loops, args.repeat, cold=True),
        ),
        (
            f"parse APPEND with a {len(MESSAGE)}-byte literal",
            bench_parse(APPEND, args.loops, args.repeat),
        ),
        (
            "  same, first sight (caches emptied each time)",
            bench_parse(APPEND, args.loops, args.repeat, cold=True),
        ),
        (
            "write FETCH response (UID FLAGS SIZE ENVELOPE header literal)",
            bench_fetch_response(args.loops, args.repeat),
        ),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'':<{width}}  median     best  (µs, CPU time per operation)")
    for name, (median, best) in rows:
        print(f"{name:<{width}}  {median:6.2f}  {best:7.2f}")


if __name__ == "__main__":
    main()
