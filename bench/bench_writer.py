"""The store's writer alone: T tasks deliver N messages of SIZE bytes through SQLiteStore.

    .venv/bin/python bench/bench_writer.py [--messages 1000] [--size 102400] [--tasks 10]

Messages and their MIME structures are built before the clock starts; each delivery carries
a "received" journey record, as the SMTP server's do. Prints deliveries/s and the user and
system CPU of every thread of the process (from /proc): the writer's system time (the write
calls of WAL frames, the checkpoints) is what this was written to see. Linux only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
import time
from pathlib import Path

from mailstead.mime import analyse
from mailstead.store import Delivery, MessageCopy
from mailstead.store.sqlite import SQLiteStore

LINE = b"line of text %d for the message body, which is here\r\n"


def make_message(i: int, size: int) -> bytes:
    head = b"From: a@b.test\r\nTo: u1@bench.test\r\nSubject: m %d\r\nMessage-ID: <%d@x>\r\n\r\n"
    return head % (i, i) + (LINE % i) * max(1, size // len(LINE % i))


def thread_cpu_ms() -> dict[str, tuple[int, int]]:
    """{thread name:tid: (user ms, system ms)} of this process's threads."""
    ticks = os.sysconf("SC_CLK_TCK")
    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    out = {}
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        name = names.get(int(task.name), "other")
        out[f"{name}:{task.name}"] = (int(fields[11]) * 1000 // ticks, int(fields[12]) * 1000 // ticks)
    return out


async def run(messages: int, size: int, tasks: int) -> None:
    folder = tempfile.mkdtemp(prefix="bench-writer-")
    store = SQLiteStore(Path(folder) / "mail.db")
    await store.open()
    await store.add_domain("bench.test")
    account = await store.add_account("u1@bench.test", "x")
    prefix = b"Return-Path: <a@b.test>\r\nDelivered-To: u1@bench.test\r\n"
    deliveries = []
    for i in range(messages):
        raw = make_message(i, size)
        copy = MessageCopy(account.id, prefix, analyse(prefix + raw).dumps())
        journey = (("received", f"from=<a@b.test> size={len(raw)} nrcpt=1 client=127.0.0.1"),)
        deliveries.append(Delivery(f"Q{i}", raw, [copy], envelope_sender="a@b.test", journey=journey))
    queue: asyncio.Queue[Delivery] = asyncio.Queue()
    for delivery in deliveries:
        queue.put_nowait(delivery)

    async def worker() -> None:
        while not queue.empty():
            await store.deliver(queue.get_nowait())

    before = thread_cpu_ms()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    elapsed = time.perf_counter() - started
    after = thread_cpu_ms()
    writer = store._writer
    commits = writer.commits if writer else 0
    await store.close()
    print(f"{messages} x {size} B, {tasks} tasks: {messages / elapsed:.0f} deliveries/s, "
          f"{commits} commits")
    for thread, (user, system) in sorted(after.items()):
        user0, system0 = before.get(thread, (0, 0))
        if user - user0 or system - system0:
            print(f"  {thread}: user {user - user0} ms, system {system - system0} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--size", type=int, default=102400)
    parser.add_argument("--tasks", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(run(args.messages, args.size, args.tasks))


if __name__ == "__main__":
    main()
