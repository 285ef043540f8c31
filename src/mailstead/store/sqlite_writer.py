"""Group commit: one writer thread, one connection, one transaction per batch of callers.

Callers submit a work item (a function of the connection) and await an asyncio future. The
writer takes the first waiting item, drains everything else already queued (no fixed wait
window: a window only adds latency at low concurrency), runs the batch in ONE transaction
with each item inside its own SAVEPOINT (so one failing item fails alone), COMMITs, and only
then resolves the futures and publishes the items' change events on the caller's loop. The
fsync of one commit is thus shared by every caller that arrived while the previous commit
was running: the busier the server, the bigger the batches.

Checkpoints run beside the writer, not inside its commits. SQLite's automatic checkpoint
(every `wal_autocheckpoint` pages, in the committing connection) would copy each page a
second time, read it back from the WAL and fsync the database while every caller of the
next batch waits: with 100 KiB messages, a third of the writer's system calls. Instead a
WAL hook on the writer's connection wakes a checkpointer thread with its own connection
once the WAL holds `CHECKPOINT_WAL_BYTES`; its PASSIVE checkpoint copies pages into the
database while the writer goes on appending (WAL mode allows both at once), and the writer
restarts the WAL from its start (a short RESTART checkpoint between two batches) once the
checkpointer has caught up. No checkpoint can reset the WAL while a reader holds an old
snapshot, so under a steady stream of readers the WAL could still grow: when the writer
has been idle for `IDLE_CHECKPOINT_SECONDS`, or every `CHECKPOINT_EVERY_COMMITS` commits, it runs
`wal_checkpoint(TRUNCATE)` with a zero busy timeout (it never waits for readers: a busy
checkpoint just tries again later), and `journal_size_limit` caps what a reset WAL keeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import apsw

from mailstead.store.base import StoreError
from mailstead.store.events import ChangeEvent

log = logging.getLogger(__name__)

# A work item returns its result and the change events to publish once it is committed.
Work = Callable[[apsw.Connection], tuple[Any, list[ChangeEvent]]]
# Deferrable work: `background(conn, max_rows, should_yield) -> (more_left, rows_done)`; it
# checks `should_yield()` between rows and returns early when it is true.
Background = Callable[[apsw.Connection, int, Callable[[], bool]], tuple[bool, int]]

BUSY_TIMEOUT_MS = 10_000
CLOSE_CHECKPOINT_WAIT_MS = 200
MAX_BATCH_ITEMS = 512
MAX_BATCH_BYTES = 64 * 1024 * 1024
IDLE_CHECKPOINT_SECONDS = 1.0
# Background work (search indexing) runs only when the writer is idle: once no work item has
# arrived for BACKGROUND_IDLE_SECONDS (a real lull, not the instant between a commit and the
# callers' next submissions), in slices of at most BACKGROUND_IDLE_ROWS rows that stop after
# the row in hand as soon as a work item is waiting. A burst of deliveries is stored at full
# speed and indexed afterwards. Safety valve: once about BACKGROUND_MAX_DEBT items were
# committed without the background catching up (sustained load, no lull), every batch is
# followed by max(BACKGROUND_BUSY_MIN_ROWS, 2 x batch size) rows of it, without yielding, so
# the backlog shrinks by at least a batch's worth per batch and stays bounded.
BACKGROUND_IDLE_SECONDS = 0.3
BACKGROUND_IDLE_ROWS = 64
BACKGROUND_BUSY_MIN_ROWS = 16
BACKGROUND_MAX_DEBT = 10_000
CHECKPOINT_EVERY_COMMITS = 2000
# The WAL size that wakes the checkpointer thread (see the module docstring).
CHECKPOINT_WAL_BYTES = 32 * 1024 * 1024
CHECKPOINT_PASSES = 3


@dataclass(slots=True)
class WorkItem:
    work: Work
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    size_hint: int = 0
    # filled by the writer
    result: Any = None
    events: list[ChangeEvent] = field(default_factory=list)
    error: BaseException | None = None


_STOP = object()


def _never() -> bool:
    return False


class GroupCommitWriter:
    def __init__(
        self,
        connect: Callable[[], apsw.Connection],
        publish: Callable[[ChangeEvent], None],
        name: str = "store-writer",
        max_batch_items: int = MAX_BATCH_ITEMS,
        background: Background | None = None,
        connect_checkpointer: Callable[[], apsw.Connection] | None = None,
    ) -> None:
        self._connect = connect
        # None: the writer's connection keeps SQLite's own automatic checkpoints.
        self._checkpointer = (
            None if connect_checkpointer is None else Checkpointer(connect_checkpointer, name)
        )
        # Deferrable work (search indexing, see Background), run in its own transaction (see BACKGROUND_*). Its commits use synchronous=NORMAL:
        # losing one to a power cut only means doing it again.
        self._background = background
        # 1 turns group commit off (one transaction per caller): the benchmark's baseline.
        self._max_batch_items = max(1, max_batch_items)
        self._publish = publish
        self._queue: queue.SimpleQueue[WorkItem | object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._closed = False
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        # Counters for stats() and the benchmark.
        self.commits = 0
        self.items = 0
        self.checkpoints = 0

    def start(self) -> None:
        self._thread.start()
        self._started.wait()
        if self._start_error is not None:
            raise self._start_error
        if self._checkpointer is not None:
            self._checkpointer.start()

    def submit(self, work: Work, size_hint: int = 0) -> asyncio.Future[Any]:
        if self._closed:
            raise StoreError("the store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put(WorkItem(work, loop, future, size_hint))
        return future

    async def stop(self) -> None:
        """Finish everything queued, checkpoint, close the connection."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.stop)

    # -- the writer thread ---------------------------------------------------------------
    def _run(self) -> None:
        try:
            conn = self._connect()
            if self._checkpointer is not None:
                self._checkpointer.watch(conn)
        except BaseException as exc:
            self._start_error = exc
            self._started.set()
            return
        self._started.set()
        stopping = False
        commits_since_checkpoint = 0
        debt = 0  # items committed since the background work last caught up (an estimate)
        background_pending = self._background is not None  # work left by an earlier run
        lull = False  # no work item since the last BACKGROUND_IDLE_SECONDS wait ran out
        try:
            while not stopping:
                if not background_pending:
                    timeout = IDLE_CHECKPOINT_SECONDS
                elif lull:
                    timeout = 0.0  # still idle: the next slice right away
                else:
                    timeout = BACKGROUND_IDLE_SECONDS
                try:
                    first = (
                        self._queue.get(timeout=timeout) if timeout else self._queue.get_nowait()
                    )
                except queue.Empty:
                    if background_pending:
                        lull = True
                        background_pending, done = self._run_background(
                            conn, BACKGROUND_IDLE_ROWS, self._work_waiting
                        )
                        debt = max(0, debt - done) if background_pending else 0
                        commits_since_checkpoint += 1
                    elif commits_since_checkpoint and self._checkpoint(conn):
                        commits_since_checkpoint = 0
                    continue
                lull = False
                if first is _STOP:
                    break
                assert isinstance(first, WorkItem)
                batch = [first]
                size = first.size_hint
                while len(batch) < self._max_batch_items and size < MAX_BATCH_BYTES:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stopping = True
                        break
                    assert isinstance(item, WorkItem)
                    batch.append(item)
                    size += item.size_hint
                self._run_batch(conn, batch)
                commits_since_checkpoint += 1
                if self._checkpointer is not None and self._checkpointer.restart_due:
                    self._restart_wal(conn)
                if self._background is not None:
                    background_pending = True
                    debt += len(batch)
                    if debt >= BACKGROUND_MAX_DEBT:
                        rows = max(BACKGROUND_BUSY_MIN_ROWS, 2 * len(batch))
                        background_pending, done = self._run_background(conn, rows, _never)
                        debt = max(0, debt - done) if background_pending else 0
                if commits_since_checkpoint >= CHECKPOINT_EVERY_COMMITS and self._checkpoint(conn):
                    commits_since_checkpoint = 0
        except BaseException:
            # A bug in the loop itself: no caller may wait forever for an answer.
            log.exception("the store writer stopped")
            self._closed = True
            self._fail_queued(StoreError("the store writer stopped"))
            raise
        finally:
            # A last TRUNCATE checkpoint, waiting only briefly for readers: the CLI closing
            # its store next to a busy server must not hang on the server's readers.
            with contextlib.suppress(apsw.Error):
                conn.set_busy_timeout(CLOSE_CHECKPOINT_WAIT_MS)
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.close()

    def _fail_queued(self, error: StoreError) -> None:
        waiting = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, WorkItem):
                waiting.append(item)
        self._fail_all(waiting, error)

    def _work_waiting(self) -> bool:
        return not self._queue.empty()

    def _run_background(
        self, conn: apsw.Connection, max_rows: int, should_yield: Callable[[], bool]
    ) -> tuple[bool, int]:
        """(more left, rows done) of one background step in its own transaction."""
        assert self._background is not None
        try:
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                more, done = self._background(conn, max_rows, should_yield)
                conn.execute("COMMIT")
            except BaseException:
                if not conn.getautocommit():
                    conn.execute("ROLLBACK")
                raise
            return more, done
        except apsw.BusyError:
            return True, 0  # another process holds the write lock: later
        except Exception:
            log.exception("background store work failed")
            return False, 0
        finally:
            conn.execute("PRAGMA synchronous = FULL")

    def _restart_wal(self, conn: apsw.Connection) -> None:
        """Between two batches, once the checkpointer has copied (nearly) all of the WAL:
        a RESTART checkpoint copies the pages committed since and makes the next
        transaction write the WAL from its beginning again. A writer restarts the WAL by
        itself only if, when its transaction begins, every page is already copied, which
        never happens while the checkpointer runs behind a steady stream of commits: the
        WAL would grow without bound. The busy timeout is 0: a reader on an old snapshot
        makes this a PASSIVE pass, and the next pass of the checkpointer asks again."""
        assert self._checkpointer is not None
        self._checkpointer.restart_due = False
        conn.set_busy_timeout(0)
        try:
            conn.execute("PRAGMA wal_checkpoint(RESTART)")
        except apsw.BusyError:
            pass
        except apsw.Error:
            log.exception("checkpoint failed")
        finally:
            conn.set_busy_timeout(BUSY_TIMEOUT_MS)

    def _checkpoint(self, conn: apsw.Connection) -> bool:
        """TRUNCATE checkpoint without waiting for readers; True when the WAL was reset."""
        conn.set_busy_timeout(0)
        try:
            busy, _log_frames, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").get
            self.checkpoints += 1
            return busy == 0
        except apsw.BusyError:
            return False
        except apsw.Error:
            log.exception("checkpoint failed")
            return False
        finally:
            conn.set_busy_timeout(BUSY_TIMEOUT_MS)

    def _run_batch(self, conn: apsw.Connection, batch: list[WorkItem]) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except apsw.Error as exc:
            self._fail_all(batch, StoreError(f"cannot start a write transaction: {exc}"))
            return
        try:
            for item in batch:
                conn.execute("SAVEPOINT item")
                try:
                    item.result, item.events = item.work(conn)
                except BaseException as exc:
                    item.error = exc
                    conn.execute("ROLLBACK TO item")
                conn.execute("RELEASE item")
            conn.execute("COMMIT")
        except BaseException as exc:
            # The commit (or the transaction machinery itself) failed: nothing of this batch
            # is durable, so every caller hears so, even those whose own work went well.
            with contextlib.suppress(apsw.Error):
                if not conn.getautocommit():
                    conn.execute("ROLLBACK")
            self._fail_all(batch, StoreError(f"commit failed: {exc}"))
            return
        self.commits += 1
        self.items += len(batch)
        self._hand_back(batch)

    def _fail_all(self, batch: list[WorkItem], error: StoreError) -> None:
        for item in batch:
            item.error = error
            item.events = []
        self._hand_back(batch)

    def _hand_back(self, batch: list[WorkItem]) -> None:
        """One wake-up per loop and batch (each call_soon_threadsafe writes to the loop's
        self-pipe), keeping the items in commit order."""
        by_loop: dict[asyncio.AbstractEventLoop, list[WorkItem]] = {}
        for item in batch:
            by_loop.setdefault(item.loop, []).append(item)
        for loop, items in by_loop.items():
            # RuntimeError: the caller's loop is closed, nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._settle_all, items)

    def _settle_all(self, items: list[WorkItem]) -> None:
        for item in items:
            self._settle(item)

    def _settle(self, item: WorkItem) -> None:
        """On the caller's loop, after the commit: publish, then wake the caller."""
        if item.error is None:
            for event in item.events:
                self._publish(event)
        if item.future.done():  # the caller was cancelled; its work is committed anyway
            return
        if item.error is not None:
            error = item.error
            if isinstance(error, apsw.Error) and not isinstance(error, StoreError):
                wrapped = StoreError(f"{type(error).__name__}: {error}")
                wrapped.__cause__ = error
                error = wrapped
            item.future.set_exception(error)
        else:
            item.future.set_result(item.result)


