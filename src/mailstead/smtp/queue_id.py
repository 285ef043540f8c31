"""Queue ids: short, unique, sortable by time (ULID-like, 16 characters of Crockford base32).

Ten characters of milliseconds since the epoch, then six of randomness; within one process
ids are strictly increasing (a second id in the same millisecond increments the random
part), so sorting ids sorts messages by arrival.
"""

from __future__ import annotations

import os
import random
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_BITS = 30

_last = (0, 0)
# Uniqueness comes from the clock plus the per-process increment; the random part only
# separates processes, so a seeded PRNG will do (os.urandom per id costs ~50 µs here).
_random = random.Random(os.urandom(16))


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_queue_id(now: float | None = None) -> str:
    global _last
    millis = int((time.time() if now is None else now) * 1000)
    last_millis, last_random = _last
    if millis <= last_millis:
        millis, rand = last_millis, last_random + 1
        if rand >> _RANDOM_BITS:
            millis, rand = millis + 1, _random.getrandbits(_RANDOM_BITS - 1)
    else:
        # One bit of headroom so that increments within a millisecond rarely overflow.
        rand = _random.getrandbits(_RANDOM_BITS - 1)
    _last = (millis, rand)
    return _encode(millis, 10) + _encode(rand, 6)
