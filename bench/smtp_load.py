"""Push mail into a target's port 25 with Postfix's smtp-source and time it until stored.

    .venv/bin/python bench/smtp_load.py --target peer --messages 5000 --size 4096

Rate = messages / (first connection .. last message visible in the store): what counts is
mail durably stored, not mail acknowledged. Prints one JSON object (also appended to
--out when given) that bench/summarize.py turns into RESULTS.md tables.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from procstats import MemorySampler, cpu_seconds, idle_memory, process_tree, wait_quiet
from targets import TARGETS, Target

POLL_S = 0.02


def wait_stored(target: Target, expected: int, driver: subprocess.Popen, timeout: float) -> int:
    """Poll the store until it holds `expected` messages; give up if the driver failed and
    nothing moves for 10 s, or after `timeout`."""
    deadline = time.monotonic() + timeout
    last_count, last_change = -1, time.monotonic()
    while True:
        count = target.counter.count()
        now = time.monotonic()
        if count >= expected:
            return count
        if count != last_count:
            last_count, last_change = count, now
        stalled = now - last_change > 10 and driver.poll() is not None
        if stalled or now > deadline:
            return count
        time.sleep(POLL_S)


def run(
    target: Target,
    messages: int,
    size: int,
    sessions: int,
    rcpt: str,
    timeout: float,
    reuse_connections: bool = False,
) -> dict:
    smtp_source = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    host, port = target.smtp
    command = [
        smtp_source,
        "-c",
        "-s",
        str(sessions),
        "-m",
        str(messages),
        "-l",
        str(size),
        "-f",
        "sender@bench.test",
        "-t",
        rcpt,
        f"{host}:{port}",
    ]
    if reuse_connections:
        command.insert(1, "-d")  # several messages per connection (default: one each)
    roots = target.pids()
    baseline = target.counter.count()
    rss_idle, pss_idle = idle_memory(roots)
    sampler = MemorySampler(roots)
    cpu_before = cpu_seconds(process_tree(roots))
    sampler.start()
    started = time.monotonic()
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stored = wait_stored(target, baseline + messages, driver, timeout) - baseline
    elapsed = time.monotonic() - started
    cpu_at_stored = cpu_seconds(process_tree(roots))
    _, driver_errors = driver.communicate(timeout=60)
    driver_elapsed = time.monotonic() - started
    settle = wait_quiet(roots)
    cpu_after = cpu_seconds(process_tree(roots))
    sampler.stop()
    return {
        "kind": "smtp",
        "target": target.name,
        "messages": messages,
        "size": size,
        "sessions": sessions,
        "stored": stored,
        "elapsed_s": round(elapsed, 3),
        "msgs_per_s": round(stored / elapsed, 1),
        # Until the server is idle again (deferred work included), and up to the last store.
        "cpu_ms_per_msg": round((cpu_after - cpu_before) * 1000 / max(stored, 1), 3),
        "cpu_ms_per_msg_at_stored": round((cpu_at_stored - cpu_before) * 1000 / max(stored, 1), 3),
        "settle_s": round(settle, 2),
        "rss_idle_mib": round(rss_idle, 1),
        "rss_peak_mib": round(max(sampler.rss_samples) / 1024, 1),
        "pss_idle_mib": round(pss_idle, 1),
        "pss_peak_mib": round(max(sampler.pss_samples) / 1024, 1),
        "max_processes": sampler.max_processes,
        "driver_rc": driver.returncode,
        "driver_s": round(driver_elapsed, 3),
        "driver_errors": driver_errors.decode(errors="replace")[-500:],
        "command": " ".join(command),
        "loadavg_1m": round(os.getloadavg()[0], 2),  # how busy the shared machine was
        "mailstead_src": os.environ.get("MAILSTEAD_SRC", "working tree"),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=sorted(TARGETS), required=True)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--size", type=int, default=4096, help="payload bytes (smtp-source -l)")
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--rcpt", default="u1@bench.test")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--reuse-connections", action="store_true", help="smtp-source -d")
    parser.add_argument("--reset", action="store_true", help="reset the target's store first")
    parser.add_argument("--out", type=Path, help="append the JSON result to this file")
    args = parser.parse_args()
    target = TARGETS[args.target]()
    if args.reset:
        target.reset()
    result = run(
        target,
        args.messages,
        args.size,
        args.sessions,
        args.rcpt,
        args.timeout,
        args.reuse_connections,
    )
    line = json.dumps(result)
    print(line)
    if args.out:
        with args.out.open("a") as out:
            out.write(line + "\n")
    if result["stored"] < args.messages:
        sys.exit(f"only {result['stored']} of {args.messages} messages stored")


if __name__ == "__main__":
    main()
