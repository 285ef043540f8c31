from __future__ import annotations

import pytest

from mailstead.proto.smtp.paths import NULL_ADDRESS, NeedsSMTPUTF8, PathError, parse_path


def test_plain() -> None:
    a = parse_path("<alice@example.test>")
    assert (a.local, a.domain, a.source_route) == ("alice", "example.test", ())
    assert str(a) == "alice@example.test" and a.angle() == "<alice@example.test>"


def test_null_only_where_allowed() -> None:
    assert parse_path("<>", allow_null=True) is NULL_ADDRESS
    assert NULL_ADDRESS.is_null
    with pytest.raises(PathError):
        parse_path("<>")


def test_quoted_local_part() -> None:
    a = parse_path('<"john doe@x"@example.test>')
    assert a.local == '"john doe@x"' and a.domain == "example.test"
    assert a.unquoted_local == "john doe@x"
    b = parse_path(r'<"a\"b"@example.test>')
    assert b.unquoted_local == 'a"b'


def test_source_route_is_detected() -> None:
    a = parse_path("<@relay.one,@relay.two:bob@example.test>")
    assert a.source_route == ("relay.one", "relay.two")
    assert a.domain == "example.test"


def test_percent_hack_and_bang_detected() -> None:
    assert parse_path("<bob%evil.example@example.test>").has_routing_hack
    assert parse_path("<evil.example!bob@example.test>").has_routing_hack
    assert not parse_path("<bob@example.test>").has_routing_hack


def test_address_literals() -> None:
    assert parse_path("<a@[192.0.2.1]>").literal
    assert parse_path("<a@[IPv6:2001:db8::1]>").literal
    for bad in ("<a@[300.1.1.1]>", "<a@[IPv6:zz]>", "<a@[1.2.3]>"):
        with pytest.raises(PathError):
            parse_path(bad)


def test_utf8_needs_smtputf8() -> None:
    with pytest.raises(NeedsSMTPUTF8):
        parse_path("<jörg@exämple.test>")
    a = parse_path("<jörg@exämple.test>", utf8=True)
    assert a.local == "jörg" and not a.is_ascii


def test_bare_postmaster() -> None:
    assert parse_path("<Postmaster>", allow_bare_postmaster=True).is_bare_postmaster
    with pytest.raises(PathError):
        parse_path("<postmaster>")
    with pytest.raises(PathError):
        parse_path("<bob>", allow_bare_postmaster=True)


@pytest.mark.parametrize(
    "bad",
    ["alice@example.test", "<alice@example.test", "<alice>", "<@example.test>", "<a..b@x.test>",
     "<.a@x.test>", "<a@-x.test>", "<a@x..test>", "<a b@x.test>", "<a@x.test>>", '<"a@x.test>',
     "<@x:>", "<@:a@x.test>", "<" + "a" * 65 + "@x.test>", "<a@" + "b" * 300 + ".test>",
     "<a@x_y.test>", "<a\x00@x.test>"],
)
def test_rejects(bad: str) -> None:
    with pytest.raises(PathError):
        parse_path(bad)
