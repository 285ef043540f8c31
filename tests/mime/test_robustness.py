"""Broken mail is normal mail: analyse() keeps a best-effort structure and never raises.

The hypothesis runs are bounded (examples and sizes) so the file runs in a few seconds.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imap_syntax import parse_value
from mime_golden import message_ids, raw_message

from mailstead.mime import MessageInfo, analyse, analyse_strict
from mailstead.mime._scan import MAX_DEPTH

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CORPUS_IDS = message_ids()


def check(raw: bytes) -> MessageInfo:
    """Everything a server would ask of a message works and renders valid IMAP."""
    info = analyse_strict(raw)
    assert analyse(raw) == info
    parse_value(info.envelope())
    parse_value(info.body_structure())
    parse_value(info.body())
    assert MessageInfo.loads(info.dumps()) == info
    assert info.section(raw, "HEADER") + info.section(raw, "TEXT") == raw
    info.section(raw, "HEADER.FIELDS (FROM TO SUBJECT)")
    info.section(raw, "HEADER.FIELDS.NOT (RECEIVED)")
    for part in info.parts:
        assert 0 <= part.header_start <= part.body_start <= part.end <= len(raw)
        for suffix in ("", ".MIME", ".HEADER", ".TEXT", ".HEADER.FIELDS (FROM)"):
            info.section(raw, part.number + suffix)
        info.binary_size(raw, part.number)
    info.search_text()
    return info


def mime(depth: int, boundary: str = "b") -> bytes:
    """A multipart nested `depth` times, each level closing properly."""
    out = b""
    for i in range(depth):
        out += b"Content-Type: multipart/mixed; boundary=%s%d\r\n\r\n--%s%d\r\n" % (
            boundary.encode(),
            i,
            boundary.encode(),
            i,
        )
    out += b"Content-Type: text/plain\r\n\r\nleaf\r\n"
    for i in reversed(range(depth)):
        out += b"--%s%d--\r\n" % (boundary.encode(), i)
    return b"Subject: deep\r\n" + out


# -- specific kinds of breakage --------------------------------------------------------

BROKEN = {
    "empty": b"",
    "only-crlf": b"\r\n",
    "no-blank-line": b"Subject: x\r\nFrom: a@b\r\n",
    "no-header-at-all": b"just a body line\r\nand another\r\n",
    "no-final-boundary": b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\nhello\r\n",
    "wrong-boundary": b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--y\r\n\r\nhi\r\n--y--\r\n",
    "no-boundary-param": b"Content-Type: multipart/mixed\r\n\r\n--x\r\n\r\nhi\r\n--x--\r\n",
    "empty-boundary": b'Content-Type: multipart/mixed; boundary=""\r\n\r\n--\r\n\r\nhi\r\n----\r\n',
    "bad-base64": b"MIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\n\r\nQUJD*&^%$==RE\r\nx\r\n",
    "truncated-base64": b"MIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\n\r\nQUJDRE",
    "bad-qp": b"MIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=ZZ=4=\r\n=",
    "unknown-cte": b"MIME-Version: 1.0\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 a\r\n",
    "8bit-header": "Subject: Grüße \xff\xfe\r\nFrom: Jörg <j@ü.de>\r\n\r\nx".encode(
        "latin-1", "replace"
    )
    + b"\xff\r\n",
    "long-line": b"Subject: " + b"x" * 5000 + b"\r\n\r\n" + b"y" * 20000 + b"\r\n",
    "huge-header": b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 50) for i in range(20000)) + b"\r\nb",
    "folded-forever": b"Subject: a\r\n" + b" b\r\n" * 20000 + b"\r\nbody",
    "bare-lf": b"Subject: x\nContent-Type: multipart/mixed; boundary=q\n\n--q\n\nhi\n--q--\n",
    "bare-cr": b"Subject: x\rFrom: y\r\r\rbody",
    "message-rfc822-empty": b"Content-Type: message/rfc822\r\n\r\n",
    "message-rfc822-no-header": b"Content-Type: message/rfc822\r\n\r\nbody only\r\n",
    "digest": b"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: in\r\n\r\nx\r\n--d--\r\n",
    "boundary-in-header": b"Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\nContent-Type: text/plain\r\n--z--\r\n",
    "8bit-cte": b"MIME-Version: 1.0\r\nContent-Transfer-Encoding: \xd8\r\n\r\nx",
    "nul-bytes": b"Subject: a\x00b\r\n\r\n\x00\x00",
    "unbalanced-address": b'From: "unterminated <a@b\r\nTo: (comment <x@y>, ,, @, <>\r\n\r\n',
    "group-address": b"To: undisclosed-recipients:;\r\nCc: g: a@b, c@d;, e@f\r\n\r\n",
    "rfc2231-mess": b"Content-Type: text/plain; name*0*=x; name*2=y; name*=utf-8''%ff\r\n\r\n",
    "absurd-nesting": mime(200),
    "same-boundary-nested": b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n"
    b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n\r\nx\r\n--a--\r\n--a--\r\n",
    "many-parts": b"Content-Type: multipart/mixed; boundary=m\r\n\r\n"
    + b"--m\r\n\r\nx\r\n" * 5000
    + b"--m--\r\n",
    "dash-lines": b"Content-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\n\r\n"
    + b"--not-a-boundary\r\n" * 20000
    + b"--m--\r\n",
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_mail_gives_a_structure(name: str) -> None:
    check(BROKEN[name])


def test_nesting_is_bounded() -> None:
    info = check(mime(200))
    depth = max(p.number.count(".") for p in info.parts)
    assert depth <= MAX_DEPTH + 1


def test_missing_final_boundary_keeps_the_part() -> None:
    raw = BROKEN["no-final-boundary"]
    info = check(raw)
    assert info.section(raw, "1") == b"hello\r\n"


def test_bad_base64_decodes_what_it_can() -> None:
    raw = BROKEN["bad-base64"]
    info = check(raw)
    assert info.binary(raw, "1").startswith(b"ABC")


def test_unknown_cte_is_reported() -> None:
    raw = BROKEN["unknown-cte"]
    assert check(raw).binary_size(raw, "1") is None


# -- property-based --------------------------------------------------------------------

header_line = st.builds(
    lambda name, value: name + b": " + value + b"\r\n",
    st.sampled_from(
        [b"From", b"To", b"Cc", b"Subject", b"Date", b"Content-Type", b"Message-ID", b"X-A"]
    ),
    st.binary(max_size=60),
)


@FUZZ
@given(st.binary(max_size=3000))
def test_random_bytes_never_raise(raw: bytes) -> None:
    check(raw)


@FUZZ
@given(st.lists(header_line, max_size=12), st.binary(max_size=500))
def test_random_headers_never_raise(headers: list[bytes], body: bytes) -> None:
    check(b"".join(headers) + b"\r\n" + body)


_FRAGMENTS = [
    b"\r\n",
    b"\n",
    b"\r\n\r\n",
    b"--",
    b"--b\r\n",
    b"--b--\r\n",
    b"Content-Type: multipart/mixed; boundary=b\r\n",
    b"Content-Type: message/rfc822\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"=?utf-8?b?w6k=?=",
    b'"',
    b"(",
    b"<",
    b"\xff",
    b"\x00",
]


def mutate(raw: bytes, rnd: random.Random, steps: int) -> bytes:
    data = bytearray(raw)
    for _ in range(steps):
        op = rnd.randrange(5)
        i = rnd.randrange(len(data) + 1)
        j = min(len(data), i + rnd.randrange(200))
        if op == 0:
            del data[i:j]
        elif op == 1:
            data[i:i] = data[i:j] * 2
        elif op == 2:
            data[i:i] = rnd.choice(_FRAGMENTS)
        elif op == 3:
            data = data[:i]
        else:
            data[i:j] = bytes(rnd.randrange(256) for _ in range(j - i))
    return bytes(data)


@FUZZ
@given(st.sampled_from(CORPUS_IDS), st.integers(0, 2**32), st.integers(1, 8))
def test_mutated_corpus_messages_never_raise(mid: str, seed: int, steps: int) -> None:
    check(mutate(raw_message(mid), random.Random(seed), steps))


@FUZZ
@given(
    st.recursive(
        st.binary(max_size=40).map(lambda b: ("leaf", b)),
        lambda kids: st.tuples(st.just("multi"), st.lists(kids, max_size=4), st.booleans()),
        max_leaves=12,
    )
)
def test_generated_mime_trees_never_raise(tree: object) -> None:
    counter = iter(range(10_000))

    def render(node: object) -> bytes:
        kind = node[0]  # type: ignore[index]
        if kind == "leaf":
            return b"Content-Type: text/plain\r\n\r\n" + node[1]  # type: ignore[index]
        b = b"B%d" % next(counter)
        _kind, kids, close = node  # type: ignore[misc]
        out = b"Content-Type: multipart/mixed; boundary=" + b + b"\r\n\r\n"
        for k in kids:
            out += b"--" + b + b"\r\n" + render(k) + b"\r\n"
        if close:
            out += b"--" + b + b"--\r\n"
        return out

    check(b"Subject: t\r\n" + render(tree))


def test_header_fields_names_quoted_and_listed() -> None:
    raw = b"From: a@b\r\nX-Odd: 1\r\nTo: c@d\r\n\r\nbody"
    info = check(raw)
    want = b"From: a@b\r\nX-Odd: 1\r\n\r\n"
    assert info.section(raw, 'HEADER.FIELDS (from "X-Odd")') == want
    assert info.header_fields_section(raw, ["FROM", "x-odd"]) == want
    assert info.section(raw, "HEADER.FIELDS.NOT (FROM X-ODD)") == b"To: c@d\r\n\r\n"
    assert info.section(raw, "HEADER.FIELDS (NOPE)") == b"\r\n"


def test_loads_rejects_garbage() -> None:
    for blob in (b"", b"junk", b"x\x9c\x03\x00\x00\x00\x00\x01"):
        with pytest.raises(ValueError):
            MessageInfo.loads(blob)


def test_analyse_takes_any_bytes_like_and_never_raises() -> None:
    assert analyse(bytearray(b"Subject: a\r\n\r\nb")).subject == "a"
    assert analyse(memoryview(b"Subject: a\r\n\r\nb")).size == 15
    assert analyse("Subject: é\r\n\r\nb").subject == "é"  # type: ignore[arg-type]
    assert analyse(None).size == 0  # type: ignore[arg-type]
