from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from mailstead.auth import passwords
from mailstead.auth.authenticator import Authenticator, throttle_key_for_address
from mailstead.config import AuthConfig
from mailstead.store import Store, open_store

FAST = AuthConfig(
    argon2_memory_kib=1024, argon2_time_cost=1, argon2_parallelism=1,
    max_failures=3, failure_window=60.0, failure_delay=2.0, verify_cache_seconds=30.0,
)
IP = "192.0.2.10"


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_store(f"sqlite://{tmp_path / 'mail.db'}")
    await opened.add_domain("example.test")
    await opened.add_account("alice@example.test", passwords.hash_password("right", FAST))
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def auth(store: Store, fake_time: FakeTime) -> Iterator[Authenticator]:
    authenticator = Authenticator(store, FAST, clock=fake_time.clock, sleep=fake_time.sleep)
    yield authenticator
    authenticator.close()


async def test_right_password(auth: Authenticator) -> None:
    account = await auth.authenticate("alice@example.test", "right", IP)
    assert account is not None and account.address == "alice@example.test"
    assert await auth.authenticate("ALICE@Example.Test", "right", IP) is not None


async def test_wrong_password_and_unknown_user(auth: Authenticator) -> None:
    assert await auth.authenticate("alice@example.test", "wrong", IP) is None
    assert await auth.authenticate("nobody@example.test", "right", IP) is None
    assert await auth.authenticate("not an address", "x", IP) is None
    assert await auth.authenticate("alice@example.test", "", IP) is None


async def test_unknown_users_cost_a_verification(auth: Authenticator) -> None:
    before = auth.verifications
    assert await auth.authenticate("nobody@example.test", "pw", IP) is None
    assert auth.verifications == before + 1


async def test_disabled_account_is_refused(auth: Authenticator, store: Store) -> None:
    await store.set_enabled("alice@example.test", False)
    assert await auth.authenticate("alice@example.test", "right", IP) is None


async def test_successes_are_cached(auth: Authenticator, fake_time: FakeTime) -> None:
    assert await auth.authenticate("alice@example.test", "right", IP) is not None
    verified = auth.verifications
    assert await auth.authenticate("alice@example.test", "right", "192.0.2.99") is not None
    assert auth.verifications == verified and auth.cache_hits == 1
    # a wrong password is never answered from the cache
    assert await auth.authenticate("alice@example.test", "wrong", IP) is None
    assert auth.verifications == verified + 1
    fake_time.now += FAST.verify_cache_seconds + 1
    assert await auth.authenticate("alice@example.test", "right", IP) is not None
    assert auth.verifications == verified + 2


async def test_password_change_invalidates_the_cache(auth: Authenticator, store: Store) -> None:
    assert await auth.authenticate("alice@example.test", "right", IP) is not None
    await store.set_password("alice@example.test", passwords.hash_password("new", FAST))
    assert await auth.authenticate("alice@example.test", "right", IP) is None
    assert await auth.authenticate("alice@example.test", "new", IP) is not None


async def test_failures_throttle_the_address(auth: Authenticator, fake_time: FakeTime) -> None:
    for i in range(FAST.max_failures):
        assert not auth.is_throttled(IP, f"user{i}@example.test")
        assert await auth.authenticate(f"user{i}@example.test", "x", IP) is None
    assert auth.is_throttled(IP, "alice@example.test")
    verified = auth.verifications
    # even the right password is refused, after a delay, without verifying
    assert await auth.authenticate("alice@example.test", "right", IP) is None
    assert fake_time.slept == [FAST.failure_delay]
    assert auth.verifications == verified
    # another address may still log in
    assert not auth.is_throttled("192.0.2.11", "alice@example.test")
    assert await auth.authenticate("alice@example.test", "right", "192.0.2.11") is not None
    # the window slides
    fake_time.now += FAST.failure_window + 1
    assert not auth.is_throttled(IP, "alice@example.test")
    assert await auth.authenticate("alice@example.test", "right", IP) is not None


