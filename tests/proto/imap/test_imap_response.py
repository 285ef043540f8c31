"""The response writer, sequence sets and modified UTF-7."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailstead.proto.imap import STAR, SequenceSet, mutf7, response


def test_tagged_untagged_continuation() -> None:
    assert response.tagged("a1", "OK", "done") == b"a1 OK done\r\n"
    assert response.tagged("a1", "NO", "nope", code="TRYCREATE") == b"a1 NO [TRYCREATE] nope\r\n"
    assert response.untagged_status("OK", "hi", code="UIDNEXT 5") == b"* OK [UIDNEXT 5] hi\r\n"
    assert response.continuation() == b"+ \r\n"
    assert response.continuation("go ahead") == b"+ go ahead\r\n"
    assert response.continuation_data(b"r=abc") == b"+ cj1hYmM=\r\n"


def test_response_text_is_sanitised_and_bounded() -> None:
    out = response.tagged("a", "BAD", "evil\r\n* OK injected" + "x" * 1000)
    assert out.count(b"\r\n") == 1 and len(out) < 400


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("INBOX", b"INBOX"),
        ("", b'""'),
        ("NIL", b'"NIL"'),
        ("two words", b'"two words"'),
        ('q"b\\', b'"q\\"b\\\\"'),
        ("a\r\nb", b"{4}\r\na\r\nb"),
        ("x " * 1000, b"{2000}\r\n" + b"x " * 1000),
    ],
)
def test_astring_picks_atom_quoted_or_literal(value: str, expected: bytes) -> None:
    assert response.astring(value) == expected


def test_strings_and_mailboxes() -> None:
    assert response.nstring(None) == b"NIL"
    assert response.string("é") == '"é"'.encode()
    assert response.string("é", utf8=False) == b"{2}\r\n\xc3\xa9"
    assert response.mailbox("台北", utf8=False) == b"&U,BTFw-"
    assert response.mailbox("台北", utf8=True) == '"台北"'.encode()
    assert response.mailbox("A&B", utf8=False) == b"A&-B"


def test_internal_date() -> None:
    when = datetime.datetime(
        1996, 7, 17, 2, 44, 25, tzinfo=datetime.timezone(-datetime.timedelta(hours=7))
    )
    assert response.internal_date(when) == b'"17-Jul-1996 02:44:25 -0700"'


def test_common_untagged_data() -> None:
    assert response.exists(23) == b"* 23 EXISTS\r\n"
    assert response.expunge(3) == b"* 3 EXPUNGE\r\n"
    assert response.flags(["\\Seen", "$Junk"]) == b"* FLAGS (\\Seen $Junk)\r\n"
    assert response.capability(["IMAP4rev2", "IDLE"]) == b"* CAPABILITY IMAP4rev2 IDLE\r\n"
    assert response.enabled([]) == b"* ENABLED\r\n"
    assert response.list_item(["\\HasNoChildren"], "/", "INBOX", utf8=False) == (
        b'* LIST (\\HasNoChildren) "/" INBOX\r\n'
    )
    assert response.list_item(
        [], None, "x y", utf8=True, extended=[b'("CHILDINFO" ("SUBSCRIBED"))']
    ) == (b'* LIST () NIL "x y" (("CHILDINFO" ("SUBSCRIBED")))\r\n')
    assert response.status("blurdybloop", {"MESSAGES": 231, "UIDNEXT": 44292}, utf8=False) == (
        b"* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\n"
    )
    assert response.search([2, 84, 882]) == b"* SEARCH 2 84 882\r\n"
    assert response.search([], modseq=None) == b"* SEARCH\r\n"
    assert response.search([2], modseq=917162500) == b"* SEARCH 2 (MODSEQ 917162500)\r\n"
    assert response.esearch("A282", uid=True, minimum=2, count=3) == (
        b'* ESEARCH (TAG "A282") UID MIN 2 COUNT 3\r\n'
    )
    assert response.esearch("a", uid=False, all_numbers=SequenceSet.of([1, 2, 3, 7])) == (
        b'* ESEARCH (TAG "a") ALL 1:3,7\r\n'
    )
    assert response.vanished(SequenceSet.of([41, 43, 44]), earlier=True) == (
        b"* VANISHED (EARLIER) 41,43:44\r\n"
    )
    assert (
        response.id_response({"name": "Mailstead", "os": None})
        == b'* ID ("name" "Mailstead" "os" NIL)\r\n'
    )
    assert response.quota("", [("STORAGE", 10, 512)]) == b'* QUOTA "" (STORAGE 10 512)\r\n'
    assert response.quota_root("INBOX", [""], utf8=False) == b'* QUOTAROOT INBOX ""\r\n'
    assert response.value([1, None, "a b", b"RAW", (2,)]) == b'(1 NIL "a b" RAW (2))'


def test_sort_and_thread() -> None:
    assert response.sort([2, 84, 882]) == b"* SORT 2 84 882\r\n"
    assert response.sort([]) == b"* SORT\r\n"
    assert response.thread([[2], [3, 6, [4, 23], [44, 7, 96]]]) == (
        b"* THREAD (2)(3 6 (4 23)(44 7 96))\r\n"
    )
    assert response.thread([[1, [2, [3]]]]) == b"* THREAD (1 2 3)\r\n"


def test_fetch_response_passes_message_bytes_through_uncopied() -> None:
    body = memoryview(b"Subject: hi\r\n\r\nbody\r\n")
    envelope = b'("date" "hi" NIL NIL NIL NIL NIL NIL NIL "<id>")'
    chunks = (
        response.FetchResponse(12)
        .add_number(b"UID", 77)
        .add_flags(["\\Seen"])
        .add(b"ENVELOPE", envelope)
        .add_literal(b"BODY[]", body)
        .add_number(b"RFC822.SIZE", len(body))
        .chunks()
    )
    assert chunks[1] is body
    assert b"".join(bytes(x) for x in chunks) == (
        b"* 12 FETCH (UID 77 FLAGS (\\Seen) ENVELOPE " + envelope + b" BODY[] {21}\r\n"
        + bytes(body) + b" RFC822.SIZE 21)\r\n"
    )  # fmt: skip


def test_fetch_response_binary_and_nil() -> None:
    out = response.FetchResponse(1).add_literal(b"BINARY[1]", b"a\x00b", binary=True).to_bytes()
    assert out == b"* 1 FETCH (BINARY[1] ~{3}\r\na\x00b)\r\n"
    out = response.FetchResponse(1).add_literal(b"BINARY[1]", b"ab", binary=True).to_bytes()
    assert out == b"* 1 FETCH (BINARY[1] {2}\r\nab)\r\n"
    out = (
        response.FetchResponse(2)
        .add_literal(b"BODY[1]", None)
        .add_literal(b"BODY[2]", b"")
        .to_bytes()
    )
    assert out == b"* 2 FETCH (BODY[1] NIL BODY[2] {0}\r\n)\r\n"


def test_sequence_sets() -> None:
    seq = SequenceSet.parse(b"1:4,7,9:*")
    assert seq.ranges == ((1, 4), (7, 7), (9, STAR))
    assert bytes(seq) == b"1:4,7,9:*"
    assert seq.resolve(12) == [(1, 4), (7, 7), (9, 12)]
    assert list(SequenceSet.parse(b"*:5").iter(3)) == [3]  # *:5 is 3:5 in a 3-message box
    assert SequenceSet.parse(b"3:1").resolve(10) == [(1, 3)]
    assert SequenceSet.parse(b"$").saved
    assert SequenceSet.of([5, 1, 2, 3, 9, 10]) == SequenceSet(((1, 3), (5, 5), (9, 10)))
    assert SequenceSet.parse(b"2:4").contains(3, 10) and not SequenceSet.parse(b"2:4").contains(
        5, 10
    )
    for bad in (b"0", b"1:0", b"01", b"1,", b",1", b"1::2", b"a", b"4294967296", b"$,1", b""):
        with pytest.raises(ValueError):
            SequenceSet.parse(bad)


def test_modified_utf7_rfc3501_examples() -> None:
    assert mutf7.encode("~peter/mail/台北/日本語") == b"~peter/mail/&U,BTFw-/&ZeVnLIqe-"
    assert mutf7.decode(b"~peter/mail/&U,BTFw-/&ZeVnLIqe-") == "~peter/mail/台北/日本語"
    assert mutf7.encode("&") == b"&-"
    assert mutf7.decode(b"Hi &- there") == "Hi & there"
    for bad in (b"&U,BTFw", b"&AGE-", b"\xc3\xa9", b"&Jjo!", b"&U-"):
        with pytest.raises(ValueError):
            mutf7.decode(bad)


@given(st.text(st.characters(blacklist_categories=("Cs",))))
def test_modified_utf7_round_trip(name: str) -> None:
    encoded = mutf7.encode(name)
    assert encoded.isascii()
    assert mutf7.decode(encoded) == name
