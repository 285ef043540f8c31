"""Hypothesis strategies for typed IMAP commands (used by the round-trip tests)."""

from __future__ import annotations

import datetime

from hypothesis import strategies as st

from mailstead.proto.imap import STAR, SequenceSet
from mailstead.proto.imap import commands as c
from mailstead.proto.imap import search as s
from mailstead.proto.imap.fetch import SIMPLE_ATTRIBUTES, FetchAttribute, Section

tags = st.from_regex(r"[A-Za-z0-9.]{1,8}", fullmatch=True)
atoms = st.from_regex(r"[A-Z][A-Z0-9=.-]{0,10}", fullmatch=True)
keywords = st.from_regex(r"\$?[A-Za-z][A-Za-z0-9_]{0,10}", fullmatch=True)
flags = st.one_of(
    st.sampled_from(["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft", "\\Junk"]),
    keywords,
)
no_nul_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20
)
names = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r\n"), max_size=20
).filter(lambda n: n.upper() != "INBOX")
mailboxes = st.one_of(st.just("INBOX"), names)
numbers = st.integers(1, 2**32 - 1)
number64 = st.integers(0, 2**63 - 1)
bound = st.one_of(numbers, st.just(STAR))
sequence_sets = st.one_of(
    st.lists(st.tuples(bound, bound), min_size=1, max_size=5).map(lambda r: SequenceSet(tuple(r))),
    st.just(SequenceSet((), saved=True)),
)
dates = st.dates(datetime.date(1000, 1, 1), datetime.date(9999, 12, 31))


@st.composite
def date_times(draw: st.DrawFn) -> datetime.datetime:
    base = draw(st.datetimes(datetime.datetime(1000, 1, 2), datetime.datetime(9999, 12, 30)))
    minutes = draw(st.integers(-(23 * 60 + 59), 23 * 60 + 59))
    zone = datetime.timezone(datetime.timedelta(minutes=minutes))
    return base.replace(microsecond=0, tzinfo=zone)


def _leaf_keys() -> st.SearchStrategy[s.SearchKey]:
    return st.one_of(
        st.just(s.SearchAll()),
        st.builds(s.SearchFlag, flags, st.booleans()),
        st.just(s.SearchFlag("\\Recent", False)),
        st.builds(s.SearchText, st.sampled_from(s.TEXT_KEYS), no_nul_text),
        st.builds(s.SearchHeader, no_nul_text, no_nul_text),
        st.builds(s.SearchDate, st.sampled_from(["BEFORE", "ON", "SINCE"]), dates, st.booleans()),
        st.builds(s.SearchSize, st.sampled_from(["LARGER", "SMALLER"]), number64),
        st.builds(s.SearchSequence, sequence_sets, st.booleans()),
        st.builds(s.SearchModSeq, number64, st.none(), st.none()),  # no entry: both None
        st.builds(
            s.SearchModSeq, number64, no_nul_text, st.sampled_from(["priv", "shared", "all"])
        ),
        st.builds(s.SearchWithin, st.sampled_from(["OLDER", "YOUNGER"]), numbers),
    )


search_keys = st.recursive(
    _leaf_keys(),
    lambda inner: st.one_of(
        st.builds(s.SearchNot, inner),
        st.builds(s.SearchOr, inner, inner),
        st.lists(inner, min_size=2, max_size=3).map(lambda k: s.SearchAnd(tuple(k))),
    ),
    max_leaves=8,
)
programs = st.lists(search_keys, min_size=1, max_size=4).map(lambda k: s.SearchAnd(tuple(k)))
field_names = st.from_regex(r"[\x21-\x39\x3b-\x7e]{1,12}", fullmatch=True)
parts = st.lists(st.integers(1, 20), max_size=3).map(tuple)
partials = st.one_of(st.none(), st.tuples(st.integers(0, 2**31), st.integers(1, 2**31)))


@st.composite
def body_sections(draw: st.DrawFn) -> Section:
    part = draw(parts)
    texts = ["HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT"] + (["MIME"] if part else [])
    text = draw(st.one_of(st.none(), st.sampled_from(texts)))
    fields: tuple[str, ...] = ()
    if text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        fields = tuple(draw(st.lists(field_names, min_size=1, max_size=4)))
    return Section(part, text, fields)


fetch_attributes = st.one_of(
    st.sampled_from(sorted(SIMPLE_ATTRIBUTES)).map(FetchAttribute),
    st.builds(FetchAttribute, st.just("BODY"), body_sections(), st.booleans(), partials),
    st.builds(FetchAttribute, st.just("BINARY"), parts.map(Section), st.booleans(), partials),
    st.builds(FetchAttribute, st.just("BINARY.SIZE"), parts.map(Section)),
)


@st.composite
def fetches(draw: st.DrawFn) -> c.Fetch:
    uid = draw(st.booleans())
    changed = draw(st.one_of(st.none(), number64))
    vanished = uid and changed is not None and draw(st.booleans())
    attrs = tuple(draw(st.lists(fetch_attributes, min_size=1, max_size=6)))
    return c.Fetch(draw(tags), draw(sequence_sets), attrs, uid, changed, vanished)


