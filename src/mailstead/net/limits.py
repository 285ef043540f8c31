"""Connection limits shared by the listeners of one service."""

from __future__ import annotations

from collections import Counter


class ConnectionLimiter:
    """Counts open connections in total and per client address.

    `acquire` says whether a new connection may proceed; every successful acquire must be
    paired with one `release`. Not thread-safe: used from the event loop only.
    """

    def __init__(self, max_total: int, max_per_ip: int) -> None:
        self.max_total = max_total
        self.max_per_ip = max_per_ip
        self._per_ip: Counter[str] = Counter()
        self.total = 0

    def acquire(self, ip: str) -> bool:
        if self.total >= self.max_total or self._per_ip[ip] >= self.max_per_ip:
            return False
        self.total += 1
        self._per_ip[ip] += 1
        return True

    def release(self, ip: str) -> None:
        self.total -= 1
        self._per_ip[ip] -= 1
        if self._per_ip[ip] <= 0:
            del self._per_ip[ip]

    def count(self, ip: str) -> int:
        return self._per_ip.get(ip, 0)
