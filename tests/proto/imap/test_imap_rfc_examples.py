"""Commands from the examples of RFC 9051 and the extension RFCs, parsed to typed values."""

from __future__ import annotations

import datetime

import pytest
from imap_helpers import events, in_state, parse_one

from mailstead.proto.imap import STAR, CommandError, ContinuationRequest, SequenceSet, State
from mailstead.proto.imap import commands as c
from mailstead.proto.imap import search as s
from mailstead.proto.imap.fetch import FetchAttribute, Section

NA, AU, SE = State.NOT_AUTHENTICATED, State.AUTHENTICATED, State.SELECTED


def seq(*ranges: tuple[int, int]) -> SequenceSet:
    return SequenceSet(tuple(ranges))


def test_any_state_commands() -> None:
    assert parse_one(b"abcd CAPABILITY\r\n", state=NA) == c.Capability("abcd")
    assert parse_one(b"a002 NOOP\r\n", state=SE) == c.Noop("a002")
    assert parse_one(b"A023 LOGOUT\r\n", state=AU) == c.Logout("A023")


def test_not_authenticated_commands() -> None:
    assert parse_one(b"a002 STARTTLS\r\n", state=NA) == c.StartTLS("a002")
    assert parse_one(b"a001 LOGIN SMITH SESAME\r\n", state=NA) == c.Login("a001", "SMITH", "SESAME")
    # RFC 9051 §6.2.2 / RFC 4959 SASL-IR
    assert parse_one(b"A001 AUTHENTICATE GSSAPI\r\n", state=NA) == c.Authenticate("A001", "GSSAPI")
    assert parse_one(b"a AUTHENTICATE PLAIN AGZyZWQAdHJ5\r\n", state=NA) == c.Authenticate(
        "a", "PLAIN", b"\x00fred\x00try"
    )
    assert parse_one(b"a AUTHENTICATE EXTERNAL =\r\n", state=NA) == c.Authenticate(
        "a", "EXTERNAL", b""
    )


def test_login_with_literal_and_quoted() -> None:
    conn = in_state(NA)
    evs = events(conn, b"a001 LOGIN {11}\r\n", complete=False)
    assert evs == [ContinuationRequest("a001", 11, b"+ Ready for literal data\r\n")]
    (login,) = events(conn, b'FRED FOOBAR "fat\\"man\\\\"\r\n', complete=False)
    assert login == c.Login("a001", "FRED FOOBAR", 'fat"man\\')


def test_enable_select_examine() -> None:
    assert parse_one(b"t2 ENABLE CONDSTORE X-GOOD-IDEA\r\n", state=AU) == c.Enable(
        "t2", ("CONDSTORE", "X-GOOD-IDEA")
    )
    assert parse_one(b"A142 SELECT INBOX\r\n", state=AU) == c.Select("A142", "INBOX")
    assert parse_one(b"A932 EXAMINE blurdybloop\r\n", state=AU) == c.Examine("A932", "blurdybloop")
    assert parse_one(b"a SELECT inbox\r\n", state=AU).mailbox == "INBOX"
    # RFC 7162 §3.1.8
    assert parse_one(b"a SELECT INBOX (CONDSTORE)\r\n", state=AU) == c.Select("a", "INBOX", True)


def test_qresync_select() -> None:
    # RFC 7162 §3.2.5.2
    line = b"A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n"
    cmd = parse_one(line, state=AU, enabled=("QRESYNC",))
    assert cmd == c.Select(
        "A02",
        "INBOX",
        qresync=c.QResync(67890007, 20050715194045000, seq((41, 41), (43, 211), (214, 541))),
    )
    line = (
        b"B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541 "
        b"(1:15,100:120 15,24,49,52,65,78,87,94,107,125,132,139,146,153)))\r\n"
    )
    cmd = parse_one(line, state=AU, enabled=("QRESYNC",))
    assert cmd.qresync.sequence_match[0] == seq((1, 15), (100, 120))
    assert len(cmd.qresync.sequence_match[1].ranges) == 14
    # QRESYNC without ENABLE QRESYNC is a BAD (RFC 7162 §3.2.5)
    err = parse_one(b"a SELECT INBOX (QRESYNC (1 2))\r\n", state=AU)
    assert isinstance(err, CommandError) and err.status == "BAD"


