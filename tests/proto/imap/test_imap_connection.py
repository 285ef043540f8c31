"""The connection state machine: framing, literals, limits, exchanges and stream changes."""

from __future__ import annotations

from imap_helpers import events, in_state

from mailstead.proto.imap import (
    NEED_DATA,
    AuthenticateResponse,
    Bye,
    CommandError,
    Connection,
    ConnectionClosed,
    ContinuationRequest,
    IdleDone,
    Limits,
    State,
    StreamChange,
)
from mailstead.proto.imap import commands as c

NA, AU, SE = State.NOT_AUTHENTICATED, State.AUTHENTICATED, State.SELECTED


def test_login_select_logout_walk_through_the_states() -> None:
    conn = Connection()
    (login,) = events(conn, b"a1 LOGIN joe secret\r\n", complete=False)
    assert conn.complete(login) == b"a1 OK LOGIN completed\r\n"
    assert conn.state is AU
    (select,) = events(conn, b"a2 EXAMINE INBOX\r\n", complete=False)
    assert conn.complete(select, "OK", "done", code="READ-ONLY") == b"a2 OK [READ-ONLY] done\r\n"
    assert conn.state is SE and conn.read_only
    (select,) = events(conn, b"a3 SELECT nope\r\n", complete=False)
    conn.complete(select, "NO", "no such mailbox", code="NONEXISTENT")
    assert conn.state is AU  # RFC 9051 §6.3.2: a failed SELECT deselects
    conn.receive_data(b"a4 LOGOUT\r\na5 NOOP\r\n")
    logout = conn.next_event()
    conn.complete(logout)
    assert conn.state is State.LOGOUT
    assert conn.next_event() is NEED_DATA  # nothing after LOGOUT is read


def test_failed_login_stays_unauthenticated() -> None:
    conn = Connection()
    (login,) = events(conn, b"a1 LOGIN joe wrong\r\n", complete=False)
    assert conn.complete(login, "NO", "bad", code="AUTHENTICATIONFAILED").startswith(b"a1 NO [")
    assert conn.state is NA


def test_pipelined_command_is_checked_in_the_state_its_predecessor_left() -> None:
    conn = Connection()
    conn.receive_data(b"a1 LOGIN joe secret\r\na2 SELECT INBOX\r\n")
    login = conn.next_event()
    assert isinstance(login, c.Login)
    conn.complete(login)
    assert isinstance(conn.next_event(), c.Select)


def test_malformed_command_gets_bad_and_parsing_resumes() -> None:
    conn = in_state(SE)
    evs = events(conn, b"a1 FETCH 1 (FLAGS\r\na2 FETCH x FLAGS\r\n\r\na3 NOOP\r\n", complete=False)
    assert [type(e) for e in evs] == [CommandError, CommandError, c.Noop]
    assert evs[0].data.startswith(b"a1 BAD Error in IMAP command FETCH: ")
    assert evs[1].tag == "a2"


def test_untaggable_garbage_gets_untagged_bad() -> None:
    conn = Connection()
    evs = events(conn, b'"quoted" NOOP\r\n+tag NOOP\r\n(\r\n')
    assert [e.tag for e in evs] == [None, None, None]
    assert all(e.data.startswith(b"* BAD ") for e in evs)


def test_unknown_command() -> None:
    conn = Connection()
    (err,) = events(conn, b"x1 FROBNICATE\r\n")
    assert err.data == b"x1 BAD Unknown command\r\n"


def test_bare_lf_and_empty_lines() -> None:
    conn = Connection()
    evs = events(conn, b"\r\n\na NOOP\nb NOOP\r\n", complete=False)
    assert evs == [c.Noop("a"), c.Noop("b")]


def test_synchronising_literal_gets_continuation_then_command() -> None:
    conn = in_state(AU)
    (cont,) = events(conn, b"a CREATE {4}\r\n", complete=False)
    assert cont == ContinuationRequest("a", 4, b"+ Ready for literal data\r\n")
    assert events(conn, b"fo", complete=False) == []
    assert events(conn, b"o/\r\n", complete=False) == [c.Create("a", "foo/")]


def test_literal_plus_needs_no_continuation() -> None:
    conn = in_state(AU)
    assert events(conn, b"a RENAME {1+}\r\nx {1+}\r\ny\r\n", complete=False) == [
        c.Rename("a", "x", "y")
    ]


