from __future__ import annotations

from mailstead.auth.passwords import dummy_hash, hash_password, needs_rehash, verify_password
from mailstead.config import AuthConfig

FAST = AuthConfig(argon2_memory_kib=1024, argon2_time_cost=1, argon2_parallelism=1)


def test_hash_and_verify() -> None:
    hashed = hash_password("correct horse", FAST)
    assert hashed.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "correct horsE")
    assert not verify_password(hashed, "")
    assert hash_password("correct horse", FAST) != hashed  # salted


def test_default_parameters_are_the_server_ones() -> None:
    hashed = hash_password("pw")
    assert "$m=19456,t=2,p=1$" in hashed
    assert not needs_rehash(hashed)
    assert needs_rehash(hashed, FAST)


def test_unusable_hashes_never_verify() -> None:
    for stored in ["", "plain", "$argon2id$garbage", "$2b$12$abcdefghijklmnopqrstuv", "!locked"]:
        assert not verify_password(stored, "pw")
        assert needs_rehash(stored, FAST)


def test_unicode_passwords() -> None:
    hashed = hash_password("pässwörd ✓", FAST)
    assert verify_password(hashed, "pässwörd ✓")
    assert not verify_password(hashed, "passwort ✓")


def test_dummy_hash_has_the_configured_cost() -> None:
    assert "$m=1024,t=1,p=1$" in dummy_hash(FAST)
    assert not verify_password(dummy_hash(FAST), "anything")