def test_mailbox_management() -> None:
    assert parse_one(b"A003 CREATE owatagusiam/\r\n", state=AU) == c.Create("A003", "owatagusiam/")
    # RFC 6154 §5.2
    assert parse_one(b"t1 CREATE MySpecial (USE (\\Drafts \\Sent))\r\n", state=AU) == c.Create(
        "t1", "MySpecial", ("\\Drafts", "\\Sent")
    )
    assert parse_one(b"A683 DELETE blurdybloop\r\n", state=AU) == c.Delete("A683", "blurdybloop")
    assert parse_one(b"A683 RENAME blurdybloop sarasoop\r\n", state=AU) == c.Rename(
        "A683", "blurdybloop", "sarasoop"
    )
    assert parse_one(b"A002 SUBSCRIBE #news.comp.mail.mime\r\n", state=AU) == c.Subscribe(
        "A002", "#news.comp.mail.mime"
    )
    assert parse_one(b"A002 UNSUBSCRIBE #news.comp.mail.mime\r\n", state=AU) == c.Unsubscribe(
        "A002", "#news.comp.mail.mime"
    )
    assert parse_one(b"A001 NAMESPACE\r\n", state=AU) == c.Namespace("A001")


def test_modified_utf7_and_utf8_mailbox_names() -> None:
    # RFC 3501 §5.1.3 example, and the same name once UTF8=ACCEPT is enabled (RFC 6855).
    cmd = parse_one(b"a CREATE ~peter/mail/&U,BTFw-/&ZeVnLIqe-\r\n", state=AU)
    assert cmd.mailbox == "~peter/mail/台北/日本語"
    utf8 = "~peter/mail/台北/日本語".encode()
    cmd = parse_one(b'a CREATE "' + utf8 + b'"\r\n', state=AU, enabled=("UTF8=ACCEPT",))
    assert cmd.mailbox == "~peter/mail/台北/日本語"
    # Under UTF-8 "&" is just a character.
    cmd = parse_one(b"a CREATE A&B\r\n", state=AU, enabled=("IMAP4rev2",))
    assert cmd.mailbox == "A&B"
    err = parse_one(b"a CREATE &Jjo!\r\n", state=AU)
    assert isinstance(err, CommandError)


def test_list_forms() -> None:
    assert parse_one(b'A101 LIST "" ""\r\n', state=AU) == c.List("A101", "", ("",))
    assert parse_one(b'A102 LIST #news.comp.mail.misc ""\r\n', state=AU) == c.List(
        "A102", "#news.comp.mail.misc", ("",)
    )
    assert parse_one(b"A202 LIST ~/Mail/ %\r\n", state=AU) == c.List("A202", "~/Mail/", ("%",))
    # RFC 5258 §5
    cmd = parse_one(b'A04 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%" RETURN (CHILDREN)\r\n', state=AU)
    assert cmd == c.List("A04", "", ("%",), ("SUBSCRIBED", "RECURSIVEMATCH"), ("CHILDREN",))
    assert cmd.extended
    cmd = parse_one(b'A05 LIST "" ("INBOX" "Drafts" "Sent/%")\r\n', state=AU)
    assert cmd.patterns == ("INBOX", "Drafts", "Sent/%")
    # RFC 5819 LIST-STATUS
    cmd = parse_one(b'A01 LIST "" % RETURN (STATUS (MESSAGES UNSEEN))\r\n', state=AU)
    assert cmd.status_items == ("MESSAGES", "UNSEEN")
    # RFC 6154 SPECIAL-USE
    cmd = parse_one(b't1 LIST (SPECIAL-USE) "" "*" RETURN (SPECIAL-USE)\r\n', state=AU)
    assert cmd.selection == ("SPECIAL-USE",) and cmd.return_options == ("SPECIAL-USE",)
    assert parse_one(b'A002 LSUB "#news." "comp.mail.*"\r\n', state=AU) == c.Lsub(
        "A002", "#news.", "comp.mail.*"
    )