qresyncs = st.builds(
    c.QResync,
    numbers,
    number64,
    st.one_of(st.none(), sequence_sets),
    st.one_of(st.none(), st.tuples(sequence_sets, sequence_sets)),
)
flag_tuples = st.lists(flags, max_size=4).map(tuple)
unique_options = lambda pool: st.lists(st.sampled_from(pool), unique=True, max_size=3).map(tuple)  # noqa: E731
status_items = st.lists(
    st.sampled_from(["MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE",
                     "RECENT", "HIGHESTMODSEQ", "APPENDLIMIT"]),
    min_size=1, max_size=4, unique=True,
).map(tuple)  # fmt: skip
return_options = st.one_of(st.none(), unique_options(["MIN", "MAX", "ALL", "COUNT", "SAVE"]))
append_messages = st.one_of(
    st.builds(
        c.AppendMessage,
        st.binary(max_size=40).filter(lambda d: b"\x00" not in d),
        flag_tuples,
        st.one_of(st.none(), date_times()),
    ),
    st.builds(c.AppendMessage, st.binary(max_size=40), flag_tuples, st.none(), st.just(True)),
)

commands = st.one_of(
    st.builds(c.Capability, tags),
    st.builds(c.Noop, tags),
    st.builds(c.Logout, tags),
    st.builds(
        c.Id,
        tags,
        st.one_of(
            st.none(),
            st.lists(st.tuples(no_nul_text, st.one_of(st.none(), no_nul_text)), max_size=4).map(
                tuple
            ),
        ),
    ),
    st.builds(c.StartTLS, tags),
    st.builds(c.Authenticate, tags, atoms, st.one_of(st.none(), st.binary(max_size=30))),
    st.builds(c.Login, tags, no_nul_text, no_nul_text),
    st.builds(c.Enable, tags, st.lists(atoms, min_size=1, max_size=3).map(tuple)),
    st.builds(c.Select, tags, mailboxes, st.booleans(), st.one_of(st.none(), qresyncs)),
    st.builds(c.Examine, tags, mailboxes, st.booleans(), st.one_of(st.none(), qresyncs)),
    st.builds(c.Create, tags, mailboxes, st.lists(flags, max_size=2).map(tuple)),
    st.builds(c.Delete, tags, mailboxes),
    st.builds(c.Rename, tags, mailboxes, mailboxes),
    st.builds(c.Subscribe, tags, mailboxes),
    st.builds(c.Unsubscribe, tags, mailboxes),
    st.builds(
        c.List,
        tags,
        names,
        st.lists(mailboxes, min_size=1, max_size=3).map(tuple),
        unique_options(["SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"]),
        unique_options(["SUBSCRIBED", "CHILDREN", "SPECIAL-USE"]),
        st.one_of(st.none(), status_items),
    ),
    st.builds(c.Lsub, tags, names, mailboxes),
    st.builds(c.Namespace, tags),
    st.builds(c.Status, tags, mailboxes, status_items),
    st.builds(
        c.Append, tags, mailboxes, st.lists(append_messages, min_size=1, max_size=3).map(tuple)
    ),
    st.builds(c.Idle, tags),
    st.builds(c.GetQuota, tags, no_nul_text),
    st.builds(c.GetQuotaRoot, tags, mailboxes),
    st.builds(
        c.SetQuota, tags, no_nul_text, st.lists(st.tuples(atoms, number64), max_size=3).map(tuple)
    ),
    st.builds(c.Compress, tags, st.just("DEFLATE")),
    st.builds(c.Check, tags),
    st.builds(c.Close, tags),
    st.builds(c.Unselect, tags),
    st.builds(c.Expunge, tags, st.one_of(st.none(), sequence_sets)),
    st.builds(
        c.Search,
        tags,
        programs,
        st.one_of(st.none(), st.sampled_from(["UTF-8", "US-ASCII"])),
        return_options,
        st.booleans(),
    ),
    fetches(),
    st.builds(
        c.Store,
        tags,
        sequence_sets,
        st.sampled_from(list(c.StoreMode)),
        flag_tuples,
        st.booleans(),
        st.one_of(st.none(), number64),
        st.booleans(),
    ),
    st.builds(c.Copy, tags, sequence_sets, mailboxes, st.booleans()),
    st.builds(c.Move, tags, sequence_sets, mailboxes, st.booleans()),
    st.builds(
        c.Sort,
        tags,
        st.lists(
            st.builds(
                c.SortCriterion,
                st.sampled_from(["ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO"]),
                st.booleans(),
            ),
            min_size=1,
            max_size=3,
        ).map(tuple),
        st.sampled_from(["UTF-8", "US-ASCII"]),
        programs,
        st.booleans(),
        return_options,
    ),
    st.builds(
        c.Thread,
        tags,
        st.sampled_from(["ORDEREDSUBJECT", "REFERENCES", "REFS"]),
        st.sampled_from(["UTF-8", "US-ASCII"]),
        programs,
        st.booleans(),
    ),
)