def test_oversize_synchronising_literal_refused_before_reading() -> None:
    limits = Limits(max_literal_size=1000, max_argument_literal_size=100)
    conn = in_state(AU, limits=limits)
    (err,) = events(conn, b"a APPEND INBOX {1001}\r\n", complete=False)
    assert err.data.startswith(b"a NO [TOOBIG] ")
    # The client sent nothing more; the next command is parsed normally.
    assert events(conn, b"b NOOP\r\n", complete=False) == [c.Noop("b")]
    (err,) = events(conn, b"c CREATE {101}\r\n", complete=False)
    assert err.status == "BAD"


def test_oversize_nonsync_literal_is_skipped_without_buffering() -> None:
    limits = Limits(max_literal_size=1000, max_buffered_bytes=4096)
    conn = in_state(AU, limits=limits)
    assert events(conn, b"a APPEND INBOX {50000+}\r\n", complete=False) == []
    for _ in range(49):
        conn.receive_data(b"A" * 1000)
        assert conn.next_event() is NEED_DATA
        assert conn.buffered_bytes < 4096
    conn.receive_data(b"A" * 1000 + b" more args {3+}\r\nxyz\r\nb NOOP\r\n")
    err = conn.next_event()
    assert isinstance(err, CommandError) and err.data.startswith(b"a NO [TOOBIG]")
    assert conn.next_event() == c.Noop("b")


def test_literal_minus_limits_nonsync_literals_to_4096() -> None:
    conn = in_state(AU, limits=Limits(literal_minus=True))
    conn.receive_data(b"a APPEND INBOX {4097+}\r\n" + b"x" * 4097 + b"\r\nb NOOP\r\n")
    err = conn.next_event()
    assert isinstance(err, CommandError) and "4096" in err.text
    assert conn.next_event() == c.Noop("b")
    conn.receive_data(b"a APPEND INBOX {4096+}\r\n" + b"x" * 4096 + b"\r\n")
    assert isinstance(conn.next_event(), c.Append)


def test_preauth_literals_are_small() -> None:
    conn = Connection()
    (err,) = events(conn, b"a LOGIN {100000}\r\n")
    assert isinstance(err, CommandError)
    (err,) = events(conn, b"a APPEND INBOX {10}\r\n")
    assert err.text.endswith("Log in first")


def test_line_too_long_is_refused_and_skipped() -> None:
    conn = Connection(Limits(max_line_length=1000, max_buffered_bytes=4000))
    conn.receive_data(b"a1 NOOP " + b"x" * 3000)
    assert conn.next_event() is NEED_DATA
    assert conn.buffered_bytes < 1100
    conn.receive_data(b"y" * 3000)
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"z\r\na2 NOOP\r\n")
    err = conn.next_event()
    assert isinstance(err, CommandError) and err.tag == "a1" and "too long" in err.text
    assert conn.next_event() == c.Noop("a2")


def test_whole_overlong_line_in_one_chunk_is_refused() -> None:
    conn = in_state(AU, limits=Limits(max_line_length=100))
    conn.receive_data(b"a1 CREATE " + b"x" * 500 + b"\r\na2 NOOP\r\n")
    err = conn.next_event()
    assert isinstance(err, CommandError) and err.tag == "a1" and "too long" in err.text
    assert conn.next_event() == c.Noop("a2")


def test_overlong_sasl_line_ends_the_exchange() -> None:
    conn = Connection(Limits(max_line_length=100))
    (auth,) = events(conn, b"a1 AUTHENTICATE PLAIN\r\n", complete=False)
    conn.authenticate_challenge(auth)
    (err,) = events(conn, b"A" * 300 + b"\r\n", complete=False)
    assert isinstance(err, CommandError) and err.tag == "a1" and err.command == "AUTHENTICATE"
    assert events(conn, b"a2 NOOP\r\n", complete=False) == [c.Noop("a2")]


def test_line_too_long_ending_in_nonsync_literal_skips_it() -> None:
    conn = in_state(AU, limits=Limits(max_line_length=100))
    conn.receive_data(b"a1 CREATE " + b"x" * 500 + b" {5+}\r\nNOOP!\r\na2 NOOP\r\n")
    err = conn.next_event()
    assert isinstance(err, CommandError) and err.tag == "a1"
    assert conn.next_event() == c.Noop("a2")


