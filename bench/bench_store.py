"""Deliveries per second through the store: group commit against one commit per delivery.

    .venv/bin/python bench/bench_store.py [--messages 3000] [--tasks 1,8,64] [--runs 3]

Each delivery is a unique 4 KiB message with its analysed MIME structure and search text
(from `mailstead.mime.analyse` when it is there, else placeholders of similar size),
computed before the clock starts: this measures the store, not the parser. N tasks deliver
concurrently through one `SQLiteStore` on a fresh database (WAL, synchronous=FULL: every
acknowledged delivery is fsynced). "single" runs the same writer with batches of one item,
i.e. one transaction and one fsync per delivery. Medians of --runs runs. The store indexes
search text after the burst (deferred indexing, see docs/store.md); the rate at which that
backlog is indexed is reported separately.

It also measures what the FTS5 trigram index costs per message, against the rest of the
delivery transaction, straight on an apsw connection.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import apsw

from mailstead.store import Delivery, MessageCopy
from mailstead.store.sqlite import SQLiteStore

try:
    from mailstead.mime import analyse  # type: ignore[attr-defined]
except ImportError:
    analyse = None

WORDS = ["meeting", "report", "budget", "review", "quarterly", "schedule", "project", "update", "deadline", "invoice", "customer", "delivery", "proposal", "contract", "résumé", "café", "naïve", "straße", "garçon"]


def make_message(i: int, size: int = 4096) -> bytes:
    header = (
        f"Received: from client{i}.remote.test by mx.example.test with ESMTP id Q{i:08d}\r\n"
        f"From: Sender {i} <sender{i}@remote.test>\r\nTo: user@example.test\r\n"
        f"Subject: Report {i} about {WORDS[i % len(WORDS)]}\r\n"
        f"Message-ID: <{i}.{os.getpid()}@remote.test>\r\nDate: Thu, 3 Dec 2026 22:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    )
    body_lines = []
    n = i
    while len(header) + sum(len(line) + 2 for line in body_lines) < size:
        words = [WORDS[(n + k * 7) % len(WORDS)] for k in range(10)]
        body_lines.append(" ".join(words))
        n = n * 1103515245 + 12345 & 0x7FFFFFFF
    return (header + "\r\n".join(body_lines) + "\r\n").encode()[:size]


def prepare(count: int) -> list[tuple[bytes, bytes, bytes, str]]:
    """(blob, prefix, structure, search_text) per delivery."""
    prepared = []
    for i in range(count):
        blob = make_message(i)
        prefix = b"Return-Path: <sender@remote.test>\r\nDelivered-To: user@example.test\r\n"
        if analyse is not None:
            info = analyse(prefix + blob)
            structure, text = info.dumps(), info.search_text()
        else:
            structure = bytes(600) + str(i).encode()
            text = blob.decode("utf-8", "replace")
        prepared.append((blob, prefix, structure, text))
    return prepared


async def run_once(
    path: Path, prepared: list[tuple[bytes, bytes, bytes, str]], tasks: int, batch: int
) -> float:
    store = SQLiteStore(path, max_batch_items=batch)
    await store.open()
    try:
        await store.add_domain("example.test")
        account = await store.add_account("user@example.test", "x")
        work = iter(enumerate(prepared))

        async def worker() -> None:
            for i, (blob, prefix, structure, text) in work:
                copy = MessageCopy(account.id, prefix, structure, text, recipient="user")
                await store.deliver(Delivery(f"Q{i}", blob, [copy]))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(tasks)))
        elapsed = time.perf_counter() - started
        stats = await store.stats()
        assert stats.messages == len(prepared), stats
        # The search index catches up after the burst (deferred indexing): time it too.
        pending = stats.extra["search_pending"]
        caught_up = time.perf_counter()
        while (await store.stats()).extra["search_pending"]:
            await asyncio.sleep(0.05)
        if pending:
            INDEX_RATES.append(pending / (time.perf_counter() - caught_up))
        return len(prepared) / elapsed
    finally:
        await store.close()


INDEX_RATES: list[float] = []


async def small_rows_once(path: Path, count: int, tasks: int, batch: int) -> float:
    """Journey events (one small row each) per second: the cost of commits alone."""
    store = SQLiteStore(path, max_batch_items=batch)
    await store.open()
    try:
        work = iter(range(count))

        async def worker() -> None:
            for i in work:
                await store.record_journey(f"Q{i}", "received", "from client.test")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(tasks)))
        return count / (time.perf_counter() - started)
    finally:
        await store.close()


def fts_cost(
    prepared: list[tuple[bytes, bytes, bytes, str]], folder: Path
) -> tuple[float, dict[tuple[int, int], float]]:
    """CPU µs per message (thread CPU time: robust on a shared, loaded machine) for the blob
    and message rows, and for the FTS5 trigram insert by (rows per transaction, automerge),
    with synchronous=OFF so fsync does not blur it."""
    import hashlib

    def one(name: str, rows_per_txn: int, automerge: int | None) -> float:
        conn = apsw.Connection(str(folder / f"fts-{name}.db"))
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute(
            "CREATE TABLE blobs (id INTEGER PRIMARY KEY, sha BLOB UNIQUE, data BLOB);"
            "CREATE TABLE messages (id INTEGER PRIMARY KEY, mailbox INTEGER, uid INTEGER, "
            "blob INTEGER, prefix BLOB, structure BLOB, UNIQUE (mailbox, uid));"
            "CREATE VIRTUAL TABLE search USING fts5(text, tokenize='trigram remove_diacritics 1');"
        )
        if automerge is not None:
            conn.execute("INSERT INTO search (search, rank) VALUES ('automerge', ?)", (automerge,))
        started = time.thread_time()
        for first in range(0, len(prepared), rows_per_txn):
            conn.execute("BEGIN")
            for i, (blob, prefix, structure, text) in enumerate(
                prepared[first:first + rows_per_txn], first
            ):
                if automerge is None:
                    conn.execute(
                        "INSERT INTO blobs (sha, data) VALUES (?, ?)",
                        (hashlib.sha256(blob).digest(), blob),
                    )
                    conn.execute(
                        "INSERT INTO messages (mailbox, uid, blob, prefix, structure) "
                        "VALUES (1, ?, ?, ?, ?)",
                        (i, conn.last_insert_rowid(), prefix, structure),
                    )
                else:
                    conn.execute("INSERT INTO search (rowid, text) VALUES (?, ?)", (i + 1, text))
            conn.execute("COMMIT")
        elapsed = time.thread_time() - started
        conn.close()
        return elapsed / len(prepared) * 1e6

    base = one("rows", 10, None)
    fts = {
        (rows, merge): one(f"fts-{rows}-{merge}", rows, merge)
        for rows in (1, 10, 64) for merge in (4, 16)
    }
    return base, fts


def deliveries(
    args: argparse.Namespace, prepared: list[tuple[bytes, bytes, bytes, str]], folder: Path
) -> None:
    mean_size = statistics.mean(len(p[0]) for p in prepared)
    print(f"# {args.messages} deliveries of {mean_size:.0f} B per run, median of {args.runs} runs")
    print("| tasks | group commit (deliveries/s) | one commit each (deliveries/s) | speed-up |")
    print("|---:|---:|---:|---:|")
    for tasks in (int(t) for t in args.tasks.split(",")):
        rates: dict[str, list[float]] = {"group": [], "single": []}
        for run in range(args.runs):  # interleaved, so both modes see the same noise
            for label, batch in (("group", 512), ("single", 1)):
                path = folder / f"{label}-{tasks}-{run}.db"
                rates[label].append(asyncio.run(run_once(path, prepared, tasks, batch)))
        medians = {label: statistics.median(values) for label, values in rates.items()}
        print(
            f"| {tasks} | {medians['group']:,.0f} | {medians['single']:,.0f} | "
            f"{medians['group'] / medians['single']:.1f}x |",
            flush=True,
        )
    if INDEX_RATES:
        print(
            f"\nDeferred search indexing caught up at {statistics.median(INDEX_RATES):,.0f} "
            f"messages/s after the bursts (median of {len(INDEX_RATES)} runs with a backlog)."
        )
    print("\nSmall rows (journey events, one per call), 64 tasks:")
    for label, batch in (("group commit", 512), ("one commit each", 1)):
        row_rates = [
            asyncio.run(small_rows_once(folder / f"rows-{label}-{run}.db", 5000, 64, batch))
            for run in range(args.runs)
        ]
        print(f"- {label}: {statistics.median(row_rates):,.0f} rows/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--tasks", default="1,8,64")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--fts-only", action="store_true", help="only the FTS cost figures")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
        loop_name = "uvloop"
    except ImportError:
        loop_name = "asyncio"
    prepared = prepare(args.messages)
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, {loop_name}, "
        f"SQLite {apsw.sqlite_lib_version()}, mime={'analyse' if analyse else 'placeholder'}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        folder = Path(tmp)
        if not args.fts_only:
            deliveries(args, prepared, folder)
        base, fts = fts_cost(prepared, folder)
    print(f"\nBlob + message rows: {base:.0f} µs CPU per message (10 per transaction).")
    print("FTS5 trigram insert of the same messages' search text, µs CPU per message:")
    print("| rows per transaction | automerge 4 (default) | automerge 16 (ours) |")
    print("|---:|---:|---:|")
    for rows in (1, 10, 64):
        print(f"| {rows} | {fts[rows, 4]:.0f} | {fts[rows, 16]:.0f} |")


if __name__ == "__main__":
    main()
