"""Turn the JSON lines of smtp_load.py / pop3_drain.py into the Markdown tables of
RESULTS.md: median of every figure per (test, target), and Mailstead's ratio to the peer
measured in the same session.

    .venv/bin/python bench/summarize.py /tmp/mailstead-bench/results.jsonl
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

PEER = "postfix+dovecot"
COLUMNS = {
    "smtp": [
        ("msgs_per_s", "stored msg/s", True),
        ("cpu_ms_per_msg", "server CPU ms/msg", False),
        ("rss_idle_mib", "RSS idle MiB", False),
        ("rss_peak_mib", "RSS peak MiB", False),
        ("pss_idle_mib", "PSS idle MiB", False),
        ("pss_peak_mib", "PSS peak MiB", False),
    ],
    "pop3": [
        ("msgs_per_s", "drained msg/s", True),
        ("mb_per_s", "MB/s", True),
        ("cpu_ms_per_msg", "server CPU ms/msg", False),
        ("rss_peak_mib", "RSS peak MiB", False),
        ("pss_peak_mib", "PSS peak MiB", False),
    ],
}


def test_name(result: dict) -> str:
    if result["kind"] == "smtp":
        size = result["size"]
        label = f"{size // 1024} KiB" if size % 1024 == 0 else f"{size} B"
        return f"SMTP {result['messages']} × {label}, {result['sessions']} sessions"
    return (
        f"POP3 drain {result['users']} users × {result['per_user']} × "
        f"{result['size'] // 1024} KiB, {result['clients']} clients"
    )


def summarize(results: list[dict]) -> str:
    groups: dict[tuple[str, str], dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for result in results:
        groups[(result["kind"], test_name(result))][result["target"]].append(result)
    lines: list[str] = []
    for (kind, name), by_target in groups.items():
        columns = COLUMNS[kind]
        lines.append(f"**{name}** (median of n runs; each run listed in brackets)\n")
        lines.append("| target | n | " + " | ".join(title for _, title, _ in columns) + " |")
        lines.append("|---" * (len(columns) + 2) + "|")
        medians: dict[str, dict[str, float]] = {}
        for target in sorted(by_target, key=lambda t: t != PEER):
            runs = by_target[target]
            medians[target] = {
                key: statistics.median(r[key] for r in runs) for key, _, _ in columns
            }
            cells = []
            for key, _, _ in columns:
                each = ", ".join(f"{r[key]:g}" for r in runs)
                cells.append(f"{medians[target][key]:g} [{each}]")
            lines.append(f"| {target} | {len(runs)} | " + " | ".join(cells) + " |")
        if PEER in medians:
            for target, figures in medians.items():
                if target == PEER:
                    continue
                ratios = []
                for key, _, _ in columns:
                    peer_value = medians[PEER][key]
                    ratios.append(f"{figures[key] / peer_value:.2f}x" if peer_value else "n/a")
                lines.append(f"| **{target} / peer** | | " + " | ".join(ratios) + " |")
                # Run i of each target ran back to back, under the same load from the rest
                # of the machine: their ratio is steadier than the ratio of medians.
                key = columns[0][0]
                paired = [
                    ours[key] / theirs[key]
                    for ours, theirs in zip(by_target[target], by_target[PEER], strict=False)
                    if theirs[key]
                ]
                if paired:
                    each = ", ".join(f"{ratio:.2f}" for ratio in paired)
                    lines.append(
                        f"\n{target} / peer {columns[0][1]}, run by run: [{each}], "
                        f"median **{statistics.median(paired):.2f}x**"
                    )
        loads = [r["loadavg_1m"] for runs in by_target.values() for r in runs if "loadavg_1m" in r]
        if loads:
            lines.append(
                f"\nmachine load average (1 min) during these runs: {min(loads)}–{max(loads)}"
            )
        incomplete = [
            r for runs in by_target.values() for r in runs
            if r.get("stored", r.get("retrieved")) != r.get("messages", r.get("users", 0) * r.get("per_user", 0))
        ]  # fmt: skip
        if incomplete:
            lines.append(f"\n⚠ {len(incomplete)} run(s) did not store/drain every message.")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/mailstead-bench/results.jsonl")
    results = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    print(summarize(results))


if __name__ == "__main__":
    main()
