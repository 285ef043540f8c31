"""How long mailstead.mime takes to analyse a message and to answer FETCH from what it kept.

Run: .venv/bin/python bench/bench_mime.py [--repeat N]

Figures are medians over ``repeat`` runs (each run times every operation once per corpus
message, or ``loops`` times for the single-message figures). The corpus is
tests/corpus/mime/messages (177 real-world messages, 1-500 KB, median about 1 KB); the
"15 KB" figures use the corpus messages between 10 and 20 KB and a synthetic typical
15 KB message (multipart/alternative text + HTML, quoted-printable, and a small base64
attachment).
"""

from __future__ import annotations

import argparse
import base64
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from mailstead.mime import MessageInfo, analyse
from mailstead.mime._render import bodystructure
from mailstead.mime._scan import scan

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "corpus" / "mime" / "messages"
FIELDS = "HEADER.FIELDS (FROM TO CC SUBJECT DATE MESSAGE-ID CONTENT-TYPE)"


def typical_message(size: int = 16_500) -> bytes:
    """A 15 KB message of the common shape: alternative text/HTML plus an attachment."""
    text = (b"Hello Bob, here are the figures we talked about on the phone. =\r\n" * 60)[
        : size // 4
    ]
    html = (b"<p>Hello <b>Bob</b>, here are the figures we talked about.</p>\r\n" * 90)[: size // 3]
    attachment = base64.encodebytes(bytes(range(256)) * 12).replace(b"\n", b"\r\n")
    headers = b"".join(
        [
            b"Received: from mx.example.org (mx.example.org [192.0.2.1])\r\n"
            b"\tby mail.example.test with ESMTPS id 4F2A1; Tue, 1 Jun 2024 10:00:00 +0000\r\n" * 4,
            b"From: Alice Example <alice@example.org>\r\n",
            b"To: Bob <bob@example.test>, carol@example.test\r\n",
            b"Cc: =?utf-8?q?J=C3=B6rg?= <joerg@example.test>\r\n",
            b"Subject: =?utf-8?b?UXVhcnRlcmx5IGZpZ3VyZXMg4oCUIGRyYWZ0?=\r\n",
            b"Date: Tue, 1 Jun 2024 10:00:00 +0000\r\n",
            b"Message-ID: <20240601100000.4F2A1@example.org>\r\n",
            b"MIME-Version: 1.0\r\n",
            b'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n',
        ]
    )
    body = (
        b'--outer\r\nContent-Type: multipart/alternative; boundary="alt"\r\n\r\n'
        b"--alt\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + text + b"\r\n"
        b"--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html + b"\r\n--alt--\r\n"
        b'--outer\r\nContent-Type: application/pdf; name="figures.pdf"\r\n'
        b'Content-Disposition: attachment; filename="figures.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + attachment + b"--outer--\r\n"
    )
    return headers + body


def median_us(fn: Callable[[], object], loops: int, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t0 = time.process_time_ns()
        for _ in range(loops):
            fn()
        runs.append((time.process_time_ns() - t0) / loops / 1000)
    return statistics.median(runs)


def corpus_us(fn: Callable[[bytes], object], msgs: list[bytes], repeat: int) -> list[float]:
    """Median time per message, for each message."""
    per: list[list[float]] = [[] for _ in msgs]
    for _ in range(repeat):
        for i, m in enumerate(msgs):
            t0 = time.process_time_ns()
            fn(m)
            per[i].append((time.process_time_ns() - t0) / 1000)
    return [statistics.median(p) for p in per]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    repeat = args.repeat

    msgs = [p.read_bytes() for p in sorted(CORPUS.glob("*.eml"))]
    total_kb = sum(len(m) for m in msgs) / 1024
    analyse_each = corpus_us(analyse, msgs, repeat)
    full_each = corpus_us(lambda m: analyse(m).dumps(), msgs, repeat)
    mid = [(m, t) for m, t in zip(msgs, analyse_each, strict=True) if 10_000 <= len(m) <= 20_000]

    typical = typical_message()
    infos = [analyse(m) for m in msgs]
    blobs = [i.dumps() for i in infos]
    roots = [scan(m) for m in msgs]
    t_info = analyse(typical)
    t_blob = t_info.dumps()
    t_root = scan(typical)
    loaded = MessageInfo.loads(t_blob)

    print(f"corpus: {len(msgs)} messages, {total_kb:.0f} KB, repeat {repeat}")
    print(
        f"analyse() corpus: mean {statistics.mean(analyse_each):.1f} us/message, "
        f"median {statistics.median(analyse_each):.1f} us/message, "
        f"{sum(analyse_each) / total_kb:.2f} us/KB, max {max(analyse_each):.0f} us"
    )
    print(
        f"analyse() 10-20 KB corpus messages ({len(mid)}): "
        + ", ".join(f"{len(m) / 1024:.1f} KB {t:.0f} us" for m, t in mid)
    )
    print(
        f"analyse() typical {len(typical) / 1024:.1f} KB message: "
        f"{median_us(lambda: analyse(typical), 200, repeat):.1f} us"
    )
    print(
        f"analyse()+dumps() corpus: {sum(full_each) / total_kb:.2f} us/KB; typical: "
        f"{median_us(lambda: analyse(typical).dumps(), 200, repeat):.1f} us"
    )
    print(
        f"dumps() size: corpus {sum(len(b) for b in blobs) / len(blobs):.0f} B/message "
        f"(messages {sum(len(m) for m in msgs) / len(msgs):.0f} B); typical {len(t_blob)} B"
    )
    print(f"loads() typical: {median_us(lambda: MessageInfo.loads(t_blob), 2000, repeat):.1f} us")
    print(
        "BODYSTRUCTURE from stored MessageInfo (precomputed bytes): "
        f"{median_us(loaded.body_structure, 100_000, repeat) * 1000:.0f} ns"
    )
    print(
        "BODYSTRUCTURE rendered from the scanned structure, typical: "
        f"{median_us(lambda: bodystructure(typical, t_root, True), 5000, repeat):.1f} us; "
        f"corpus mean: {_corpus_render(msgs, roots, repeat):.1f} us"
    )
    print(
        f"BODY[{FIELDS}] typical: "
        f"{median_us(lambda: loaded.section(typical, FIELDS), 5000, repeat):.1f} us; "
        f"BODY[1.1] typical: {median_us(lambda: loaded.section(typical, '1.1'), 20000, repeat):.1f} us"
    )


def _corpus_render(msgs: list[bytes], roots: list[object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.process_time_ns()
        for m, r in zip(msgs, roots, strict=True):
            bodystructure(m, r, True)  # type: ignore[arg-type]
        times.append((time.process_time_ns() - t0) / len(msgs) / 1000)
    return statistics.median(times)


if __name__ == "__main__":
    main()