def test_status() -> None:
    assert parse_one(b"A042 STATUS blurdybloop (UIDNEXT MESSAGES)\r\n", state=AU) == c.Status(
        "A042", "blurdybloop", ("UIDNEXT", "MESSAGES")
    )
    cmd = parse_one(
        b"a STATUS INBOX (SIZE HIGHESTMODSEQ APPENDLIMIT DELETED RECENT UNSEEN UIDVALIDITY)\r\n",
        state=AU,
    )
    assert cmd.items == (
        "SIZE", "HIGHESTMODSEQ", "APPENDLIMIT", "DELETED", "RECENT", "UNSEEN", "UIDVALIDITY",
    )  # fmt: skip
    assert isinstance(parse_one(b"a STATUS INBOX (BOGUS)\r\n", state=AU), CommandError)


RFC9051_APPEND_MESSAGE = (
    b"Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
    b"From: Fred Foobar <foobar@Blurdybloop.example>\r\n"
    b"Subject: afternoon meeting\r\n"
    b"To: mooch@owatagu.siam.edu.example\r\n"
    b"Message-Id: <B27397-0100000@Blurdybloop.example>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
    b"\r\n"
    b"Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n"
)


def test_append_rfc9051() -> None:
    conn = in_state(AU)
    head = b"A003 APPEND saved-messages (\\Seen) {%d}\r\n" % len(RFC9051_APPEND_MESSAGE)
    (cont,) = events(conn, head, complete=False)
    assert isinstance(cont, ContinuationRequest) and cont.size == len(RFC9051_APPEND_MESSAGE)
    (cmd,) = events(conn, RFC9051_APPEND_MESSAGE + b"\r\n", complete=False)
    assert cmd == c.Append(
        "A003", "saved-messages", (c.AppendMessage(RFC9051_APPEND_MESSAGE, ("\\Seen",)),)
    )


def test_append_date_multiappend_binary() -> None:
    # RFC 3502 MULTIAPPEND, RFC 3516 BINARY, RFC 7888 LITERAL+
    line = (
        b'A003 APPEND saved-messages (\\Seen) " 7-Feb-1994 21:52:25 -0800" {5+}\r\nhello'
        b" (\\Draft $Junk) ~{4+}\r\nb\x00in {0+}\r\n\r\n"
    )
    cmd = parse_one(line, state=AU)
    when = datetime.datetime(
        1994, 2, 7, 21, 52, 25, tzinfo=datetime.timezone(-datetime.timedelta(hours=8))
    )
    assert cmd.messages == (
        c.AppendMessage(b"hello", ("\\Seen",), when),
        c.AppendMessage(b"b\x00in", ("\\Draft", "$Junk"), None, True),
        c.AppendMessage(b""),
    )
    # NUL only in literal8
    err = parse_one(b"a APPEND x {3+}\r\na\x00b\r\n", state=AU)
    assert isinstance(err, CommandError)
    # RFC 6855 APPEND UTF8
    cmd = parse_one(b"a APPEND x UTF8 (~{2+}\r\nhi)\r\n", state=AU)
    assert cmd.messages == (c.AppendMessage(b"hi", binary=True),)


def test_idle_check_close_unselect_expunge() -> None:
    assert parse_one(b"A002 IDLE\r\n", state=SE) == c.Idle("A002")
    assert parse_one(b"FXXZ CHECK\r\n") == c.Check("FXXZ")
    assert parse_one(b"A341 CLOSE\r\n") == c.Close("A341")
    assert parse_one(b"A342 UNSELECT\r\n") == c.Unselect("A342")
    assert parse_one(b"A202 EXPUNGE\r\n") == c.Expunge("A202")
    assert parse_one(b"A003 UID EXPUNGE 3000:3002\r\n") == c.Expunge("A003", seq((3000, 3002)))


def test_search_rfc9051() -> None:
    cmd = parse_one(b'A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"\r\n')
    assert cmd == c.Search(
        "A282",
        s.SearchAnd(
            (
                s.SearchFlag("\\Flagged"),
                s.SearchDate("SINCE", datetime.date(1994, 2, 1)),
                s.SearchNot(s.SearchText("FROM", "Smith")),
            )
        ),
        return_options=("MIN", "COUNT"),
    )
    cmd = parse_one(b'A283 SEARCH RETURN () FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"\r\n')
    assert cmd.return_options == ()
    cmd = parse_one(b'A284 SEARCH TEXT "string not in mailbox"\r\n')
    assert cmd.key == s.SearchAnd((s.SearchText("TEXT", "string not in mailbox"),))
    conn = in_state(SE)
    evs = events(conn, b"A285 SEARCH CHARSET UTF-8 TEXT {12}\r\n", complete=False)
    assert isinstance(evs[0], ContinuationRequest)
    (cmd,) = events(conn, "Русский".encode()[:12] + b"\r\n", complete=False)
    assert cmd.charset == "UTF-8" and cmd.key.keys[0].value == "Русски"
    cmd = parse_one(b"A286 SEARCH CHARSET KOI8-R ALL\r\n")
    assert isinstance(cmd, CommandError) and cmd.status == "NO"
    assert b"[BADCHARSET" in cmd.data


