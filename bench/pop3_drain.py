"""Fill many POP3 mailboxes, then drain them all (RETR+DELE every message, QUIT) and time it.

    .venv/bin/python bench/pop3_drain.py --target peer --users 50 --per-user 200

The fill goes through the target's own port 25 with smtp-source (untimed). The drain runs
--clients sessions at once, each taking the next user until none is left; the rate runs from
the first connection to the last QUIT's +OK (both servers apply DELE at QUIT, before
answering it), and the store must be empty afterwards.

The client is a few lines over asyncio streams rather than poplib: poplib reads a RETR line by
line in Python, and on a 2-core machine that client CPU would be taken from the server being
measured. Whole responses are read up to the terminating CRLF.CRLF instead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from procstats import MemorySampler, cpu_seconds, idle_memory, process_tree, wait_quiet
from targets import TARGETS, Target

PASSWORD = os.environ.get("BENCH_PASSWORD", "bench-password")
READ_LIMIT = 64 * 1024 * 1024


def fill(target: Target, users: int, per_user: int, size: int, parallel: int) -> None:
    """Deliver per_user messages to each user over SMTP and wait until all are stored."""
    host, port = target.smtp
    expected = target.counter.count() + users * per_user

    def send(user: int) -> None:
        subprocess.run(
            ["smtp-source", "-d", "-s", "1", "-m", str(per_user), "-l", str(size),
             "-f", "sender@bench.test", "-t", f"u{user}@bench.test", f"{host}:{port}"],
            check=True,
        )  # fmt: skip

    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(send, range(1, users + 1)))
    deadline = time.monotonic() + 600
    while target.counter.count() < expected:
        if time.monotonic() > deadline:
            raise SystemExit(f"fill: only {target.counter.count()} of {expected} stored")
        time.sleep(0.1)


class Pop3Error(Exception):
    pass


async def _command(reader, writer, line: bytes, multiline: bool = False) -> bytes:
    writer.write(line + b"\r\n")
    status = await reader.readline()
    if not status.startswith(b"+OK"):
        raise Pop3Error(f"{line.split()[0]!r}: {status!r}")
    if not multiline:
        return status
    # The bench's messages are never empty, so the body always ends in CRLF "." CRLF.
    return await reader.readuntil(b"\r\n.\r\n")


async def drain_user(host: str, port: int, user: str) -> tuple[int, int]:
    reader, writer = await asyncio.open_connection(host, port, limit=READ_LIMIT)
    try:
        greeting = await reader.readline()
        if not greeting.startswith(b"+OK"):
            raise Pop3Error(f"greeting {greeting!r}")
        await _command(reader, writer, b"USER " + user.encode())
        await _command(reader, writer, b"PASS " + PASSWORD.encode())
        count = int((await _command(reader, writer, b"STAT")).split()[1])
        octets = 0
        for number in range(1, count + 1):
            octets += len(await _command(reader, writer, b"RETR %d" % number, multiline=True))
            await _command(reader, writer, b"DELE %d" % number)
        await _command(reader, writer, b"QUIT")
        return count, octets
    finally:
        writer.close()


async def drain_all(host: str, port: int, users: list[str], clients: int) -> tuple[int, int]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for user in users:
        queue.put_nowait(user)
    totals = [0, 0]

    async def worker() -> None:
        while not queue.empty():
            count, octets = await drain_user(host, port, queue.get_nowait())
            totals[0] += count
            totals[1] += octets

    await asyncio.gather(*(worker() for _ in range(clients)))
    return totals[0], totals[1]


def run(
    target: Target, users: int, per_user: int, size: int, clients: int, do_fill: bool = True
) -> dict:
    roots = target.pids()
    fill_settle = 0.0
    if do_fill:
        fill(target, users, per_user, size, parallel=10)
        # What the fill left for later (Mailstead's search indexing of 10,000 new messages,
        # a checkpoint) belongs to the fill, not to the drain: without this wait it ran
        # during the drain, and how much of it did depended on how the store paced it.
        fill_settle = wait_quiet(roots)
    rss_idle, pss_idle = idle_memory(roots)
    sampler = MemorySampler(roots)
    cpu_before = cpu_seconds(process_tree(roots))
    sampler.start()
    started = time.monotonic()
    host, port = target.pop3
    names = [f"u{n}@bench.test" for n in range(1, users + 1)]
    try:
        import uvloop

        retrieved, octets = uvloop.run(drain_all(host, port, names, clients))
    except ImportError:
        retrieved, octets = asyncio.run(drain_all(host, port, names, clients))
    elapsed = time.monotonic() - started
    settle = wait_quiet(roots)
    cpu_after = cpu_seconds(process_tree(roots))
    sampler.stop()
    left = target.counter.count()
    return {
        "kind": "pop3",
        "target": target.name,
        "users": users,
        "per_user": per_user,
        "size": size,
        "clients": clients,
        "retrieved": retrieved,
        "left_in_store": left,
        "megabytes": round(octets / 1e6, 2),
        "elapsed_s": round(elapsed, 3),
        "msgs_per_s": round(retrieved / elapsed, 1),
        "mb_per_s": round(octets / 1e6 / elapsed, 2),
        "cpu_ms_per_msg": round((cpu_after - cpu_before) * 1000 / max(retrieved, 1), 3),
        "settle_s": round(settle, 2),
        "fill_settle_s": round(fill_settle, 2),
        "rss_idle_mib": round(rss_idle, 1),
        "rss_peak_mib": round(max(sampler.rss_samples) / 1024, 1),
        "pss_idle_mib": round(pss_idle, 1),
        "pss_peak_mib": round(max(sampler.pss_samples) / 1024, 1),
        "loadavg_1m": round(os.getloadavg()[0], 2),  # how busy the shared machine was
        "mailstead_src": os.environ.get("MAILSTEAD_SRC", "working tree"),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=sorted(TARGETS), required=True)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--per-user", type=int, default=200)
    parser.add_argument("--size", type=int, default=4096, help="payload bytes per message")
    parser.add_argument("--clients", type=int, default=10, help="parallel POP3 sessions")
    parser.add_argument("--reset", action="store_true", help="reset the target's store first")
    parser.add_argument("--out", type=Path, help="append the JSON result to this file")
    parser.add_argument("--fill-only", action="store_true", help="fill, do not drain")
    parser.add_argument("--no-fill", action="store_true", help="drain what a --fill-only left")
    args = parser.parse_args()
    target = TARGETS[args.target]()
    if args.reset:
        target.reset()
    if args.fill_only:
        fill(target, args.users, args.per_user, args.size, parallel=10)
        return
    result = run(
        target, args.users, args.per_user, args.size, args.clients, do_fill=not args.no_fill
    )
    line = json.dumps(result)
    print(line)
    if args.out:
        with args.out.open("a") as out:
            out.write(line + "\n")
    expected = args.users * args.per_user
    if result["retrieved"] != expected or result["left_in_store"]:
        sys.exit(f"retrieved {result['retrieved']} of {expected}, {result['left_in_store']} left")


if __name__ == "__main__":
    main()
