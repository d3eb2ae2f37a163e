"""A compact record of the addresses already met in one import.

A Python ``set`` of 1M strings costs ~100 MB; this open-addressing table keeps a
96-bit BLAKE2b hash of each key in two flat arrays, 12 bytes a slot, 24 MB for 1M
keys (36 MB for a moment while it doubles). Two of a million keys colliding in 95
bits is a ~1e-17 event, so "seen before" is exact in practice and so is the
duplicate count. The first row of each key is not kept: that would cost another
third, and the 150 MB budget for a 1M-row import has no room for it.
"""

from __future__ import annotations

from array import array
from hashlib import blake2b

_MAX_LOAD_TENTHS = 7


class SeenKeys:
    """``add(key)`` is True the first time a key is met, False afterwards."""

    def __init__(self, initial_slots: int = 1 << 14) -> None:
        slots = 1 << max(4, (initial_slots - 1).bit_length())
        self._hi = array("Q", bytes(8 * slots))
        self._lo = array("I", bytes(4 * slots))
        self._mask = slots - 1
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, key: str) -> bool:
        digest = blake2b(key.encode(), digest_size=12).digest()
        # The low bit is forced on so that 0 can mean "empty slot".
        hi = int.from_bytes(digest[:8], "little") | 1
        lo = int.from_bytes(digest[8:], "little")
        his, los, mask = self._hi, self._lo, self._mask
        slot = lo & mask
        while True:
            found = his[slot]
            if found == 0:
                break
            if found == hi and los[slot] == lo:
                return False
            slot = (slot + 1) & mask
        his[slot] = hi
        los[slot] = lo
        self._count += 1
        if self._count * 10 > len(his) * _MAX_LOAD_TENTHS:
            self._grow()
        return True

    def _grow(self) -> None:
        old_hi, old_lo = self._hi, self._lo
        slots = len(old_hi) * 2
        self._hi = his = array("Q", bytes(8 * slots))
        self._lo = los = array("I", bytes(4 * slots))
        self._mask = mask = slots - 1
        for hi, lo in zip(old_hi, old_lo, strict=True):
            if hi:
                slot = lo & mask
                while his[slot]:
                    slot = (slot + 1) & mask
                his[slot] = hi
                los[slot] = lo