async def test_failures_throttle_the_user(auth: Authenticator, fake_time: FakeTime) -> None:
    for i in range(FAST.max_failures):
        assert await auth.authenticate("alice@example.test", "guess", f"198.51.100.{i}") is None
    assert auth.is_throttled("203.0.113.1", "Alice@example.test")
    assert await auth.authenticate("alice@example.test", "right", "203.0.113.1") is None
    assert fake_time.slept == [FAST.failure_delay]


async def test_failures_count_once_per_account_whatever_the_spelling(
    auth: Authenticator,
) -> None:
    spellings = ["jörg@bücher.test", "JÖRG@xn--bcher-kva.test", " jörg@BÜCHER.test"]
    for i in range(FAST.max_failures):
        await auth.authenticate(spellings[i % len(spellings)], "guess", f"198.51.100.{i}")
    for spelling in spellings:
        assert auth.is_throttled("203.0.113.1", spelling)


async def test_success_clears_the_user_count(auth: Authenticator) -> None:
    for _ in range(FAST.max_failures - 1):
        await auth.authenticate("alice@example.test", "guess", IP)
    assert await auth.authenticate("alice@example.test", "right", "198.51.100.7") is not None
    await auth.authenticate("alice@example.test", "guess", "198.51.100.8")
    assert not auth.is_throttled("198.51.100.9", "alice@example.test")


def test_ipv6_addresses_are_throttled_per_64() -> None:
    assert throttle_key_for_address("2001:db8:1:2::1") == throttle_key_for_address(
        "2001:db8:1:2:ffff::9"
    )
    assert throttle_key_for_address("2001:db8:1:3::1") != throttle_key_for_address("2001:db8:1:2::1")
    assert throttle_key_for_address("::ffff:192.0.2.1") == "192.0.2.1"
    assert throttle_key_for_address("garbage") == "garbage"


async def test_verifications_are_capped(store: Store, fake_time: FakeTime) -> None:
    config = replace(FAST, max_concurrent_verifications=2, max_failures=1000)
    auth = Authenticator(store, config, clock=fake_time.clock, sleep=fake_time.sleep)
    running = 0
    peak = 0
    original = passwords.verify_password

    def counting_verify(stored: str, password: str) -> bool:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        try:
            return original(stored, password)
        finally:
            running -= 1

    passwords.verify_password = counting_verify  # type: ignore[assignment]
    try:
        results = await asyncio.gather(
            *(auth.authenticate("alice@example.test", f"wrong{i}", IP) for i in range(12))
        )
    finally:
        passwords.verify_password = original  # type: ignore[assignment]
        auth.close()
    assert results == [None] * 12
    assert 1 <= peak <= 2


async def test_old_hashes_are_upgraded(store: Store, auth: Authenticator) -> None:
    weaker = replace(FAST, argon2_memory_kib=512)
    await store.set_password("alice@example.test", passwords.hash_password("right", weaker))
    assert await auth.authenticate("alice@example.test", "right", IP) is not None
    account = await store.get_account("alice@example.test")
    assert account is not None and "$m=1024," in account.password_hash
    assert passwords.verify_password(account.password_hash, "right")


async def test_event_loop_stays_responsive(store: Store) -> None:
    slow = replace(FAST, argon2_memory_kib=19_456, argon2_time_cost=2, max_failures=1000)
    await store.set_password("alice@example.test", passwords.hash_password("right", slow))
    auth = Authenticator(store, slow)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    try:
        await asyncio.gather(*(auth.authenticate("alice@example.test", "x", IP) for _ in range(4)))
    finally:
        task.cancel()
        auth.close()
    assert ticks > 4  # the loop kept running while argon2 worked in threads


async def test_cached_success_does_not_outlive_a_disable_or_removal(
    auth: Authenticator, store: Store
) -> None:
    assert await auth.authenticate("alice@example.test", "right", IP) is not None
    await store.set_enabled("alice@example.test", False)
    assert await auth.authenticate("alice@example.test", "right", IP) is None
    await store.set_enabled("alice@example.test", True)
    assert await auth.authenticate("alice@example.test", "right", IP) is not None
    await store.remove_account("alice@example.test")
    assert await auth.authenticate("alice@example.test", "right", IP) is None
