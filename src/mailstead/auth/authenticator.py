"""Checking a login: the one place SMTP AUTH, POP3 and IMAP send username and password.

* Verification (argon2id, tens of milliseconds of CPU) runs in a small thread pool under a
  semaphore of `max_concurrent_verifications`, never on the event loop: a login flood then
  costs at most that many cores and queues instead of freezing every session.
* Successes are remembered for `verify_cache_seconds`, keyed by an HMAC (with a random
  per-process key) of user, password and the stored hash: clients that reconnect every
  minute (POP3 pollers, phones) do not pay for argon2 each time, the cache never holds a
  password or anything an offline attacker could test guesses against, and a password
  change (a new stored hash) invalidates it at once.
* Failures are counted per client address (IPv6 by /64, since one host owns a whole /64)
  and per username. After `max_failures` within `failure_window` seconds, each further
  attempt is delayed `failure_delay` seconds and refused without verifying — so a throttled
  attacker burns neither our CPU nor the victim's password. A success clears the
  username's count, not the address's (else one known account would unlock guessing).
* Unknown and disabled users are verified against a dummy hash of the same cost, so timing
  does not reveal which accounts exist.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from mailstead.auth import passwords
from mailstead.config import AuthConfig
from mailstead.store import names
from mailstead.store.base import Account, InvalidName, Store, StoreError

log = logging.getLogger(__name__)

# Bounds on the bookkeeping, so a spray of random usernames or addresses cannot grow memory.
MAX_TRACKED_KEYS = 100_000
MAX_CACHED_SUCCESSES = 100_000


def throttle_key_for_address(remote_ip: str) -> str:
    try:
        ip = ipaddress.ip_address(remote_ip.split("%", 1)[0])
    except ValueError:
        return remote_ip
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class FailureCounter:
    """Timestamps of recent failures per key, within a sliding window."""

    def __init__(self, window: float, clock: Callable[[], float]) -> None:
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def count(self, key: str) -> int:
        failures = self._failures.get(key)
        if not failures:
            return 0
        horizon = self._clock() - self.window
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return 0
        return len(failures)

    def add(self, key: str, limit: int) -> None:
        failures = self._failures.pop(key, None) or deque(maxlen=max(limit, 1) * 4)
        failures.append(self._clock())
        self._failures[key] = failures  # re-inserted: dict order is least recently failed
        while len(self._failures) > MAX_TRACKED_KEYS:
            del self._failures[next(iter(self._failures))]

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)


class Authenticator:
    def __init__(
        self,
        store: Store,
        config: AuthConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.store = store
        self.config = config or AuthConfig()
        self._clock = clock
        self._sleep = sleep
        workers = max(1, self.config.max_concurrent_verifications)
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="argon2")
        self._semaphore = asyncio.Semaphore(workers)
        self._cache_key = os.urandom(32)
        self._successes: dict[bytes, float] = {}  # HMAC -> expiry (clock time)
        self._by_address = FailureCounter(self.config.failure_window, clock)
        self._by_user = FailureCounter(self.config.failure_window, clock)
        self._dummy_hash: str | None = None
        # Counters for tests, logs and the benchmark.
        self.verifications = 0
        self.cache_hits = 0

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- throttling ----------------------------------------------------------------------
    def is_throttled(self, remote_ip: str, username: str) -> bool:
        limit = self.config.max_failures
        return (
            self._by_address.count(throttle_key_for_address(remote_ip)) >= limit
            or self._by_user.count(_username_key(username)) >= limit
        )

    def _record_failure(self, remote_ip: str, username: str) -> None:
        limit = self.config.max_failures
        self._by_address.add(throttle_key_for_address(remote_ip), limit)
        self._by_user.add(_username_key(username), limit)

    # -- the check -----------------------------------------------------------------------
    async def authenticate(self, username: str, password: str, remote_ip: str) -> Account | None:
        """The account when `password` is right and the account enabled, else None.
        Never raises for bad input; a store failure propagates as StoreError."""
        if self.is_throttled(remote_ip, username):
            log.info("authentication throttled for %r from %s", username, remote_ip)
            await self._sleep(self.config.failure_delay)
            return None
        account: Account | None = None
        try:
            account = await self.store.get_account(username)
        except InvalidName:
            account = None
        if account is None or not account.enabled or not password:
            await self._verify(await self._get_dummy_hash(), password or "-")
            self._record_failure(remote_ip, username)
            return None
        cache_key = self._success_key(account, password)
        expiry = self._successes.get(cache_key)
        if expiry is not None and expiry > self._clock():
            self.cache_hits += 1
            self._by_user.clear(_username_key(username))
            return account
        if not await self._verify(account.password_hash, password):
            self._successes.pop(cache_key, None)
            self._record_failure(remote_ip, username)
            return None
        self._remember(cache_key)
        self._by_user.clear(_username_key(username))
        await self._maybe_rehash(account, password)
        return account

    async def _verify(self, password_hash: str, password: str) -> bool:
        loop = asyncio.get_running_loop()
        async with self._semaphore:
            self.verifications += 1
            return await loop.run_in_executor(
                self._executor, passwords.verify_password, password_hash, password
            )

    async def _get_dummy_hash(self) -> str:
        if self._dummy_hash is None:
            loop = asyncio.get_running_loop()
            self._dummy_hash = await loop.run_in_executor(
                self._executor, passwords.dummy_hash, self.config
            )
        return self._dummy_hash

    def _success_key(self, account: Account, password: str) -> bytes:
        message = b"\0".join(
            (account.address.encode(), password.encode("utf-8", "surrogatepass"),
             account.password_hash.encode())
        )
        return hmac.new(self._cache_key, message, hashlib.sha256).digest()

    def _remember(self, cache_key: bytes) -> None:
        if self.config.verify_cache_seconds <= 0:
            return
        now = self._clock()
        self._successes.pop(cache_key, None)
        self._successes[cache_key] = now + self.config.verify_cache_seconds
        # Oldest first (insertion order): drop expired entries and keep the cache bounded.
        while self._successes:
            oldest_key = next(iter(self._successes))
            if self._successes[oldest_key] > now and len(self._successes) <= MAX_CACHED_SUCCESSES:
                break
            del self._successes[oldest_key]

    async def _maybe_rehash(self, account: Account, password: str) -> None:
        """Upgrade a hash made with older parameters, now that we know the password."""
        if not passwords.needs_rehash(account.password_hash, self.config):
            return
        loop = asyncio.get_running_loop()
        try:
            async with self._semaphore:
                new_hash = await loop.run_in_executor(
                    self._executor, passwords.hash_password, password, self.config
                )
            await self.store.set_password(account.address, new_hash)
        except StoreError:  # the login itself succeeded; try again next time
            log.warning("could not upgrade the password hash of %s", account.address)


def _username_key(username: str) -> str:
    """One throttling key per account, whatever the spelling (case, U-label or A-label
    domain): the store's own normalisation, or the lower-cased text when it is no address."""
    try:
        return names.normalize_address(username)
    except InvalidName:
        return username.strip().lower()
