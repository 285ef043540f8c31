from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailstead.proto.smtp import client
from mailstead.proto.smtp.errors import SMTPProtocolError
from mailstead.proto.smtp.paths import parse_path
from mailstead.proto.smtp.replies import Reply, ReplyParser, parse_replies, write_reply


def test_write_single_and_multi_line() -> None:
    assert write_reply(250, "Ok", "2.1.0") == b"250 2.1.0 Ok\r\n"
    assert write_reply(250, ("a", "b", "c")) == b"250-a\r\n250-b\r\n250 c\r\n"
    assert write_reply(550, ("x", "y"), "5.1.1") == b"550-5.1.1 x\r\n550 5.1.1 y\r\n"


def test_writer_cannot_be_made_to_forge_lines() -> None:
    assert write_reply(250, "a\r\n250 forged") == b"250 a  250 forged\r\n"


def test_parse_multi_line_with_enhanced_codes() -> None:
    replies = parse_replies(b"250-mx Hello\r\n250-SIZE 10\r\n250 CHUNKING\r\n550 5.1.1 <a@b>: no\r\n")
    assert replies[0] == Reply(250, ("mx Hello", "SIZE 10", "CHUNKING"))
    assert replies[1] == Reply(550, "<a@b>: no", "5.1.1")


def test_enhanced_code_must_match_class() -> None:
    assert parse_replies(b"250 5.1.1 odd\r\n")[0] == Reply(250, "5.1.1 odd")


def test_parser_across_chunks() -> None:
    parser = ReplyParser()
    assert parser.feed(b"220 mx ES") == []
    assert parser.feed(b"MTP\r\n250-a\r\n") == [Reply(220, "mx ESMTP")]
    assert parser.feed(b"250 b\r\n") == [Reply(250, ("a", "b"))]


@pytest.mark.parametrize("bad", [b"hello\r\n", b"25\r\n", b"250xhi\r\n", b"250-a\r\n251 b\r\n"])
def test_parser_rejects_garbage(bad: bytes) -> None:
    with pytest.raises(SMTPProtocolError):
        ReplyParser().feed(bad)


def test_parser_line_limit() -> None:
    with pytest.raises(SMTPProtocolError):
        ReplyParser(max_line_length=100).feed(b"250 " + b"x" * 200)


def test_roundtrip_writer_parser() -> None:
    reply = Reply(451, ("try", "later"), "4.3.0")
    assert parse_replies(reply.to_bytes()) == [reply]


def test_client_command_writer() -> None:
    assert client.ehlo("me.test") == b"EHLO me.test\r\n"
    assert client.mail_from("a@b.test", SIZE=10, SMTPUTF8=None) == b"MAIL FROM:<a@b.test> SIZE=10 SMTPUTF8\r\n"
    assert client.mail_from(parse_path("<>", allow_null=True)) == b"MAIL FROM:<>\r\n"
    assert client.rcpt_to("u@d.test", NOTIFY="NEVER") == b"RCPT TO:<u@d.test> NOTIFY=NEVER\r\n"
    assert client.bdat(b"abc", last=True) == b"BDAT 3 LAST\r\nabc"
    assert client.auth("PLAIN", "AGEAYg==") == b"AUTH PLAIN AGEAYg==\r\n"
    with pytest.raises(ValueError):
        client.ehlo("x\r\nRSET")


def test_parse_ehlo() -> None:
    reply = parse_replies(b"250-mx Hello\r\n250-SIZE 1000\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n")[0]
    ext = client.parse_ehlo(reply)
    assert "starttls" in ext and ext.max_size == 1000
    assert ext.auth_mechanisms == ("PLAIN", "LOGIN")



@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=60), max_size=8))
def test_reply_parser_only_raises_protocol_error(chunks: list[bytes]) -> None:
    parser = ReplyParser(max_line_length=100)
    try:
        for chunk in chunks:
            for reply in parser.feed(chunk):
                assert 0 <= reply.code <= 999
    except SMTPProtocolError:
        pass