def test_too_much_pipelined_input_pauses_then_byes() -> None:
    limits = Limits(max_buffered_bytes=2000, max_pipelined_commands=10)
    conn = Connection(limits)
    conn.receive_data(b"a NOOP\r\n" * 11)
    assert conn.should_pause_reading
    conn.receive_data(b"a NOOP\r\n" * 300)
    assert conn.buffered_bytes <= 2000
    bye = conn.next_event()
    assert isinstance(bye, Bye) and bye.data.startswith(b"* BYE ")
    conn.receive_data(b"more")
    assert conn.next_event() is NEED_DATA


def test_too_many_bad_commands_end_the_connection() -> None:
    conn = Connection(Limits(max_bad_commands=3))
    evs = events(conn, b"a BOGUS\r\n" * 5)
    assert [type(e) for e in evs] == [CommandError, CommandError, CommandError, Bye]
    assert evs[-1].data.endswith(b"* BYE Too many invalid commands\r\n")


def test_nesting_depth_is_bounded() -> None:
    conn = in_state(SE, limits=Limits(max_nesting_depth=10))
    (err,) = events(conn, b"a SEARCH " + b"(" * 11 + b"ALL" + b")" * 11 + b"\r\n")
    assert "nested" in err.text
    (err,) = events(conn, b"a SEARCH " + b"NOT " * 11 + b"ALL\r\n")
    assert "nested" in err.text
    (cmd,) = events(conn, b"a SEARCH " + b"(" * 9 + b"ALL" + b")" * 9 + b"\r\n", complete=False)
    assert isinstance(cmd, c.Search)


def test_nul_in_line_is_bad() -> None:
    conn = Connection()
    (err,) = events(conn, b"a NOOP\x00\r\n")
    assert err.tag == "a" and "NUL" in err.text


def test_idle_exchange() -> None:
    conn = in_state(SE)
    (idle,) = events(conn, b"A002 IDLE\r\n", complete=False)
    assert conn.start_idle(idle) == b"+ idling\r\n"
    assert conn.next_event() is NEED_DATA
    (done,) = events(conn, b"DONE\r\n", complete=False)
    assert done == IdleDone("A002", True)
    assert conn.complete(idle) == b"A002 OK IDLE completed\r\n"
    (idle,) = events(conn, b"A003 IDLE\r\n", complete=False)
    conn.start_idle(idle)
    (done,) = events(conn, b"A004 NOOP\r\n", complete=False)
    assert done == IdleDone("A003", False)
    assert conn.complete(idle, "BAD", "Expected DONE").startswith(b"A003 BAD")


def test_authenticate_exchange_and_cancel() -> None:
    conn = Connection()
    (auth,) = events(conn, b"A001 AUTHENTICATE PLAIN\r\n", complete=False)
    assert conn.authenticate_challenge(auth) == b"+ \r\n"
    (resp,) = events(conn, b"AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n", complete=False)
    assert resp == AuthenticateResponse("A001", b"\x00tim\x00tanstaaftanstaaf")
    conn.complete(auth)
    assert conn.state is AU
    conn = Connection()
    (auth,) = events(conn, b"A002 AUTHENTICATE SCRAM-SHA-256\r\n", complete=False)
    assert conn.authenticate_challenge(auth, b"r=abc") == b"+ cj1hYmM=\r\n"
    (resp,) = events(conn, b"*\r\n", complete=False)
    assert resp.cancelled
    assert conn.complete(auth, "BAD", "cancelled").startswith(b"A002 BAD")
    assert conn.state is NA
    (auth,) = events(conn, b"A003 AUTHENTICATE PLAIN\r\n", complete=False)
    conn.authenticate_challenge(auth)
    (err,) = events(conn, b"!!notbase64\r\n", complete=False)
    assert isinstance(err, CommandError) and err.tag == "A003"
    assert events(conn, b"a NOOP\r\n", complete=False) == [c.Noop("a")]


