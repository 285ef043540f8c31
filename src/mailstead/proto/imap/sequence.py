"""Sequence sets: ``1:4,7,9:*`` and the SEARCHRES ``$`` (RFC 9051 §9 sequence-set, RFC 5182)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

STAR = 0
"""Stands for ``*`` (the largest number in use) inside a range; real numbers start at 1."""

MAX_NUMBER = 0xFFFFFFFF

_SEQ_RE = re.compile(
    rb"(?:[1-9][0-9]{0,9}|\*)(?::(?:[1-9][0-9]{0,9}|\*))?"
    rb"(?:,(?:[1-9][0-9]{0,9}|\*)(?::(?:[1-9][0-9]{0,9}|\*))?)*\Z"
)


@dataclass(frozen=True, slots=True)
class SequenceSet:
    """Ranges as written (inclusive, either end may be ``STAR``), or ``saved`` for ``$``."""

    ranges: tuple[tuple[int, int], ...] = ()
    saved: bool = False

    @classmethod
    def parse(cls, raw: bytes) -> SequenceSet:
        """Parse a sequence set; raise ValueError when it is not one."""
        cached = _PARSED.get(raw)
        if cached is not None:
            return cached
        parsed = cls._parse(raw)
        if len(raw) <= 32:
            # Clients repeat the same few sets (1:*, 1:5); parsed sets are immutable.
            if len(_PARSED) >= 1024:
                _PARSED.clear()
            _PARSED[raw] = parsed
        return parsed

    @classmethod
    def _parse(cls, raw: bytes) -> SequenceSet:
        if raw.isdigit() and raw[0] != 0x30 and len(raw) <= 10:
            number = int(raw)
            if number <= MAX_NUMBER:
                return cls(((number, number),))
        if raw == b"$":
            return SAVED
        # One range ("1:*", "5:9"), the usual shape: no regex, no list.
        first, sep, last = raw.partition(b":")
        if sep and _is_number(first) and (last == b"*" or _is_number(last)):
            lo = int(first)
            hi = STAR if last == b"*" else int(last)
            if lo <= MAX_NUMBER and hi <= MAX_NUMBER:
                return cls(((lo, hi),))
        if not _SEQ_RE.match(raw):
            raise ValueError("invalid sequence set")
        ranges: list[tuple[int, int]] = []
        for item in raw.split(b","):
            first, sep, last = item.partition(b":")
            lo = STAR if first == b"*" else int(first)
            hi = lo if not sep else (STAR if last == b"*" else int(last))
            if lo > MAX_NUMBER or hi > MAX_NUMBER:
                raise ValueError("sequence number out of range")
            ranges.append((lo, hi))
        return cls(tuple(ranges))

    @classmethod
    def of(cls, numbers: Iterable[int]) -> SequenceSet:
        """The compact set of the given numbers (for ESEARCH ALL, VANISHED, COPYUID)."""
        ranges: list[tuple[int, int]] = []
        for number in sorted(set(numbers)):
            if ranges and ranges[-1][1] == number - 1:
                ranges[-1] = (ranges[-1][0], number)
            else:
                ranges.append((number, number))
        return cls(tuple(ranges))

    def __bytes__(self) -> bytes:
        if self.saved:
            return b"$"
        parts = []
        for lo, hi in self.ranges:
            first = b"*" if lo == STAR else b"%d" % lo
            if lo == hi:
                parts.append(first)
            else:
                parts.append(first + b":" + (b"*" if hi == STAR else b"%d" % hi))
        return b",".join(parts)

    def __str__(self) -> str:
        return bytes(self).decode("ascii")

    def resolve(self, largest: int) -> list[tuple[int, int]]:
        """Sorted, merged, inclusive ranges with ``*`` replaced by ``largest``.

        ``$`` must be resolved by the server (it knows the saved result); it raises here.
        """
        if self.saved:
            raise ValueError("$ refers to the saved search result")
        spans = []
        for lo, hi in self.ranges:
            lo = lo or largest
            hi = hi or largest
            if lo > hi:
                lo, hi = hi, lo
            if hi >= 1:
                spans.append((max(lo, 1), hi))
        spans.sort()
        merged: list[tuple[int, int]] = []
        for lo, hi in spans:
            if merged and lo <= merged[-1][1] + 1:
                if hi > merged[-1][1]:
                    merged[-1] = (merged[-1][0], hi)
            else:
                merged.append((lo, hi))
        return merged

    def contains(self, number: int, largest: int) -> bool:
        return any(lo <= number <= hi for lo, hi in self.resolve(largest))

    def iter(self, largest: int, *, clip: bool = True) -> Iterator[int]:
        """Each number in the set, ascending; ``clip`` drops those above ``largest``."""
        for lo, hi in self.resolve(largest):
            stop = min(hi, largest) if clip else hi
            yield from range(lo, stop + 1)


def _is_number(raw: bytes) -> bool:
    """A sequence number as the grammar has it: 1 to 10 ASCII digits, no leading zero."""
    return 0 < len(raw) <= 10 and raw.isdigit() and raw[0] != 0x30


SAVED = SequenceSet((), saved=True)
_PARSED: dict[bytes, SequenceSet] = {}
