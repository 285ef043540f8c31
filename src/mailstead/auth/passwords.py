"""Password hashes: argon2id through argon2-cffi.

Parameters: m=19 MiB, t=2, p=1 by default (`AuthConfig.argon2_*`, the OWASP minimum for
argon2id). Measured on this 2-core machine one verification costs 26-40 ms; argon2-cffi's
own defaults (m=64 MiB, t=3, p=4) cost 140-165 ms, which would cap a server at about 9
logins per second on two cores and make a login flood a cheap denial of service. The
parameters are stored in each hash, so changing them later only affects new hashes;
`needs_rehash` tells the Authenticator to upgrade a hash after a successful login.

Functions here are synchronous and CPU-bound: call them off the event loop (the
Authenticator does).
"""

from __future__ import annotations

import functools

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from mailstead.config import AuthConfig

_DEFAULTS = AuthConfig()


@functools.lru_cache(maxsize=8)
def _hasher(memory_kib: int, time_cost: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(
        time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
    )


def hasher_for(config: AuthConfig | None = None) -> PasswordHasher:
    config = config or _DEFAULTS
    return _hasher(config.argon2_memory_kib, config.argon2_time_cost, config.argon2_parallelism)


def hash_password(password: str, config: AuthConfig | None = None) -> str:
    """An argon2id hash ("$argon2id$v=19$m=...") of `password` with a random salt."""
    return hasher_for(config).hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when `password` matches; False for a mismatch or an unusable stored hash.
    The parameters are read from the hash itself."""
    try:
        return _DEFAULT_VERIFIER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    except ValueError:  # malformed parameters inside an otherwise well-formed hash
        return False


def needs_rehash(password_hash: str, config: AuthConfig | None = None) -> bool:
    """True when the hash was made with other parameters than `config`'s (or is not ours)."""
    try:
        return hasher_for(config).check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return True


@functools.lru_cache(maxsize=4)
def dummy_hash(config: AuthConfig | None = None) -> str:
    """A hash of a random password with `config`'s parameters: verifying against it costs
    what a real verification costs, so unknown users take as long as wrong passwords."""
    import secrets

    return hash_password(secrets.token_urlsafe(24), config)


# Verification reads the parameters from the hash; any PasswordHasher does.
_DEFAULT_VERIFIER = PasswordHasher(type=Type.ID)
