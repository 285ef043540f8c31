"""Differential check of mailstead.mime against a local Dovecot (not part of the suite).

Dovecot 2.3.19 answers are the reference for the corpus; this tool asks a private,
socket-less Dovecot instance (doveadm only, no listeners) about messages the corpus does
not have: mutated corpus messages, generated MIME trees and garbage address headers. It
compares ENVELOPE/BODYSTRUCTURE/BODY/RFC822.SIZE, and with --sections every BODY[n],
BODY[n.MIME], n.HEADER, n.TEXT and BINARY[n] too.

    dovecot -c /tmp/mimedv/dovecot.conf      # see --help-config for the file
    .venv/bin/python tests/mime/tools/dovecot_diff.py mutate 500 --seed 3 [--sections]
    .venv/bin/python tests/mime/tools/dovecot_diff.py generate 400 --seed 1
    .venv/bin/python tests/mime/tools/dovecot_diff.py addresses 600 --seed 1

doveadm's JSON output replaces invalid UTF-8 with U+FFFD, so values are compared after
the same replacement; a difference is saved as an .eml file for a closer look.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from mime_golden import message_ids, raw_message  # noqa: E402
from test_robustness import mutate  # noqa: E402

from mailstead.mime import analyse_strict  # noqa: E402

CONFIG = """protocols =
base_dir = /tmp/mimedv/run
log_path = /tmp/mimedv/log
ssl = no
mail_location = maildir:/tmp/mimedv/mail/%u
mail_uid = 65534
mail_gid = 65534
first_valid_uid = 1
userdb {
  driver = static
  args = uid=65534 gid=65534 home=/tmp/mimedv/mail/%u
}
passdb {
  driver = static
  args = nopassword
}
service doveadm {
  inet_listener {
    port = 0
  }
}
service stats {
  inet_listener http {
    port = 0
  }
}
"""

DOVEADM = ["doveadm", "-c", "/tmp/mimedv/dovecot.conf"]
OUT = Path("/tmp/mimedv/diffs")


def run(*args: str, data: bytes | None = None) -> bytes:
    return subprocess.run([*DOVEADM, *args], input=data, capture_output=True, check=True).stdout


def crlf(raw: bytes) -> bytes:
    """What imaplib's APPEND sends: every line ending CRLF (NUL bytes dropped)."""
    raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    return raw.replace(b"\x00", b"")


def norm(value: bytes) -> str:
    return re.sub("\ufffd+", "\ufffd", value.decode("utf-8", "replace"))


class Mailbox:
    def __init__(self, msgs: list[bytes]) -> None:
        self.name = f"diff{os.getpid()}x{random.randrange(10**9)}"
        run("mailbox", "create", "-u", "t", self.name)
        for m in msgs:
            run("save", "-u", "t", "-m", self.name, data=m)

    def fetch(self, fields: str, uid: int | None = None) -> list[dict[str, bytes]]:
        query = ["mailbox", self.name] + (["uid", str(uid)] if uid else [])
        out = run("-f", "json", "fetch", "-u", "t", fields, *query)
        rows = json.loads(out.decode("utf-8", "surrogateescape"))
        return [{k: v.encode("utf-8", "surrogateescape") for k, v in r.items()} for r in rows]

    def close(self) -> None:
        subprocess.run([*DOVEADM, "mailbox", "delete", "-u", "t", self.name], capture_output=True)


def report(label: str, n: int, what: str, theirs: bytes, ours: bytes, raw: bytes) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{label}-{n}.eml"
    path.write_bytes(raw)
    print(f"DIFF {what} {path}\n  dovecot {theirs[:300]!r}\n  ours    {ours[:300]!r}")


def compare(msgs: list[bytes], label: str, sections: bool) -> tuple[int, int]:
    msgs = [m for m in (crlf(m) for m in msgs) if m.strip()]
    box = Mailbox(msgs)
    bad = 0
    try:
        rows = box.fetch("uid imap.envelope imap.bodystructure imap.body size.virtual")
        for uid, (m, row) in enumerate(zip(msgs, rows, strict=True), 1):
            info = analyse_strict(m)
            ours = {
                "imap.envelope": info.envelope()[1:-1],
                "imap.bodystructure": info.body_structure()[1:-1],
                "imap.body": info.body()[1:-1],
                "size.virtual": b"%d" % info.size,
            }
            for key, value in ours.items():
                if norm(row[key]) != norm(value):
                    bad += 1
                    report(label, bad, key, row[key], value, m)
                    break
            else:
                if sections and not _sections_match(box, uid, m, info, label, bad):
                    bad += 1
    finally:
        box.close()
    return len(msgs), bad


