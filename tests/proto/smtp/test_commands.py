from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailstead.proto.smtp.commands import (
    Auth,
    Bdat,
    CommandError,
    Data,
    Ehlo,
    Helo,
    Mail,
    Noop,
    Quit,
    Rcpt,
    StartTLS,
    parse_command,
)


def test_verbs_are_case_insensitive() -> None:
    assert parse_command(b"ehlo client.test") == Ehlo("client.test")
    assert parse_command(b"HeLo client.test") == Helo("client.test")
    assert parse_command(b"data") == Data()
    assert parse_command(b"NOOP whatever") == Noop()
    assert parse_command(b"quit") == Quit()
    assert parse_command(b"StartTLS") == StartTLS()


def test_mail_with_parameters() -> None:
    cmd = parse_command(b"MAIL FROM:<a@b.test> SIZE=1000 BODY=8bitmime SMTPUTF8 RET=HDRS ENVID=x+2By AUTH=<>")
    assert isinstance(cmd, Mail)
    p = cmd.params
    assert (p.size, p.body, p.smtputf8, p.ret, p.envid, p.auth) == (1000, "8BITMIME", True, "HDRS", "x+2By", "<>")
    assert p.uses_dsn and not p.unknown


def test_mail_tolerates_space_after_colon_and_keeps_unknown_params() -> None:
    cmd = parse_command(b"MAIL FROM: <a@b.test> XFOO=1")
    assert isinstance(cmd, Mail) and cmd.params.unknown == ("XFOO",)


def test_mail_null_sender() -> None:
    cmd = parse_command(b"MAIL FROM:<>")
    assert isinstance(cmd, Mail) and cmd.sender.is_null


def test_rcpt_dsn_parameters() -> None:
    cmd = parse_command(b"RCPT TO:<u@d.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;u+40d.test")
    assert isinstance(cmd, Rcpt)
    assert cmd.params.notify == ("SUCCESS", "FAILURE") and cmd.params.orcpt == "rfc822;u+40d.test"
    assert parse_command(b"RCPT TO:<u@d.test> NOTIFY=NEVER").params.notify == ("NEVER",)  # type: ignore[union-attr]


def test_utf8_in_rcpt_depends_on_transaction() -> None:
    with pytest.raises(CommandError) as exc:
        parse_command("RCPT TO:<jörg@d.test>".encode())
    assert exc.value.reply.code == 553 and exc.value.reply.enhanced == "5.6.7"
    assert isinstance(parse_command("RCPT TO:<jörg@d.test>".encode(), rcpt_utf8=True), Rcpt)
    assert isinstance(parse_command("MAIL FROM:<jörg@d.test> SMTPUTF8".encode()), Mail)


def test_bdat_and_auth() -> None:
    assert parse_command(b"BDAT 100") == Bdat(100, False)
    assert parse_command(b"BDAT 0 LAST") == Bdat(0, True)
    assert parse_command(b"AUTH plain AGEAYg==") == Auth("PLAIN", "AGEAYg==")
    assert parse_command(b"AUTH LOGIN") == Auth("LOGIN", None)


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"FOO", 500),
        (b"\xff\xfe", 500),
        (b"MAIL", 501),
        (b"MAIL TO:<a@b.test>", 501),
        (b"MAIL FROM:a@b.test", 501),
        (b"MAIL FROM:<a@b.test>junk", 501),
        (b"MAIL FROM:<a@b.test> SIZE=abc", 501),
        (b"MAIL FROM:<a@b.test> SIZE=1 SIZE=2", 501),
        (b"MAIL FROM:<a@b.test> BODY=9BIT", 501),
        (b"MAIL FROM:<a@b.test> =x", 501),
        (b"RCPT TO:<>", 501),
        (b"RCPT TO:<u@d.test> NOTIFY=SOMETIMES", 501),
        (b"RCPT TO:<u@d.test> ORCPT=junk", 501),
        (b"DATA now", 501),
        (b"BDAT", 501),
        (b"BDAT x", 501),
        (b"BDAT 1 FIRST", 501),
        (b"EHLO", 501),
        (b"EHLO a\x01b", 501),
        (b"AUTH", 501),
        (b"QUIT now", 501),
        (b"NOOP\x00", 500),
    ],
)
def test_errors(line: bytes, code: int) -> None:
    with pytest.raises(CommandError) as exc:
        parse_command(line)
    assert exc.value.reply.code == code


verbs = st.sampled_from([b"MAIL FROM:", b"RCPT TO:", b"EHLO ", b"BDAT ", b"AUTH ", b"", b"DATA"])


@settings(max_examples=500, deadline=None)
@given(verbs, st.binary(max_size=80), st.booleans())
def test_parse_command_only_raises_command_error(verb: bytes, rest: bytes, utf8: bool) -> None:
    try:
        parse_command(verb + rest, rcpt_utf8=utf8)
    except CommandError as exc:
        assert 500 <= exc.reply.code < 600
