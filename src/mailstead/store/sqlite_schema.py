"""The SQLite schema, as an ordered list of migrations run on open (`PRAGMA user_version`).

Each migration is applied once, inside the same `BEGIN IMMEDIATE` transaction that bumps
`user_version`, so two processes opening a fresh database at the same moment cannot both
apply it (the second waits for the write lock, then sees the new version and does nothing).
Never edit a released migration: append a new one.

Design notes
* Addresses and domains are stored lower-cased by `mailstead.store.names`, so plain UNIQUE
  constraints give case-insensitive uniqueness.
* Message bytes live in `blobs`, content-addressed (SHA-256) and reference-counted: one row
  per distinct message however many mailboxes hold it. Triggers keep `refcount` and
  `mailboxes.message_count` right whatever deletes a message (EXPUNGE, DELETE of a mailbox,
  removal of an account through ON DELETE CASCADE, which fires triggers in SQLite) and free
  the blob with its last reference, so no code path can forget.
* Flags: the five storable IMAP system flags are a bit mask (`system_flags`), keywords a
  space-separated list (IMAP atoms cannot contain spaces). Every change stamps the message
  with a new per-mailbox `modseq` (CONDSTORE, RFC 7162); expunges leave a tombstone in
  `expunged` with their modseq so QRESYNC can report VANISHED UIDs.
* Search text is indexed per blob in an FTS5 table with the trigram tokenizer and
  `remove_diacritics` (substring, case- and accent-insensitive matching as IMAP SEARCH
  wants; the stdlib's SQLite 3.40 is too old for that option). One row per blob, not per
  copy: a delivery to 50 recipients is indexed once. Indexing is deferred (see SEARCH_V2).
"""

from __future__ import annotations

from collections.abc import Callable

import apsw

from mailstead.store.base import StoreError

SCHEMA_V1 = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE domains (
    id      INTEGER PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    created INTEGER NOT NULL            -- unix time, microseconds
);

CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY,
    domain_id     INTEGER NOT NULL REFERENCES domains(id),
    address       TEXT NOT NULL UNIQUE,  -- lower-case local@domain
    password_hash TEXT NOT NULL,
    enabled       INTEGER NOT NULL DEFAULT 1,
    created       INTEGER NOT NULL
);
CREATE INDEX accounts_domain ON accounts(domain_id);

CREATE TABLE aliases (
    id        INTEGER PRIMARY KEY,
    domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    source    TEXT NOT NULL,             -- "user@dom" or "@dom" (catch-all)
    target    TEXT NOT NULL,
    UNIQUE (source, target)
);
CREATE INDEX aliases_domain ON aliases(domain_id);

CREATE TABLE mailboxes (
    id             INTEGER PRIMARY KEY,
    account_id     INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    uidvalidity    INTEGER NOT NULL,
    uidnext        INTEGER NOT NULL DEFAULT 1,
    highest_modseq INTEGER NOT NULL DEFAULT 1,
    message_count  INTEGER NOT NULL DEFAULT 0,
    subscribed     INTEGER NOT NULL DEFAULT 1,
    special_use    TEXT,
    UNIQUE (account_id, name)
);

CREATE TABLE blobs (
    id       INTEGER PRIMARY KEY,
    sha256   BLOB NOT NULL UNIQUE,
    size     INTEGER NOT NULL,
    refcount INTEGER NOT NULL DEFAULT 0,
    data     BLOB NOT NULL
);

CREATE TABLE messages (
    id            INTEGER PRIMARY KEY,
    mailbox_id    INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid           INTEGER NOT NULL,
    blob_id       INTEGER NOT NULL REFERENCES blobs(id),
    prefix        BLOB NOT NULL DEFAULT x'',
    size          INTEGER NOT NULL,      -- length(prefix) + blob size
    internal_date INTEGER NOT NULL,      -- unix time, microseconds
    modseq        INTEGER NOT NULL,
    system_flags  INTEGER NOT NULL DEFAULT 0,
    keywords      TEXT NOT NULL DEFAULT '',
    structure     BLOB NOT NULL,
    UNIQUE (mailbox_id, uid)
);
CREATE INDEX messages_blob ON messages(blob_id);
CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);

