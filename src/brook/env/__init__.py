"""The only doors to the outside world: clock, randomness, durability (and later network).

Production code reaches time and randomness through these objects, and makes files durable
through ``brook.env.fs``, so tests can swap in simulated or recording ones. Knows nothing of
Kafka.
"""

from brook.env.clock import SYSTEM_CLOCK, Clock, LoopTimers, SystemClock, TimerHandle
from brook.env.rng import SYSTEM_RNG, Rng

__all__ = ["SYSTEM_CLOCK", "SYSTEM_RNG", "Clock", "LoopTimers", "Rng", "SystemClock",
           "TimerHandle"]