class Checkpointer:
    """PASSIVE checkpoints in a thread of their own, woken by the writer's WAL hook (see the
    module docstring). Never waits for a lock: a checkpoint that finds another one running
    (the writer's TRUNCATE, another process's) is simply skipped; the next commit past the
    threshold wakes it again."""

    def __init__(self, connect: Callable[[], apsw.Connection], name: str) -> None:
        self._connect = connect
        self._wanted = threading.Event()
        self._stopping = False
        self._threshold_pages = 0
        self._thread = threading.Thread(target=self._run, name=f"{name}-checkpoint", daemon=True)
        self.checkpoints = 0
        # Set when a pass has copied (nearly) everything: the writer restarts the WAL.
        self.restart_due = False

    def watch(self, writer: apsw.Connection) -> None:
        """Install the WAL hook on the writer's connection (which turns SQLite's automatic
        checkpoint off for it: the hook is what implements that)."""
        page_size = int(writer.execute("PRAGMA page_size").get)
        self._threshold_pages = max(1, CHECKPOINT_WAL_BYTES // page_size)
        writer.set_wal_hook(self._committed)

    def _committed(self, _conn: apsw.Connection, _db: str, pages: int) -> int:
        # Not while the writer's RESTART is due: a pass running then would make it busy.
        if pages >= self._threshold_pages and not self.restart_due and not self._wanted.is_set():
            self._wanted.set()
        return apsw.SQLITE_OK

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        self._wanted.set()
        if self._thread.ident is not None:  # started (not when the writer failed to open)
            self._thread.join()

    def _run(self) -> None:
        conn: apsw.Connection | None = None
        try:
            while True:
                self._wanted.wait()
                if self._stopping:
                    return
                self._wanted.clear()
                try:
                    if conn is None:
                        conn = self._connect()
                    self._checkpoint(conn)
                except apsw.BusyError:
                    pass
                except apsw.Error:
                    log.exception("background checkpoint failed")
        finally:
            if conn is not None:
                conn.close()

    def _checkpoint(self, conn: apsw.Connection) -> None:
        """PASSIVE passes copy the bulk while the writer goes on, then ask the writer for
        the short rest (`restart_due`, see GroupCommitWriter._restart_wal)."""
        for _ in range(CHECKPOINT_PASSES):
            _busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").get
            if frames - copied <= self._threshold_pages // 8:
                break
        self.checkpoints += 1
        self.restart_due = True