def test_search_every_key() -> None:
    line = (
        b"a UID SEARCH ALL ANSWERED BCC b BEFORE 1-Jan-2000 BODY x CC y DELETED DRAFT FLAGGED "
        b"FROM f HEADER X-A v KEYWORD $Junk LARGER 10 NOT SEEN OR ON 2-Feb-2001 SENTON 3-Mar-2002 "
        b"SEEN SENTBEFORE 4-Apr-2003 SENTSINCE 5-May-2004 SINCE 6-Jun-2005 SMALLER 99 SUBJECT s "
        b"TEXT t TO u UID 1:*,7 UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNKEYWORD $X UNSEEN "
        b"2,4:* $ NEW OLD RECENT (SEEN FLAGGED) MODSEQ 5 OLDER 60 YOUNGER 30\r\n"
    )
    cmd = parse_one(line)
    keys = cmd.key.keys
    assert cmd.uid
    assert keys[0] == s.SearchAll()
    assert s.SearchHeader("X-A", "v") in keys
    assert s.SearchFlag("$Junk") in keys and s.SearchFlag("$X", False) in keys
    assert (
        s.SearchOr(
            s.SearchDate("ON", datetime.date(2001, 2, 2)),
            s.SearchDate("ON", datetime.date(2002, 3, 3), False),
        )
        in keys
    )
    assert s.SearchSequence(SequenceSet(((1, STAR), (7, 7))), uid=True) in keys
    assert s.SearchSequence(SequenceSet(((2, 2), (4, STAR)))) in keys
    assert s.SearchSequence(SequenceSet((), saved=True)) in keys
    assert s.SearchAnd((s.SearchFlag("\\Seen"), s.SearchFlag("\\Flagged"))) in keys
    assert s.SearchModSeq(5) in keys
    assert s.SearchWithin("OLDER", 60) in keys and s.SearchWithin("YOUNGER", 30) in keys
    assert len(keys) == 39


def test_search_modseq_rfc7162() -> None:
    cmd = parse_one(b'a SEARCH MODSEQ "/flags/\\\\draft" all 620162338\r\n')
    assert cmd.key.keys == (s.SearchModSeq(620162338, "/flags/\\draft", "all"),)


def test_esearch_rfc4731_and_searchres_rfc5182() -> None:
    cmd = parse_one(b"A282 SEARCH RETURN (MIN MAX) 1:5000\r\n")
    assert cmd.return_options == ("MIN", "MAX")
    cmd = parse_one(b'A301 UID SEARCH RETURN (SAVE) SINCE 1-Jan-2004 NOT FROM "Smith"\r\n')
    assert cmd.return_options == ("SAVE",) and cmd.uid
    cmd = parse_one(b"A303 UID COPY $ /archive/2004\r\n")
    assert cmd == c.Copy("A303", SequenceSet((), saved=True), "/archive/2004", True)
    cmd = parse_one(b"C01 UID SEARCH RETURN (ALL SAVE) UID $ SMALLER 4096\r\n")
    assert cmd.key.keys[0] == s.SearchSequence(SequenceSet((), saved=True), uid=True)
    assert isinstance(parse_one(b"a SEARCH RETURN (BOGUS) ALL\r\n"), CommandError)


def test_fetch_rfc9051() -> None:
    cmd = parse_one(b"A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])\r\n")
    assert cmd == c.Fetch(
        "A654",
        seq((2, 4)),
        (
            FetchAttribute("FLAGS"),
            FetchAttribute("BODY", Section((), "HEADER.FIELDS", ("DATE", "FROM"))),
        ),
    )
    cmd = parse_one(b"a FETCH 1 FULL\r\n")
    assert [a.name for a in cmd.attributes] == [
        "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY",
    ]  # fmt: skip
    cmd = parse_one(b"a FETCH 1 fast\r\n")
    assert len(cmd.attributes) == 3
    cmd = parse_one(b"a FETCH 1 (ALL)\r\n")
    assert isinstance(cmd, CommandError)  # macros stand alone