def _sections_match(box: Mailbox, uid: int, raw: bytes, info: object, label: str, bad: int) -> bool:
    specs = ["HEADER", "TEXT"]
    for p in info.parts[:8]:  # type: ignore[attr-defined]
        specs += [p.number, p.number + ".MIME"]
        if p.message:
            specs += [p.number + ".HEADER", p.number + ".TEXT"]
    binaries = [p.number for p in info.parts[:8]]  # type: ignore[attr-defined]
    fields = " ".join(["body." + s for s in specs] + ["binary." + b for b in binaries])
    try:
        row = box.fetch(fields, uid)[0]
    except subprocess.CalledProcessError:
        return True  # Dovecot refused (undecodable data): nothing to compare
    for s in specs:
        theirs, ours = row.get("body." + s.lower(), b""), info.section(raw, s)  # type: ignore[attr-defined]
        if norm(theirs) != norm(ours):
            report(label, bad + 1, "BODY[" + s + "]", theirs, ours, raw)
            return False
    for b in binaries:
        ours_b = info.binary(raw, b)  # type: ignore[attr-defined]
        key = "binary." + b
        if ours_b is not None and key in row and norm(row[key]) != norm(ours_b):
            report(label, bad + 1, "BINARY[" + b + "]", row[key], ours_b, raw)
            return False
    return True


ADDRESS_TOKENS = [
    b'"', b"\\", b"(", b")", b"<", b">", b"@", b",", b";", b":", b".", b" ", b"a", b"bc",
    b"=?utf-8?q?x?=", b"[", b"]", b"\r\n ", b"\xc3\xa9", b"\t", b"x@y", b"Name", b"<a@b>", b'""',
]  # fmt: skip


def address_messages(rnd: random.Random, n: int) -> list[bytes]:
    names = (b"From", b"To", b"Cc", b"Subject", b"Date", b"Message-ID", b"In-Reply-To", b"Sender")
    out = []
    for _ in range(n):
        header = b""
        for name in names:
            if rnd.random() < 0.6:
                toks = (rnd.choice(ADDRESS_TOKENS) for _ in range(rnd.randrange(14)))
                header += name + b":" + b"".join(toks) + b"\r\n"
        out.append(header + b"\r\nbody\r\n")
    return out


def generated_messages(rnd: random.Random, n: int) -> list[bytes]:
    types = [
        b"text/plain", b"TEXT/HTML; CHARSET=\"ISO-8859-1\"", b"image/png; name*=utf-8''%E2%82%AC",
        b"text/plain; name*0=\"a\"; name*1=\"b\"", b"text", b"text/", b"image", b"multipart",
        b"text/plain; x", b"text/plain (c); x=y", b"message/partial; id=1",
    ]  # fmt: skip
    encodings = [None, b"7bit", b"base64", b"quoted-printable", b"x-uuencode", b"junk junk"]
    bodies = [b"hello\r\n", b"", b"aGVsbG8=\r\n", b"=C3=A9t=\r\n", b"\xc3\xa9\r\n", b"-- \r\nx\r\n"]
    counter = itertools.count()

    def leaf() -> bytes:
        fields = []
        if rnd.random() < 0.7:
            fields.append(b"Content-Type: " + rnd.choice(types))
        cte = rnd.choice(encodings)
        if cte:
            fields.append(b"Content-Transfer-Encoding: " + cte)
        if rnd.random() < 0.3:
            fields.append(b'Content-Disposition: attachment; filename="x"')
        rnd.shuffle(fields)
        return b"".join(f + b"\r\n" for f in fields) + b"\r\n" + rnd.choice(bodies)

    def part(depth: int) -> bytes:
        r = rnd.random()
        if depth < 3 and r < 0.3:
            b = b"b%d" % next(counter)
            sub = rnd.choice([b"mixed", b"alternative", b"digest"])
            out = b"Content-Type: multipart/" + sub + b"; boundary=" + b + b"\r\n\r\n"
            for _ in range(rnd.randrange(4)):
                out += b"--" + b + rnd.choice([b"\r\n", b" \r\n", b"x\r\n"]) + part(depth + 1)
                out += b"\r\n"
            if rnd.random() < 0.8:
                out += b"--" + b + b"--\r\n"
            return out
        if depth < 3 and r < 0.4:
            return b"Content-Type: message/rfc822\r\n\r\nSubject: in\r\n" + part(depth + 1)
        return leaf()

    return [b"Subject: t\r\n" + (b"MIME-Version: 1.0\r\n" * (i % 2)) + part(0) for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["corpus", "mutate", "generate", "addresses", "config"])
    ap.add_argument("count", type=int, nargs="?", default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sections", action="store_true")
    args = ap.parse_args()
    if args.mode == "config":
        print(CONFIG)
        return
    rnd = random.Random(args.seed)
    ids = message_ids()
    if args.mode == "corpus":
        msgs = [raw_message(i) for i in ids[: args.count]]
    elif args.mode == "mutate":
        msgs = [
            mutate(raw_message(rnd.choice(ids)), rnd, rnd.randrange(1, 6))
            for _ in range(args.count)
        ]
    elif args.mode == "generate":
        msgs = generated_messages(rnd, args.count)
    else:
        msgs = address_messages(rnd, args.count)
    total, bad = compare(msgs, f"{args.mode}{args.seed}", args.sections)
    print(f"{total} messages, {bad} differences")


if __name__ == "__main__":
    main()
