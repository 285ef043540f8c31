"""CPU time and memory of a server's whole process tree, read from /proc.

A mail server here is a tree of processes (Postfix's master and its smtpd, cleanup, qmgr,
lmtp children; Dovecot's master and its lmtp, auth, pop3 children; Mailstead's one process).
CPU is utime+stime of every live process in the tree **plus cutime+cstime**: a child that
exits during the run (Postfix recycles smtpd after max_use connections) hands its CPU to the
parent that reaps it, so summing the live tree's four fields before and after a run counts
every process that ran, exactly once.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm (field 2) may hold spaces and parentheses; everything after the last ')' is plain.
    return raw[raw.rindex(")") + 2 :].split()


def process_tree(roots: list[int]) -> list[int]:
    """The roots and all their descendants that are alive now."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree: list[int] = []
    pending = [pid for pid in roots if Path(f"/proc/{pid}").exists()]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, []))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """utime+stime+cutime+cstime summed over pids (see the module docstring for why cutime)."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            # After comm: state is index 0, so utime..cstime (stat fields 14-17) are 11..14.
            ticks += sum(int(value) for value in fields[11:15])
    return ticks / CLOCK_TICKS_PER_S


def _status_kib(pid: int, key: str, filename: str = "status") -> int:
    try:
        with open(f"/proc/{pid}/{filename}") as status:
            for line in status:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kib(pids: list[int]) -> int:
    """Sum of VmRSS: counts shared pages (libc, the Python runtime) once per process."""
    return sum(_status_kib(pid, "VmRSS:") for pid in pids)


def pss_kib(pids: list[int]) -> int:
    """Sum of Pss: shared pages divided among their sharers, fairer to multi-process servers."""
    return sum(_status_kib(pid, "Pss:", "smaps_rollup") for pid in pids)


@dataclass
class MemorySampler:
    """Samples the tree's summed RSS every `interval` s (PSS every `pss_every` samples)."""

    roots: list[int]
    interval: float = 0.1
    pss_every: int = 10
    rss_samples: list[int] = field(default_factory=list)
    pss_samples: list[int] = field(default_factory=list)
    max_processes: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample_once(self, with_pss: bool = True) -> None:
        tree = process_tree(self.roots)
        self.max_processes = max(self.max_processes, len(tree))
        self.rss_samples.append(rss_kib(tree))
        if with_pss:
            self.pss_samples.append(pss_kib(tree))

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(self.interval):
            self.sample_once(with_pss=n % self.pss_every == 0)
            n += 1

    def start(self) -> MemorySampler:
        self.sample_once()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample_once()


def idle_memory(roots: list[int], seconds: float = 1.0) -> tuple[float, float]:
    """Median summed RSS and PSS, in MiB, over `seconds` of a quiet server."""
    rss, pss = [], []
    deadline = time.monotonic() + seconds
    while True:
        tree = process_tree(roots)
        rss.append(rss_kib(tree))
        pss.append(pss_kib(tree))
        if time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    rss.sort()
    pss.sort()
    return rss[len(rss) // 2] / 1024, pss[len(pss) // 2] / 1024


def wait_quiet(
    roots: list[int], busy_below: float = 0.05, window: float = 0.5, timeout: float = 120.0
) -> float:
    """Wait until the tree uses under `busy_below` of a core over `window` s; returns the
    seconds waited. Work a server defers past its acknowledgement (Mailstead's search
    indexing, Postfix's queue clean-up) is part of what a message costs."""
    started = time.monotonic()
    before = cpu_seconds(process_tree(roots))
    while time.monotonic() - started < timeout:
        time.sleep(window)
        after = cpu_seconds(process_tree(roots))
        if after - before < busy_below * window:
            break
        before = after
    return time.monotonic() - started