def test_fetch_every_attribute() -> None:
    line = (
        b"a UID FETCH 1:* (ENVELOPE FLAGS INTERNALDATE RFC822.SIZE UID BODYSTRUCTURE BODY RFC822 "
        b"RFC822.HEADER RFC822.TEXT MODSEQ BODY[] BODY.PEEK[TEXT]<0.2048> BODY[1.2.MIME] "
        b"BODY[2.HEADER] BODY[3.TEXT]<10.20> BODY[HEADER.FIELDS.NOT (Received X-Spam)] "
        b"BODY.PEEK[1.HEADER.FIELDS (Subject)]<0.100> BINARY[1] BINARY.PEEK[1.2]<5.10> "
        b"BINARY.SIZE[3] BINARY[] EMAILID THREADID SAVEDATE)\r\n"
    )
    cmd = parse_one(line)
    attrs = cmd.attributes
    assert len(attrs) == 25
    assert attrs[11] == FetchAttribute("BODY", Section(), False)
    assert attrs[12] == FetchAttribute("BODY", Section((), "TEXT"), True, (0, 2048))
    assert attrs[13].section == Section((1, 2), "MIME")
    assert attrs[16].section.spec() == "HEADER.FIELDS.NOT (Received X-Spam)"
    assert attrs[17] == FetchAttribute(
        "BODY", Section((1,), "HEADER.FIELDS", ("Subject",)), True, (0, 100)
    )
    assert attrs[17].response_key() == b"BODY[1.HEADER.FIELDS (Subject)]<0>"
    assert attrs[18] == FetchAttribute("BINARY", Section((1,)))
    assert attrs[19] == FetchAttribute("BINARY", Section((1, 2)), True, (5, 10))
    assert attrs[20] == FetchAttribute("BINARY.SIZE", Section((3,)))
    assert attrs[12].sets_seen is False and attrs[11].sets_seen is True
    for bad in (
        b"BODY[MIME]",
        b"BINARY[HEADER]",
        b"BODY[1.]",
        b"BODY[0]",
        b"BINARY.SIZE[1]<0.1>",
        b"BODY[]<1.0>",
        b"BODY[HEADER.FIELDS]",
    ):
        assert isinstance(parse_one(b"a FETCH 1 (" + bad + b")\r\n"), CommandError), bad


def test_fetch_condstore_qresync_modifiers() -> None:
    # RFC 7162 §3.1.4.2 and §3.2.6
    cmd = parse_one(b"s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)\r\n")
    assert cmd.changed_since == 12345 and not cmd.vanished
    cmd = parse_one(
        b"A02 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n", enabled=("QRESYNC",)
    )
    assert cmd.vanished and cmd.changed_since == 12345
    assert isinstance(
        parse_one(b"a FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)\r\n", enabled=("QRESYNC",)),
        CommandError,
    )
    assert isinstance(
        parse_one(b"a UID FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)\r\n"), CommandError
    )


def test_store() -> None:
    cmd = parse_one(b"A003 STORE 2:4 +FLAGS (\\Deleted)\r\n")
    assert cmd == c.Store("A003", seq((2, 4)), c.StoreMode.ADD, ("\\Deleted",))
    cmd = parse_one(b"a UID STORE 1:5 -FLAGS.SILENT \\seen $Label1\r\n")
    assert cmd == c.Store(
        "a", seq((1, 5)), c.StoreMode.REMOVE, ("\\Seen", "$Label1"), True, uid=True
    )
    # RFC 7162 §3.1.3
    cmd = parse_one(
        b"a103 UID STORE 6,4,8 (UNCHANGEDSINCE 12121230045) +FLAGS.SILENT (\\Deleted)\r\n"
    )
    assert cmd.unchanged_since == 12121230045 and cmd.silent
    cmd = parse_one(b"a STORE 1 FLAGS ()\r\n")
    assert cmd.mode is c.StoreMode.REPLACE and cmd.flags == ()
    assert isinstance(parse_one(b"a STORE 1 +FLAGZ (\\Seen)\r\n"), CommandError)


