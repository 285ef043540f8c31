"""The normalisation every back end shares (mailstead.store.names)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailstead.store.base import FlagMode, InvalidName
from mailstead.store.names import (
    apply_flag_mode,
    domain_for_display,
    normalize_address,
    normalize_alias_source,
    normalize_domain,
    normalize_flags,
    normalize_mailbox_name,
)


def test_domains() -> None:
    assert normalize_domain(" Example.ORG. ") == "example.org"
    # One canonical spelling for an IDN domain: the lower-case A-label.
    assert normalize_domain("xn--bcher-kva.example") == "xn--bcher-kva.example"
    assert normalize_domain("XN--BCHER-KVA.example") == "xn--bcher-kva.example"
    assert normalize_domain("bücher.example") == "xn--bcher-kva.example"
    assert normalize_domain("BÜCHER.Example.") == "xn--bcher-kva.example"
    assert domain_for_display("xn--bcher-kva.example") == "bücher.example"
    for bad in ["", ".", "a..b", "-a.b", "a-.b", "a b", "a_b.c", "a@b", "x" * 64 + ".org",
                "ü!.org", "xn--.org", "\u200b.org"]:
        with pytest.raises(InvalidName):
            normalize_domain(bad)


def test_addresses() -> None:
    assert normalize_address("Alice.Smith+tag@Example.ORG") == "alice.smith+tag@example.org"
    for bad in ["alice", "@example.org", "alice@", ".a@b.c", "a.@b.c", "a b@c.d", "a\x00@b.c",
                "a@" + "b" * 250 + ".org"]:
        with pytest.raises(InvalidName):
            normalize_address(bad)


def test_alias_sources() -> None:
    assert normalize_alias_source("@Example.ORG") == ("@example.org", "example.org")
    assert normalize_alias_source("Info@Example.ORG") == ("info@example.org", "example.org")


def test_mailbox_names() -> None:
    assert normalize_mailbox_name("inbox") == "INBOX"
    assert normalize_mailbox_name("Inbox/Sub") == "INBOX/Sub"
    assert normalize_mailbox_name("Archive/2026") == "Archive/2026"
    for bad in ["", "/a", "a/", "a//b", "a*", "b%", "a\tb", "a\u200bb"]:
        with pytest.raises(InvalidName):
            normalize_mailbox_name(bad)


def test_flags() -> None:
    assert normalize_flags({"\\seen", "\\FLAGGED", "$Junk"}) == {"\\Seen", "\\Flagged", "$Junk"}
    assert len(normalize_flags({"Work", "WORK", "work"})) == 1
    for bad in ["\\Recent", "\\Nope", "", "a b", "a(b", "a\"b", "ü"]:
        with pytest.raises(InvalidName):
            normalize_flags({bad})


keywords = st.sets(st.sampled_from(["\\Seen", "\\Deleted", "Work", "$Junk", "Later"]))


@given(keywords, keywords)
def test_flag_modes(current: set[str], change: set[str]) -> None:
    have, given_ = frozenset(current), frozenset(change)
    assert apply_flag_mode(have, given_, FlagMode.SET) == given_
    assert apply_flag_mode(have, given_, FlagMode.ADD) == have | given_
    assert apply_flag_mode(have, given_, FlagMode.REMOVE) == have - given_
