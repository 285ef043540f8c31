"""The DATA reader: end marker, dot-stuffing, bare CR/LF, size limit, across any split."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailstead.proto.smtp import data
from mailstead.proto.smtp.data import DotReader, dot_stuff

try:
    from mailstead import _speedups
except ImportError:  # the C module is optional: its tests are skipped, the rest run
    _speedups = None  # type: ignore[assignment]

needs_speedups = pytest.mark.skipif(_speedups is None, reason="mailstead._speedups not built")


@pytest.fixture(autouse=True, params=["c", "python"])
def scans(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every reader test runs on the C scans and on their pure-Python twins."""
    if request.param == "python":
        monkeypatch.setattr(data, "has_bare_newline", data._has_bare_newline)
        monkeypatch.setattr(data, "find_dot_line", data._find_dot_line)
    elif _speedups is None:
        pytest.skip("mailstead._speedups not built")
    yield request.param


def has_bare_newline(buffer: bytes) -> bool:
    return data.has_bare_newline(buffer)


def read_all(chunks: list[bytes], limit: int = 1 << 20) -> tuple[DotReader, bytes]:
    reader = DotReader(limit)
    for i, chunk in enumerate(chunks):
        used = reader.feed(chunk)
        if used is not None:
            return reader, chunk[used:] + b"".join(chunks[i + 1 :])
    return reader, b""


def test_simple_message() -> None:
    reader, rest = read_all([b"Subject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n"])
    assert reader.done
    assert bytes(reader.body) == b"Subject: hi\r\n\r\nbody\r\n"
    assert rest == b"QUIT\r\n"


def test_empty_message() -> None:
    reader, rest = read_all([b".\r\n"])
    assert reader.done and bytes(reader.body) == b"" and rest == b""


def test_dot_unstuffing_including_first_line() -> None:
    reader, _ = read_all([b"..first\r\nmid\r\n..\r\n...x\r\n.\r\n"])
    assert bytes(reader.body) == b".first\r\nmid\r\n.\r\n..x\r\n"


def test_marker_split_across_every_boundary() -> None:
    wire = b"a\r\n..b\r\n.\r\nNOOP\r\n"
    for cut in range(1, len(wire)):
        reader, rest = read_all([wire[:cut], wire[cut:]])
        assert reader.done, cut
        assert bytes(reader.body) == b"a\r\n.b\r\n", cut
        assert rest == b"NOOP\r\n", cut


def test_byte_by_byte() -> None:
    wire = b"..x\r\n\r\n.y\r\n.\r\n"
    reader, _ = read_all([bytes([b]) for b in wire])
    assert reader.done and bytes(reader.body) == b".x\r\n\r\ny\r\n"
    assert not reader.bare_newline


def test_bare_lf_and_bare_cr_are_flagged() -> None:
    for wire in (b"a\nb\r\n.\r\n", b"a\rb\r\n.\r\n", b"a\r\n.\n.\r\n", b"x\r\r\n.\r\n"):
        reader, _ = read_all([wire])
        assert reader.bare_newline, wire


def test_smuggling_marker_is_not_an_end() -> None:
    # <LF>.<LF> and <CR><LF>.<LF> must not end the message (they are bare newlines).
    reader = DotReader(1000)
    assert reader.feed(b"x\n.\nMAIL FROM:<a@b>\r\n") is None
    assert reader.bare_newline


def test_oversize_keeps_reading_but_does_not_buffer() -> None:
    chunks = [b"x" * 1000 + b"\r\n"] * 50 + [b".\r\nRSET\r\n"]
    reader, rest = read_all(chunks, limit=10_000)
    assert reader.done and reader.oversize
    assert len(reader.body) == 0
    assert reader.size == 50 * 1002
    assert rest == b"RSET\r\n"


def test_long_line_without_crlf_is_not_buffered_in_tail() -> None:
    reader = DotReader(1 << 20)
    for _ in range(100):
        assert reader.feed(b"y" * 1000) is None
    assert len(reader._tail) <= 5
    assert reader.feed(b"\r\n.\r\n") == 5
    assert bytes(reader.body) == b"y" * 100_000 + b"\r\n"


def test_dot_stuff_roundtrip() -> None:
    message = b".a\r\n..b\r\nc\r\n.\r\n"
    wire = dot_stuff(message)
    assert wire == b"..a\r\n...b\r\nc\r\n..\r\n.\r\n"
    reader, _ = read_all([wire])
    assert bytes(reader.body) == message


lines = st.lists(
    st.binary(max_size=30).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")), max_size=20
)


@settings(max_examples=300, deadline=None)
@given(lines, st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=10))
def test_any_message_survives_any_split(message_lines: list[bytes], cuts: list[int]) -> None:
    message = b"".join(line + b"\r\n" for line in message_lines)
    wire = dot_stuff(message) + b"NEXT"
    chunks, pos = [], 0
    for size in cuts * 100:
        if pos >= len(wire):
            break
        chunks.append(wire[pos : pos + size])
        pos += size
    if pos < len(wire):
        chunks.append(wire[pos:])
    reader, rest = read_all(chunks)
    assert reader.done
    assert bytes(reader.body) == message
    assert rest == b"NEXT"
    assert not reader.bare_newline


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=50), max_size=10))
def test_garbage_never_raises(chunks: list[bytes]) -> None:
    reader = DotReader(100)
    for chunk in chunks:
        if reader.feed(chunk) is not None:
            break
    assert len(reader.body) <= 100


def test_has_bare_newline() -> None:
    assert not has_bare_newline(b"a\r\nb\r\n")
    assert has_bare_newline(b"a\nb")
    assert has_bare_newline(b"a\rb")


def test_has_bare_newline_at_the_edges() -> None:
    assert has_bare_newline(b"\nabc") and has_bare_newline(b"abc\r")
    assert has_bare_newline(b"\r") and has_bare_newline(b"\n") and not has_bare_newline(b"")
    assert not has_bare_newline(b"\r\n") and has_bare_newline(b"\n\r")
    long_line = b"x" * 40 + b"\r\n"
    for at in range(len(long_line) * 2):  # a bare one at every offset of the vector loop
        wire = bytearray(long_line * 2)
        if wire[at] in b"\r\n":
            continue
        wire[at] = ord("\n")
        assert has_bare_newline(bytes(wire)), at
        wire[at] = ord("\r")
        assert has_bare_newline(bytes(wire)), at


scan_bytes = st.binary(max_size=80) | st.lists(
    st.sampled_from([b"\r", b"\n", b"\r\n", b".", b"a", b"\r\n.", b"\x00", b"\xff"]), max_size=60
).map(b"".join)


@needs_speedups
@settings(max_examples=2000)
@given(scan_bytes, st.integers(min_value=-3, max_value=90))
def test_c_scans_agree_with_python(buffer: bytes, start: int) -> None:
    assert _speedups.has_bare_newline(buffer) == data._has_bare_newline(buffer)
    assert _speedups.has_bare_newline(bytearray(buffer)) == data._has_bare_newline(buffer)
    assert _speedups.find_dot_line(buffer, start) == data._find_dot_line(buffer, max(start, 0))
    assert _speedups.find_dot_line(memoryview(buffer)) == buffer.find(b"\r\n.")


@needs_speedups
def test_c_scans_refuse_what_is_not_a_buffer() -> None:
    with pytest.raises(TypeError):
        _speedups.has_bare_newline("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _speedups.find_dot_line(None)  # type: ignore[arg-type]
