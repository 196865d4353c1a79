"""Randomness, behind one door, so a seed can replay a simulated run."""

from __future__ import annotations

import os
import random
import uuid


class Rng:
    """A seeded random source; the real one is seeded from the OS."""

    __slots__ = ("_random",)

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed if seed is not None else int.from_bytes(os.urandom(8)))

    def randint(self, lo: int, hi: int) -> int:
        return self._random.randint(lo, hi)

    def random(self) -> float:
        return self._random.random()

    def uuid4_bytes(self) -> bytes:
        """16 random bytes shaped as a version-4 UUID (topic ids, cluster ids)."""
        return uuid.UUID(int=self._random.getrandbits(128), version=4).bytes


SYSTEM_RNG = Rng()
