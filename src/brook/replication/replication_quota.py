"""Replication throttles: Kafka's ``ReplicationQuotaManager``, one for each side of a broker.

An operator moving partitions (``kafka-reassign-partitions.sh --throttle``) keeps the copy
from saturating the network with two kinds of settings:

* the **rates**, dynamic broker configs in bytes per second: ``leader.replication.throttled.rate``
  (what this broker may send to throttled followers) and ``follower.replication.throttled.rate``
  (what it may receive for throttled partitions). Each comes from this broker's own entry,
  else the cluster default (``--entity-default``, the broker named ""), else unthrottled
  (Long.MAX), as Kafka's ``BrokerConfigHandler`` resolves them; ``apply_image`` reads them
  from every metadata image, so a change or a deletion takes effect at once;
* the **replicas**, topic configs ``leader.replication.throttled.replicas`` and
  ``follower.replication.throttled.replicas``: ``partition:broker`` pairs or ``*``. Like
  Kafka's ``TopicConfigHandler``, a broker keeps the pairs naming *itself*: on the leader list
  the brokers that send (a reassignment names the current replicas), on the follower list the
  brokers that receive (the replicas being added).

Kafka's rule, kept here: a throttle slows only a replica that is catching up. The leader
sends no records for a throttled partition to a follower outside the ISR while its quota is
exceeded (``should_leader_throttle``); a follower outside the ISR leaves a throttled
partition out of its fetch while its quota is exceeded (``should_follower_throttle``). The
bytes of every throttled partition are recorded, in or out of the ISR, so the rate measures
all the replication traffic the operator asked to bound.

The rate is Kafka's ``SimpleRate`` over a ``SampledStat``: ``replication.quota.window.num``
samples (11) of ``replication.quota.window.size.seconds`` (1 s); the rate is the sum of the
live samples over the time since the oldest began, and never over less than one window, so a
first burst is not measured over a few milliseconds. A sample older than all the windows
together is reset before measuring. The quota is exceeded while the rate is above the bound.
Time is the broker's monotonic clock. Event-loop thread only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Final

from brook.config.broker import BROKER_CONFIGS
from brook.config.defs import LONG_MAX
from brook.env import Clock
from brook.metadata.image import MetadataImage
from brook.replication.partition import Partition

__all__ = [
    "ALL_PARTITIONS",
    "FOLLOWER_RATE",
    "LEADER_RATE",
    "ReplicationQuota",
    "ReplicationQuotas",
    "SampledRate",
    "should_follower_throttle",
    "should_leader_throttle",
    "throttled_partitions",
]

log = logging.getLogger(__name__)

LEADER_RATE: Final = "leader.replication.throttled.rate"
FOLLOWER_RATE: Final = "follower.replication.throttled.rate"
UNTHROTTLED: Final = LONG_MAX
ALL_PARTITIONS: Final[frozenset[int]] = frozenset({-1})
"""``*``: every partition of the topic (Kafka's ``ALL_REPLICAS``)."""
_PARSED_CACHE_ITEMS = 1_000_000
"""Pairs kept parsed (and their lists kept alive) before the cache starts over: topic configs
replaced many times must not pin every list they ever held."""


class SampledRate:
    """Bytes per second over ``num_samples`` windows of ``window_s`` seconds each."""

    __slots__ = ("_current", "_num_samples", "_starts", "_values", "_window_s")

    def __init__(self, num_samples: int, window_s: float) -> None:
        self._num_samples = max(num_samples, 1)
        self._window_s = max(window_s, 1e-3)
        self._starts: list[float] = []
        self._values: list[float] = []
        self._current = 0

    def record(self, value: float, now: float) -> None:
        if not self._starts:
            self._starts.append(now)
            self._values.append(0.0)
        elif now - self._starts[self._current] >= self._window_s:
            self._advance(now)
        self._values[self._current] += value

    def _advance(self, now: float) -> None:
        self._current = (self._current + 1) % self._num_samples
        if self._current >= len(self._starts):
            self._starts.append(now)
            self._values.append(0.0)
        else:
            self._starts[self._current] = now
            self._values[self._current] = 0.0

    def _purge(self, now: float) -> None:
        expiry = self._num_samples * self._window_s
        starts, values = self._starts, self._values
        for i, start in enumerate(starts):
            if now - start >= expiry:
                starts[i] = now
                values[i] = 0.0

    def _total_and_age(self, now: float) -> tuple[float, float]:
        """The live samples' sum, and the time since the oldest of them began."""
        self._purge(now)
        if not self._starts:
            return 0.0, 0.0
        return sum(self._values), now - min(self._starts)

    def measure(self, now: float) -> float:
        total, age = self._total_and_age(now)
        return total / max(age, self._window_s)

    def seconds_until_at_most(self, bound: float, now: float) -> float:
        """How long, with nothing more recorded, until the rate is at most ``bound``: until
        the time since the oldest sample reaches ``total / bound`` (samples expiring on the
        way can only make it sooner, so this is an upper bound). 0 when it already is."""
        total, age = self._total_and_age(now)
        if total <= bound * max(age, self._window_s):
            return 0.0
        if bound <= 0:
            return self._num_samples * self._window_s  # until every sample has expired
        return min(total / bound - age, self._num_samples * self._window_s)


def throttled_partitions(replicas: tuple[str, ...], broker_id: int) -> frozenset[int]:
    """The partitions a ``partition:broker`` list (already validated by the topic config's
    validator) throttles on ``broker_id``; ``ALL_PARTITIONS`` for ``*``."""
    if replicas == ("*",):
        return ALL_PARTITIONS
    out = set()
    for item in replicas:
        partition, _, broker = item.partition(":")
        try:
            if int(broker) == broker_id:
                out.add(int(partition))
        except ValueError:  # the validator keeps these out of the image; skip, never crash
            continue
    return frozenset(out)


class ReplicationQuota:
    """One side's quota on this broker: its bound, the partitions it throttles (from each
    partition's topic config, as ``ReplicaManager`` keeps it current) and its rate."""

    __slots__ = ("_broker_id", "_clock", "_field", "_parsed", "_parsed_items", "bound", "name",
                 "rate")

    def __init__(self, name: str, broker_id: int, clock: Clock, num_samples: int = 11,
                 window_s: float = 1.0) -> None:
        if name not in ("leader", "follower"):
            raise ValueError(f"no {name} replication quota")
        self.name = name
        self._field = f"{name}_replication_throttled_replicas"
        self._broker_id = broker_id
        self._clock = clock
        self.bound = UNTHROTTLED
        """Bytes per second; ``UNTHROTTLED`` (Long.MAX) when no rate is configured."""
        self.rate = SampledRate(num_samples, window_s)
        self._parsed: dict[int, tuple[tuple[str, ...], frozenset[int]]] = {}
        """Parsed lists by the identity of the config's tuple (kept alive here, so the id is
        not reused): a list naming thousands of replicas is not hashed on every fetch."""
        self._parsed_items = 0

    def update_bound(self, bound: int) -> bool:
        """Set the rate limit; True when it changed."""
        if bound == self.bound:
            return False
        log.info("%s.replication.throttled.rate on broker %d: %s", self.name, self._broker_id,
                 "unthrottled" if bound >= UNTHROTTLED else f"{bound} bytes/s")
        self.bound = bound
        return True

    def is_throttled(self, part: Partition) -> bool:
        """Whether the topic's throttled-replicas list names this partition on this broker."""
        replicas: tuple[str, ...] = getattr(part.log.config, self._field)
        if not replicas:
            return False
        entry = self._parsed.get(id(replicas))
        if entry is None or entry[0] is not replicas:
            self._parsed_items += len(replicas)
            if self._parsed_items > _PARSED_CACHE_ITEMS:
                self._parsed.clear()
                self._parsed_items = len(replicas)
            entry = self._parsed[id(replicas)] = (
                replicas, throttled_partitions(replicas, self._broker_id))
        parsed = entry[1]
        return parsed is ALL_PARTITIONS or part.tp.partition in parsed

    def is_quota_exceeded(self) -> bool:
        if self.bound >= UNTHROTTLED:
            return False
        return self.rate.measure(self._clock.monotonic()) > self.bound

    def record(self, nbytes: int) -> None:
        """Count bytes sent (leader) or received (follower) for throttled partitions, even
        past the bound: what was sent was sent."""
        self.rate.record(nbytes, self._clock.monotonic())

    def seconds_until_within(self) -> float:
        """How long until the quota is no longer exceeded, if nothing more is recorded."""
        if self.bound >= UNTHROTTLED:
            return 0.0
        return self.rate.seconds_until_at_most(self.bound, self._clock.monotonic())


def should_leader_throttle(quota: ReplicationQuota, part: Partition, replica_id: int) -> bool:
    """Kafka's ``shouldLeaderThrottle``: send no records to ``replica_id`` now."""
    return (replica_id not in part.isr and quota.is_throttled(part)
            and quota.is_quota_exceeded())


def should_follower_throttle(quota: ReplicationQuota, part: Partition) -> bool:
    """Kafka's ``shouldFollowerThrottle``: leave the partition out of this fetch. A follower
    in the ISR is never held back (it would fall out of it, and acks=all would wait on it)."""
    return (part.node_id not in part.isr and quota.is_throttled(part)
            and quota.is_quota_exceeded())


class ReplicationQuotas:
    """The broker's two quotas, their rates following the metadata image."""

    __slots__ = ("follower", "leader", "node_id")

    def __init__(self, node_id: int, clock: Clock, props: Mapping[str, str]) -> None:
        samples = BROKER_CONFIGS.get_int(props, "replication.quota.window.num")
        window_s = BROKER_CONFIGS.get_int(props, "replication.quota.window.size.seconds")
        self.node_id = node_id
        self.leader = ReplicationQuota("leader", node_id, clock, samples, window_s)
        self.follower = ReplicationQuota("follower", node_id, clock, samples, window_s)

    def apply_image(self, image: MetadataImage) -> bool:
        """Adopt the rates the image holds; True when either changed."""
        own = image.configs.broker_config(str(self.node_id))
        default = image.configs.broker_config("")
        changed = self.leader.update_bound(_rate(LEADER_RATE, own, default))
        return self.follower.update_bound(_rate(FOLLOWER_RATE, own, default)) or changed


def _rate(name: str, own: Mapping[str, str], default: Mapping[str, str]) -> int:
    for layer in (own, default):
        raw = layer.get(name)
        if raw is None:
            continue
        try:
            value = int(raw.strip())
        except ValueError:  # the controller validates; a foreign record must not crash us
            log.error("ignoring %s=%r: not a number of bytes per second", name, raw)
            continue
        if value >= 0:
            return min(value, UNTHROTTLED)
    return UNTHROTTLED