def test_starttls_discards_pipelined_plaintext() -> None:
    # CVE-2011-0411: a command injected after STARTTLS must never be read as if over TLS.
    conn = Connection()
    conn.receive_data(b"a STARTTLS\r\nb LOGIN evil injected\r\n")
    starttls = conn.next_event()
    assert conn.complete(starttls, "OK", "Begin TLS negotiation now").startswith(b"a OK")
    change = conn.next_event()
    assert change == StreamChange("tls", b"", len(b"b LOGIN evil injected\r\n"))
    conn.receive_data(b"c LOGIN more plaintext\r\n")  # arrives before the handshake: dropped
    assert conn.next_event() is NEED_DATA
    conn.stream_changed()
    assert conn.state is NA
    assert events(conn, b"d CAPABILITY\r\n", complete=False) == [c.Capability("d")]


def test_failed_starttls_changes_nothing() -> None:
    conn = Connection()
    conn.receive_data(b"a STARTTLS\r\nb NOOP\r\n")
    starttls = conn.next_event()
    conn.complete(starttls, "BAD", "TLS not available")
    assert conn.next_event() == c.Noop("b")


def test_compress_hands_over_pending_bytes() -> None:
    conn = in_state(AU)
    (compress,) = events(conn, b"a COMPRESS DEFLATE\r\nCOMPRESSED", complete=False)
    conn.complete(compress)
    assert conn.next_event() == StreamChange("compress", b"COMPRESSED", 0)
    conn.stream_changed()
    assert conn.state is AU
    assert events(conn, b"b NOOP\r\n", complete=False) == [c.Noop("b")]


def test_enable_switches_mailbox_names_to_utf8() -> None:
    conn = in_state(AU)
    (enable,) = events(conn, b"a ENABLE UTF8=ACCEPT QRESYNC\r\n", complete=False)
    assert conn.enable(enable.capabilities) == b"* ENABLED UTF8=ACCEPT QRESYNC\r\n"
    assert conn.utf8 and "CONDSTORE" in conn.enabled
    (create,) = events(conn, 'a CREATE "Répertoire"\r\n'.encode(), complete=False)
    assert create.mailbox == "Répertoire"


def test_eof() -> None:
    conn = Connection()
    conn.receive_data(b"a NOOP\r\nb NO")
    conn.receive_eof()
    assert conn.next_event() == c.Noop("a")
    assert conn.next_event() == ConnectionClosed()
    assert conn.next_event() is NEED_DATA


def test_big_append_literal_goes_straight_to_its_buffer() -> None:
    conn = in_state(AU, limits=Limits(max_buffered_bytes=10_000))
    message = b"x" * 200_000
    (cont,) = events(conn, b"a APPEND INBOX {200000}\r\n", complete=False)
    assert isinstance(cont, ContinuationRequest)
    for start in range(0, len(message), 8192):
        conn.receive_data(message[start : start + 8192])
    (append,) = events(conn, b"\r\n", complete=False)
    assert append.messages[0].data == message


SCRIPT = (
    b"a1 CAPABILITY\r\n"
    b"a2 LOGIN {3}\r\njoe {6+}\r\nsecret\r\n"
    b"a3 SELECT INBOX (CONDSTORE)\r\n"
    b"a4 UID FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (From To)]) (CHANGEDSINCE 5)\r\n"
    b"a5 bogus\r\n"
    b"a6 APPEND Sent (\\Seen) {12}\r\nhello\r\nworld\r\n"
    b'a7 SEARCH OR FROM {3}\r\nbob TO "x\\"y"\r\n'
    b"a8 UID STORE 1:5 +FLAGS.SILENT (\\Seen)\r\n"
    b"a9 FETCH 1 BODY[]<0.10>\r\n"
)


def _run_script(chunks: list[bytes]) -> list:
    conn = Connection()
    out = []
    for chunk in chunks:
        out.extend(events(conn, chunk))
    return out


def test_byte_by_byte_feeding_gives_the_same_events() -> None:
    whole = _run_script([SCRIPT])
    assert len([e for e in whole if isinstance(e, c.Command)]) == 8
    assert _run_script([SCRIPT[i : i + 1] for i in range(len(SCRIPT))]) == whole
    for step in (2, 3, 7, 13, 64):
        assert _run_script([SCRIPT[i : i + step] for i in range(0, len(SCRIPT), step)]) == whole