def test_copy_move() -> None:
    assert parse_one(b"A003 COPY 2:4 MEETING\r\n") == c.Copy("A003", seq((2, 4)), "MEETING")
    # RFC 6851
    assert parse_one(b"a UID MOVE 42:69 foo\r\n") == c.Move("a", seq((42, 69)), "foo", True)
    assert parse_one(b"a MOVE 1:* Trash\r\n") == c.Move("a", seq((1, STAR)), "Trash")


def test_sort_thread_rfc5256() -> None:
    cmd = parse_one(b"A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994\r\n")
    assert cmd == c.Sort(
        "A282",
        (c.SortCriterion("SUBJECT"),),
        "UTF-8",
        s.SearchAnd((s.SearchDate("SINCE", datetime.date(1994, 2, 1)),)),
    )
    cmd = parse_one(b"A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL\r\n")
    assert cmd.criteria == (c.SortCriterion("SUBJECT"), c.SortCriterion("DATE", True))
    cmd = parse_one(b'A284 SORT (SUBJECT) US-ASCII TEXT "not in mailbox"\r\n')
    assert cmd.charset == "US-ASCII"
    cmd = parse_one(b"A283 UID THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000\r\n")
    assert cmd == c.Thread(
        "A283", "ORDEREDSUBJECT", "UTF-8",
        s.SearchAnd((s.SearchDate("SINCE", datetime.date(2000, 3, 5)),)), True,
    )  # fmt: skip
    assert parse_one(b'A284 THREAD REFERENCES US-ASCII TEXT "gewp"\r\n').algorithm == "REFERENCES"
    assert isinstance(parse_one(b"a SORT (REVERSE) UTF-8 ALL\r\n"), CommandError)
    assert isinstance(parse_one(b"a THREAD BOGUS UTF-8 ALL\r\n"), CommandError)


def test_id_rfc2971() -> None:
    cmd = parse_one(
        b'a023 ID ("name" "sodr" "version" "19.34" "vendor" "Pink Floyd Music Limited")\r\n',
        state=NA,
    )
    assert cmd == c.Id(
        "a023", (("name", "sodr"), ("version", "19.34"), ("vendor", "Pink Floyd Music Limited"))
    )
    assert parse_one(b"a ID NIL\r\n", state=SE) == c.Id("a", None)
    assert parse_one(b'a ID ("os" NIL)\r\n', state=AU) == c.Id("a", (("os", None),))


def test_quota_rfc9208() -> None:
    assert parse_one(b'G0001 GETQUOTA "!partition/sda4"\r\n', state=AU) == c.GetQuota(
        "G0001", "!partition/sda4"
    )
    assert parse_one(b"G0002 GETQUOTAROOT INBOX\r\n", state=AU) == c.GetQuotaRoot("G0002", "INBOX")
    assert parse_one(b'S0000 SETQUOTA "User quota" (STORAGE 512)\r\n', state=AU) == c.SetQuota(
        "S0000", "User quota", (("STORAGE", 512),)
    )
    cmd = parse_one(b'S0001 SETQUOTA "" (STORAGE 512 MESSAGE 100)\r\n', state=AU)
    assert cmd.limits == (("STORAGE", 512), ("MESSAGE", 100))


def test_compress_rfc4978() -> None:
    assert parse_one(b"a COMPRESS DEFLATE\r\n", state=AU) == c.Compress("a", "DEFLATE")


@pytest.mark.parametrize(
    ("line", "state"),
    [
        (b"a FETCH 1 (FLAGS)\r\n", AU),
        (b"a SELECT INBOX\r\n", NA),
        (b"a LOGIN u p\r\n", AU),
        (b"a STARTTLS\r\n", SE),
        (b"a ENABLE UTF8=ACCEPT\r\n", NA),
    ],
)
def test_commands_in_the_wrong_state_are_bad(line: bytes, state: State) -> None:
    err = parse_one(line, state=state)
    assert isinstance(err, CommandError) and err.status == "BAD" and err.tag == "a"


