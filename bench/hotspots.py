"""Top functions of a py-spy profile recorded with `py-spy record -f raw` (folded stacks).

    python bench/hotspots.py /tmp/mailstead-bench/ms.folded [--top 25] [--filter mailstead]

`--thread NAME` keeps one thread of a profile recorded with `--threads`.
"self" is the share of samples whose innermost frame is the function; "total" the share of
samples with the function anywhere on the stack (counted once per sample).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

LINE_NUMBER = re.compile(r":\d+\)$")
SITE_PACKAGES = re.compile(r"^.*/(site-packages|python3\.\d+|src)/")


def frame_name(frame: str) -> str:
    """'deliver (/work/main/src/mailstead/store/sqlite.py:120)' -> 'mailstead/store/sqlite.py:deliver'."""
    frame = LINE_NUMBER.sub(")", frame.strip())
    if " (" not in frame:
        return frame
    function, _, location = frame.rpartition(" (")
    return f"{SITE_PACKAGES.sub('', location.rstrip(')'))}:{function}"


def load(path: Path, thread: str = "") -> tuple[Counter[str], Counter[str], int]:
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        raw_frames = stack.split(";")
        if raw_frames and raw_frames[0].startswith("thread ("):  # py-spy record --threads
            if thread not in raw_frames[0]:
                continue
            raw_frames = raw_frames[1:]
        frames = [frame_name(f) for f in raw_frames if f and not f.startswith("process ")]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for name in set(frames):
            anywhere[name] += count
    return own, anywhere, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--filter", default="", help="only functions whose name contains this")
    parser.add_argument("--thread", default="", help="with --threads profiles: only this thread")
    args = parser.parse_args()
    own, anywhere, total = load(args.profile, args.thread)
    print(f"{total} samples\n")
    print("| self % | function (innermost frame) |")
    print("|---:|---|")
    for name, count in own.most_common():
        if args.filter in name:
            print(f"| {100 * count / total:.1f} | `{name}` |")
            args.top -= 1
            if args.top <= 0:
                break
    print("\n| total % | function (anywhere on the stack), mailstead code only |")
    print("|---:|---|")
    shown = 0
    for name, count in anywhere.most_common():
        if "mailstead/" in name and shown < 20:
            print(f"| {100 * count / total:.1f} | `{name}` |")
            shown += 1


if __name__ == "__main__":
    main()