CREATE TABLE expunged (
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid        INTEGER NOT NULL,
    modseq     INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;

CREATE TABLE journey (
    id       INTEGER PRIMARY KEY,
    queue_id TEXT NOT NULL,
    at       INTEGER NOT NULL,           -- unix time, microseconds
    event    TEXT NOT NULL,
    detail   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX journey_queue_id ON journey(queue_id, at);

CREATE VIRTUAL TABLE search USING fts5(
    text,
    tokenize = 'trigram remove_diacritics 1'
);

CREATE TRIGGER messages_added AFTER INSERT ON messages BEGIN
    UPDATE blobs SET refcount = refcount + 1 WHERE id = NEW.blob_id;
    UPDATE mailboxes SET message_count = message_count + 1 WHERE id = NEW.mailbox_id;
END;

CREATE TRIGGER messages_removed AFTER DELETE ON messages BEGIN
    UPDATE mailboxes SET message_count = message_count - 1 WHERE id = OLD.mailbox_id;
    UPDATE blobs SET refcount = refcount - 1 WHERE id = OLD.blob_id;
    DELETE FROM search WHERE rowid = OLD.blob_id
        AND (SELECT refcount FROM blobs WHERE id = OLD.blob_id) = 0;
    DELETE FROM blobs WHERE id = OLD.blob_id AND refcount = 0;
END;
"""

Migration = Callable[[apsw.Connection], None]


def _script(sql: str) -> Migration:
    def run(conn: apsw.Connection) -> None:
        conn.execute(sql)

    return run


# Search indexing, measured (bench/bench_store.py --fts-only, CPU time): an FTS5 trigram
# insert of a 4 KiB message's text costs 160-370 us with the default `automerge` of 4 at
# the 1-10 rows per transaction group commit produces, against 22 us for the blob and
# message rows: ~90% of a delivery's transaction. So (1) `automerge` is raised to 16 (merge
# work in fewer, bigger steps: 180-276 -> 141-159 us at 10 rows per transaction) and (2) a
# delivery only queues its blob in `search_pending`; the writer indexes it in chunks when
# it has nothing else to do (and under sustained load once ~10,000 rows wait, see
# sqlite_writer.BACKGROUND_*). `text` is '' unless the caller gave one: the indexer then
# derives it from the blob (SQLiteStore._derive_text), off the delivery's transaction. A search first indexes the pending rows of its mailbox, so
# results are never stale.
SEARCH_V2 = """
INSERT INTO search (search, rank) VALUES ('automerge', 16);

CREATE TABLE search_pending (
    blob_id INTEGER PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
    text    TEXT NOT NULL
);
"""

# The queue id of the delivery that brought each message, so POP3 and IMAP can record a
# "fetched" journey event for it (appended messages have none: '').
MESSAGE_QUEUE_ID_V3 = """
ALTER TABLE messages ADD COLUMN queue_id TEXT NOT NULL DEFAULT '';
"""

# Removing a message's text from a (content-storing) FTS5 index re-tokenizes it: as costly
# as indexing it, and it made POP3's QUIT (one expunge of 200 messages) the writer's biggest
# job in bench/run_all.sh. So the last reference to a blob only queues its index row in
# `search_garbage`; the background indexer removes it. Blob ids can be reused (SQLite gives
# a new row the largest rowid + 1), so indexing a blob first clears garbage with its id, and
# searches only ever see index rows of live messages (they join `messages`).
SEARCH_GARBAGE_V4 = """
CREATE TABLE search_garbage (blob_id INTEGER PRIMARY KEY);

DROP TRIGGER messages_removed;
CREATE TRIGGER messages_removed AFTER DELETE ON messages BEGIN
    UPDATE mailboxes SET message_count = message_count - 1 WHERE id = OLD.mailbox_id;
    UPDATE blobs SET refcount = refcount - 1 WHERE id = OLD.blob_id;
    INSERT OR IGNORE INTO search_garbage (blob_id)
        SELECT OLD.blob_id
        WHERE (SELECT refcount FROM blobs WHERE id = OLD.blob_id) = 0
        AND NOT EXISTS (SELECT 1 FROM search_pending WHERE blob_id = OLD.blob_id);
    DELETE FROM blobs WHERE id = OLD.blob_id AND refcount = 0;
END;
"""

MIGRATIONS: list[Migration] = [
    _script(SCHEMA_V1),  # -> user_version 1
    _script(SEARCH_V2),  # -> 2
    _script(MESSAGE_QUEUE_ID_V3),  # -> 3
    _script(SEARCH_GARBAGE_V4),  # -> 4
]

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: apsw.Connection) -> int:
    """Apply pending migrations; return the schema version. Refuses a newer database."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").get
        assert isinstance(version, int)
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the database has schema version {version}, newer than this program's "
                f"{SCHEMA_VERSION}: upgrade mailstead"
            )
        for number in range(version, SCHEMA_VERSION):
            MIGRATIONS[number](conn)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return SCHEMA_VERSION