@pytest.mark.parametrize(
    "line",
    [
        # mutt
        b"a0005 FETCH 1:3 (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (DATE FROM "
        b"SENDER SUBJECT TO CC MESSAGE-ID REFERENCES CONTENT-TYPE CONTENT-DESCRIPTION IN-REPLY-TO "
        b"REPLY-TO LINES LIST-POST X-LABEL)])\r\n",
        # Thunderbird, lower-case command word
        b"12 UID fetch 1:* (FLAGS)\r\n",
        b'13 UID fetch 4 (UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS ("From" "Subject")])\r\n',
        # Apple Mail / iOS
        b"14 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1)\r\n",
        b"15 UID SEARCH 1:* NOT DELETED\r\n",
        b"16 SEARCH CHARSET utf-8 SUBJECT caf\xc3\xa9\r\n",
        b"17 STORE 1 +FLAGS.SILENT \\Deleted\r\n",
        b"18 UID STORE 7 -FLAGS.SILENT ($MDNSent NonJunk)\r\n",
        b"19 FETCH 2 BODY.PEEK[1.2]<0.4096>\r\n",
        b"20 FETCH 2 (BODYSTRUCTURE ENVELOPE)\r\n",
    ],
)
def test_real_client_idioms(line: bytes) -> None:
    assert isinstance(parse_one(line), c.Command)


@pytest.mark.parametrize(
    "line",
    [
        b'A LIST "" "*"\r\n',
        b'B LIST "" "%" RETURN (SPECIAL-USE)\r\n',
        b'C STATUS "INBOX" (MESSAGES UNSEEN RECENT)\r\n',
        b'D ID ("name" "Thunderbird" "version" "115.0")\r\n',
        b'E SELECT "INBOX"\r\n',
        b"F APPEND Sent (\\Seen) {3+}\r\nabc\r\n",
    ],
)
def test_real_client_idioms_authenticated(line: bytes) -> None:
    assert isinstance(parse_one(line, state=AU), c.Command)


def test_rfc7888_literal_plus_example() -> None:
    conn = in_state(NA)
    evs = events(conn, b"A001 LOGIN {11+}\r\nFRED FOOBAR {7+}\r\nfat man\r\n", complete=False)
    assert evs == [c.Login("A001", "FRED FOOBAR", "fat man")]


def test_more_rfc_examples() -> None:
    # RFC 9051 §6.4.5, §6.4.9
    cmd = parse_one(b"A999 UID FETCH 4827313:4828442 FLAGS\r\n")
    assert cmd == c.Fetch("A999", seq((4827313, 4828442)), (FetchAttribute("FLAGS"),), True)
    cmd = parse_one(b"A999 UID SEARCH 1:100 UID 443:557\r\n")
    assert cmd.key.keys == (
        s.SearchSequence(seq((1, 100))),
        s.SearchSequence(seq((443, 557)), uid=True),
    )
    # RFC 3516 §4.1
    cmd = parse_one(b"t FETCH 1 (BINARY.SIZE[2] BINARY.PEEK[2])\r\n")
    assert cmd.attributes == (
        FetchAttribute("BINARY.SIZE", Section((2,))),
        FetchAttribute("BINARY", Section((2,)), True),
    )
    # RFC 5258 §5
    assert parse_one(b'A03 LIST (REMOTE) "" *\r\n', state=AU).selection == ("REMOTE",)
    cmd = parse_one(b'A05 LIST (SUBSCRIBED) "" "*" RETURN (CHILDREN SUBSCRIBED)\r\n', state=AU)
    assert cmd.return_options == ("CHILDREN", "SUBSCRIBED")
    # RFC 7162 §3.1.4.1 (MODSEQ as a fetch attribute) and §3.1.5 (SEARCH MODSEQ)
    cmd = parse_one(b"a FETCH 1:* (FLAGS MODSEQ)\r\n")
    assert cmd.attributes[1] == FetchAttribute("MODSEQ")
    cmd = parse_one(b"a SEARCH MODSEQ 620162338\r\n")
    assert cmd.key.keys == (s.SearchModSeq(620162338),)
    # RFC 4315 / RFC 9051 UID EXPUNGE and RFC 5182 after SAVE
    assert parse_one(b"a UID EXPUNGE $\r\n") == c.Expunge("a", SequenceSet((), saved=True))
    assert parse_one(b"A304 FETCH $ (UID FLAGS)\r\n").sequence.saved
